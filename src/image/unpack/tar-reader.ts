/**
 * A streaming tar reader: ustar, GNU (long names, base-256 numbers) and PAX
 * (including SCHILY.xattr records), fed chunk by chunk and calling back
 * synchronously for each entry and each piece of its content.
 *
 * Why not the `tar` package's parser: it drops xattr records, collects PAX
 * headers as text (binary xattr values and names that are not UTF-8 come out
 * mangled), cuts PAX names at a NUL instead of letting us refuse them, and
 * treats a bad checksum as a warning. Layer extraction needs all of these
 * exact, and the format is small.
 */

import { parseTime, type Timestamp } from './times';

export type EntryKind = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'dir' | 'fifo';

export interface TarEntry {
  kind: EntryKind;
  /** The name as bytes (one char per byte, latin1); PAX and GNU long names applied. */
  path: string;
  /** Symlink or hardlink target, also as bytes. */
  linkpath: string;
  /** Content bytes (for files; other kinds may carry some, which is skipped). */
  size: number;
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** To the nanosecond when a PAX record says so. */
  mtime: Timestamp;
  /** From a PAX record only. */
  atime?: Timestamp;
  devmajor: number;
  devminor: number;
  /** Extended attributes from SCHILY.xattr.* (and LIBARCHIVE.xattr.*) PAX records; names as bytes. */
  xattrs: [name: string, value: Buffer][];
  /** Offset of the entry's header in the uncompressed stream, for messages. */
  offset: number;
}

export interface EntrySink {
  write(chunk: Buffer): void;
  end(): void;
}

export interface TarVisitor {
  /** Returns where the content goes, or undefined to skip it. */
  entry(e: TarEntry): EntrySink | undefined;
  /** Something in the archive that was ignored on purpose (global PAX headers, volume labels). */
  note?(message: string): void;
}

/** The archive is not a well-formed tar stream. */
export class TarFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    /** Well-formed, but of a kind nook does not extract (sparse files, unknown entry types). */
    readonly unsupported = false,
  ) {
    super(message);
  }
}

const BLOCK = 512;
/** PAX headers may hold xattrs (up to 64 KiB each); anything much larger is not a real header. */
const MAX_PAX = 8 << 20;
const MAX_LONGNAME = 1 << 20;

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: Timestamp;
  atime?: Timestamp;
  xattrs: [string, Buffer][];
}

type State = 'header' | 'body' | 'meta' | 'skip' | 'end';

export class TarReader {
  private state: State = 'header';
  /** Start of a header split across chunks. */
  private carry?: Buffer;
  /** Absolute offset of the next byte to be processed. */
  private pos = 0;
  private remaining = 0;
  private padding = 0;
  private sink?: EntrySink;
  private metaType = '';
  private metaOffset = 0;
  private metaParts: Buffer[] = [];
  private pending: Pending = { xattrs: [] };
  /** Whether an extended header is waiting for its entry. */
  private hasPending = false;
  private headers = 0;

  constructor(private readonly visitor: TarVisitor) {}

  /** Whether the end-of-archive block has been seen (what follows it is ignored). */
  get ended(): boolean {
    return this.state === 'end';
  }

