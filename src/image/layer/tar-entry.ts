/**
 * Tar headers for layers nook writes: the inverse of unpack/tar-reader.ts.
 * The archive/tar-writer.ts writer (for image archives of blobs) has no
 * owners, modes, links or xattrs; layers need all of them, byte-exact names
 * (Linux names are bytes, kept as latin1 "byte strings" as the reader does)
 * and reproducible output, so headers are encoded here: ustar fields, and a
 * PAX record only for what ustar cannot hold (long names, big ids or sizes,
 * xattrs). No atime, ctime, uname or gname is written: they would vary.
 */

export type LayerEntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev';

export interface LayerEntry {
  /** Relative name as a byte string (latin1), no leading "./", no trailing "/". */
  name: string;
  kind: LayerEntryKind;
  /** Permission bits with setuid, setgid and sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds (the layer's times are clamped and truncated). */
  mtime: number;
  /** Content length of a regular file. */
  size: number;
  /** Symlink target or hardlink target name (byte string). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Sorted by name; names as byte strings. */
  xattrs?: [string, Buffer][];
}

export const BLOCK = 512;
const TYPEFLAG: Record<LayerEntryKind, string> = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', dir: '5', fifo: '6' };

/** Largest values of the octal ustar fields of 8 and 12 bytes. */
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

/** The header block(s) of `e`: a PAX extended header first when needed. */
export function encodeHeader(e: LayerEntry): Buffer {
  const name = e.kind === 'dir' ? `${e.name}/` : e.name;
  const pax: [string, Buffer][] = [];
  const nameBytes = Buffer.from(name, 'latin1');
  const linkBytes = Buffer.from(e.linkname ?? '', 'latin1');
  if (nameBytes.length > 100) pax.push(['path', nameBytes]);
  if (linkBytes.length > 100) pax.push(['linkpath', linkBytes]);
  if (e.uid > MAX_OCTAL_8) pax.push(['uid', Buffer.from(String(e.uid))]);
  if (e.gid > MAX_OCTAL_8) pax.push(['gid', Buffer.from(String(e.gid))]);
  if (e.size > MAX_OCTAL_12) pax.push(['size', Buffer.from(String(e.size))]);
  const mtime = Math.min(Math.max(e.mtime, 0), MAX_OCTAL_12);
  for (const [k, v] of e.xattrs ?? []) pax.push([`SCHILY.xattr.${k}`, v]);

  const block = Buffer.alloc(BLOCK);
  block.write(nameBytes.subarray(0, 100).toString('latin1'), 0, 'latin1');
  octal(block, 100, 8, e.mode & 0o7777);
  octal(block, 108, 8, Math.min(e.uid, MAX_OCTAL_8));
  octal(block, 116, 8, Math.min(e.gid, MAX_OCTAL_8));
  octal(block, 124, 12, e.kind === 'file' ? Math.min(e.size, MAX_OCTAL_12) : 0);
  octal(block, 136, 12, mtime);
  block.write(TYPEFLAG[e.kind], 156, 'latin1');
  block.write(linkBytes.subarray(0, 100).toString('latin1'), 157, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  if (e.kind === 'chardev' || e.kind === 'blockdev') {
    octal(block, 329, 8, e.devmajor ?? 0);
    octal(block, 337, 8, e.devminor ?? 0);
  }
  checksum(block);
  if (!pax.length) return block;
  return Buffer.concat([paxHeader(pax), block]);
}

/** Zero bytes that complete a file's content to whole blocks. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest ? BLOCK - rest : 0);
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

function octal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1');
}

function checksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

/** One PAX record: "<length> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = 1 + Buffer.byteLength(key, 'latin1') + 1 + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'latin1'), value, Buffer.from('\n')]);
}

function paxHeader(records: [string, Buffer][]): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const head = Buffer.alloc(BLOCK);
  // A fixed name: a varying one (pid, file name) would change the digest.
  head.write('././@PaxHeader', 0, 'latin1');
  octal(head, 100, 8, 0o644);
  octal(head, 108, 8, 0);
  octal(head, 116, 8, 0);
  octal(head, 124, 12, body.length);
  octal(head, 136, 12, 0);
  head.write('x', 156, 'latin1');
  head.write('ustar\u000000', 257, 'latin1');
  checksum(head);
  return Buffer.concat([head, body, padding(body.length)]);
}