  push(input: Buffer): void {
    let chunk = input;
    if (this.carry) {
      chunk = Buffer.concat([this.carry, input]);
      this.pos -= this.carry.length;
      this.carry = undefined;
    }
    let at = 0;
    while (at < chunk.length) {
      const avail = chunk.length - at;
      switch (this.state) {
        case 'end':
          this.pos += avail;
          return;
        case 'header': {
          if (avail < BLOCK) {
            this.carry = Buffer.from(chunk.subarray(at));
            this.pos += avail;
            return;
          }
          const offset = this.pos;
          at += BLOCK;
          this.pos += BLOCK;
          this.header(chunk.subarray(at - BLOCK, at), offset);
          break;
        }
        case 'body': {
          const n = Math.min(avail, this.remaining);
          if (n > 0) this.sink!.write(chunk.subarray(at, at + n));
          at += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            const sink = this.sink!;
            this.sink = undefined;
            this.afterContent();
            sink.end();
          }
          break;
        }
        case 'meta': {
          const n = Math.min(avail, this.remaining);
          this.metaParts.push(Buffer.from(chunk.subarray(at, at + n)));
          at += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.afterContent();
            this.meta(Buffer.concat(this.metaParts));
          }
          break;
        }
        case 'skip': {
          const n = Math.min(avail, this.remaining);
          at += n;
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.afterContent();
          break;
        }
      }
    }
  }

  /** The input has ended: throws if it ended inside an entry. */
  finish(): void {
    if (this.state === 'end') return;
    if (this.headers === 0) {
      if (this.pos === 0) return; // an empty blob: an empty layer
      throw new TarFormatError(`not a tar archive (${this.pos} bytes without a tar header)`, 0);
    }
    // No end-of-archive blocks after a complete entry: accepted, as GNU tar and Go do.
    if (this.state === 'header' && !this.carry && !this.hasPending) return;
    throw new TarFormatError(`the archive is truncated (it ends at byte ${this.pos}, inside an entry)`, this.pos);
  }

  /** After content (or meta) bytes: skip the padding to the next block, then read a header. */
  private afterContent(): void {
    if (this.padding > 0 && this.state !== 'skip') {
      this.state = 'skip';
      this.remaining = this.padding;
      this.padding = 0;
    } else {
      this.state = 'header';
    }
  }

  /** Sets up reading `size` content bytes in `state`, then the padding. */
  private content(state: 'body' | 'meta' | 'skip', size: number): void {
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (state === 'skip') {
      this.remaining = padded;
      this.padding = 0;
    } else {
      this.remaining = size;
      this.padding = padded - size;
    }
    if (this.remaining > 0) this.state = state;
    else this.state = 'header';
  }

  private header(block: Buffer, offset: number): void {
    if (isZero(block)) {
      // End of archive. A lone zero block ends it too (GNU tar's default);
      // anything after it is ignored, never extracted.
      if (this.hasPending) throw new TarFormatError('the archive ends right after an extended header', offset);
      this.state = 'end';
      return;
    }
    checkChecksum(block, offset);
    this.headers++;
    const typeflag = String.fromCharCode(block[156]);
    const size = num(block, 124, 12, offset, 'size');

    switch (typeflag) {
      case 'x':
      case 'L':
      case 'K': {
        const max = typeflag === 'x' ? MAX_PAX : MAX_LONGNAME;
        if (size > max) throw new TarFormatError(`an extended header of ${size} bytes is implausibly large`, offset);
        this.metaType = typeflag;
        this.metaOffset = offset;
        this.metaParts = [];
        this.content('meta', size);
        if (size === 0) this.meta(Buffer.alloc(0));
        return;
      }
      case 'g':
        // Docker and containerd ignore global headers too (git archive writes one with a comment).
        this.visitor.note?.(`ignored a global PAX header at byte ${offset}`);
        this.content('skip', size);
        return;
      case 'V':
        this.visitor.note?.(`ignored a volume label at byte ${offset}`);
        this.content('skip', size);
        return;
    }

    const ustar = block.toString('latin1', 257, 263) === 'ustar\0';
    let path = str(block, 0, 100);
    if (ustar) {
      // POSIX ustar keeps the first part of long names in the prefix field
      // (131 bytes of it in star's variant, which marks itself with "tar" at 508).
      const star = block.toString('latin1', 508, 512) === 'tar\0';
      const prefix = str(block, 345, star ? 131 : 155);
      if (prefix) path = `${prefix}/${path}`;
    }
    const p = this.pending;
    this.pending = { xattrs: [] };
    this.hasPending = false;
    if (p.path !== undefined) path = p.path;
    const linkpath = p.linkpath ?? str(block, 157, 100);
    const realSize = p.size ?? size;

    let kind: EntryKind;
    switch (typeflag) {
      case '0':
      case '7': // contiguous file: a regular file everywhere but on one old Unix
        kind = 'file';
        break;
      case '\0':
        // Pre-POSIX archives mark directories with a trailing slash only.
        kind = path.endsWith('/') ? 'dir' : 'file';
        break;
      case '1':
        kind = 'hardlink';
        break;
      case '2':
        kind = 'symlink';
        break;
      case '3':
        kind = 'chardev';
        break;
      case '4':
        kind = 'blockdev';
        break;
      case '5':
      case 'D': // GNU dump directory: a directory followed by a listing we do not need
        kind = 'dir';
        break;
      case '6':
        kind = 'fifo';
        break;
      case 'S':
        throw new TarFormatError(`entry ${quote(path)} is a GNU sparse file, which nook cannot extract`, offset, true);
      default:
        throw new TarFormatError(`entry ${quote(path)} has the unknown tar type ${JSON.stringify(typeflag)}`, offset, true);
    }
    const entry: TarEntry = {
      kind,
      path,
      linkpath,
      size: realSize,
      mode: num(block, 100, 8, offset, 'mode') & 0o7777,
      uid: p.uid ?? num(block, 108, 8, offset, 'uid'),
      gid: p.gid ?? num(block, 116, 8, offset, 'gid'),
      mtime: p.mtime ?? { sec: num(block, 136, 12, offset, 'mtime'), nsec: 0 },
      atime: p.atime,
      devmajor: kind === 'chardev' || kind === 'blockdev' ? num(block, 329, 8, offset, 'devmajor') : 0,
      devminor: kind === 'chardev' || kind === 'blockdev' ? num(block, 337, 8, offset, 'devminor') : 0,
      xattrs: p.xattrs,
      offset,
    };
    const sink = this.visitor.entry(entry);
    if (kind === 'file' && sink) {
      this.sink = sink;
      this.content('body', realSize);
      if (realSize === 0) {
        this.sink = undefined;
        sink.end();
      }
    } else {
      this.content('skip', realSize);
      sink?.end();
    }
  }

  private meta(body: Buffer): void {
    const offset = this.metaOffset;
    this.hasPending = true;
    switch (this.metaType) {
      case 'L':
      case 'K': {
        // GNU long names: the name and a terminating NUL (sometimes several).
        let end = body.length;
        while (end > 0 && body[end - 1] === 0) end--;
        const name = body.toString('latin1', 0, end);
        if (this.metaType === 'L') this.pending.path = name;
        else this.pending.linkpath = name;
        return;
      }
      case 'x':
        parsePax(body, this.pending, offset);
        return;
    }
  }
}

function quote(name: string): string {
  return JSON.stringify(Buffer.from(name, 'latin1').toString('utf8'));
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 8) if (block.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

/** A NUL-terminated string field, as bytes. */
function str(block: Buffer, start: number, len: number): string {
  let end = block.indexOf(0, start);
  if (end < 0 || end > start + len) end = start + len;
  return block.toString('latin1', start, end);
}

/** A numeric field: octal text, or GNU base-256 when the high bit of its first byte is set. */
function num(block: Buffer, start: number, len: number, offset: number, field: string): number {
  const first = block[start];
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`a header has a negative ${field}`, offset);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + block[start + i];
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`a header has an out-of-range ${field}`, offset);
    return v;
  }
  let i = start;
  const end = start + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`a header has a malformed ${field} field`, offset);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return 0;
  return v;
}

function checkChecksum(block: Buffer, offset: number): void {
  // The sum of the header's bytes with the checksum field read as spaces;
  // some old tars summed signed chars, which is accepted too.
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i === 148) {
      i = 155;
      continue;
    }
    const b = block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  let stored: number;
  try {
    stored = num(block, 148, 8, offset, 'checksum');
  } catch {
    stored = -1;
  }
  if (stored !== unsigned && stored !== signed)
    throw new TarFormatError(offset === 0 ? 'not a tar archive (bad header checksum)' : `bad header checksum at byte ${offset}`, offset);
}

const DECIMAL = /^\d+$/;

/** PAX records: "LEN KEY=VALUE\n", LEN counting the whole record. Values are bytes. */
function parsePax(body: Buffer, out: Pending, offset: number): void {
  let at = 0;
  const bad = (why: string) => new TarFormatError(`malformed PAX header at byte ${offset}: ${why}`, offset);
  while (at < body.length) {
    if (body[at] === 0) break; // NUL padding after the records
    const space = body.indexOf(0x20, at);
    if (space < 0) throw bad('a record has no length');
    const lenText = body.toString('latin1', at, space);
    if (!DECIMAL.test(lenText)) throw bad(`a record length is ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = at + len;
    if (end > body.length || end <= space + 1 || body[end - 1] !== 0x0a) throw bad('a record overruns its header');
    const eq = body.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end) throw bad('a record has no "="');
    const key = body.toString('latin1', space + 1, eq);
    const value = body.subarray(eq + 1, end - 1);
    at = end;
    // An empty value unsets the keyword (the header field applies); an empty xattr is still an xattr.
    if (value.length === 0 && !key.includes('xattr.')) continue;
    applyPax(key, value, out, bad);
  }
}

function applyPax(key: string, value: Buffer, out: Pending, bad: (why: string) => TarFormatError): void {
  const text = () => value.toString('latin1');
  const int = () => {
    const t = text();
    if (!DECIMAL.test(t) || !Number.isSafeInteger(Number(t))) throw bad(`${key} is ${JSON.stringify(t)}`);
    return Number(t);
  };
  const time = () => {
    const t = parseTime(text());
    if (!t) throw bad(`${key} is ${JSON.stringify(text())}`);
    return t;
  };
  if (key.startsWith('SCHILY.xattr.')) {
    out.xattrs.push([key.slice('SCHILY.xattr.'.length), Buffer.from(value)]);
    return;
  }
  if (key.startsWith('LIBARCHIVE.xattr.')) {
    // bsdtar: the name percent-encoded, the value base64.
    let name: string;
    try {
      name = Buffer.from(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), 'utf8').toString('latin1');
    } catch {
      throw bad(`${key} is not a valid xattr name`);
    }
    out.xattrs.push([name, Buffer.from(text(), 'base64')]);
    return;
  }
  if (key.startsWith('GNU.sparse.')) throw new TarFormatError('an entry is a GNU sparse file, which nook cannot extract', 0, true);
  switch (key) {
    case 'path':
      out.path = text();
      return;
    case 'linkpath':
      out.linkpath = text();
      return;
    case 'size':
      out.size = int();
      return;
    case 'uid':
      out.uid = int();
      return;
    case 'gid':
      out.gid = int();
      return;
    case 'mtime':
      out.mtime = time();
      return;
    case 'atime':
      out.atime = time();
      return;
    default:
      // uname, gname, ctime, charset, comment, SCHILY.dev/ino/nlink...: not needed.
      return;
  }
}
