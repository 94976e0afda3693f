/**
 * Image layers for tests: a tar archive written header by header, so tests
 * can make any entry a real tool would write, and the ones no honest tool
 * writes (absolute names, "..", NULs, links out of the tree). Names too long
 * for the header, non-ASCII names, fractional times, big ids and xattrs go
 * into PAX records (or GNU long-name entries with `longNames: 'gnu'`).
 *
 * Below that, a harness for extraction tests: a scratch directory per layer
 * holding the blob, the destination and a sentinel directory next to it that
 * no layer may touch.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { TestContext } from 'vitest';
import { extractLayer, type ExtractOptions, type ExtractResult } from '../../src/image/unpack/extract';

export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo';

export interface LayerEntry {
  /** The name exactly as stored (a Buffer for bytes that are not UTF-8). */
  path: string | Buffer;
  /** Default 'file'; any other single character is written as the raw tar type flag. */
  type?: LayerEntryType | string;
  /** Permission bits; default 0644 for files, 0755 for directories, 0777 for symlinks. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch (fractions go into a PAX record); default 1700000000. */
  mtime?: number;
  content?: string | Buffer;
  /** Symlink or hardlink target. */
  linkname?: string | Buffer;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX SCHILY.xattr.NAME records. */
  xattrs?: Record<string, string | Buffer>;
  /** Extra PAX records for this entry (they win over the ones derived from the fields above). */
  pax?: Record<string, string | Buffer>;
}

export interface LayerOptions {
  compression?: 'gzip' | 'zstd' | 'none';
  /** How names that do not fit the header are written: PAX records (default) or GNU 'L'/'K' entries. */
  longNames?: 'pax' | 'gnu';
  /** Leave out the two zero blocks that end an archive. */
  noEndBlocks?: boolean;
}

const TYPEFLAGS: Record<LayerEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  dir: '5',
  fifo: '6',
};

const DEFAULT_MTIME = 1700000000;

/** A whiteout entry for `path` (`dir/name` → `dir/.wh.name`). */
export function whiteout(name: string): LayerEntry {
  const i = name.lastIndexOf('/');
  return { path: `${name.slice(0, i + 1)}.wh.${name.slice(i + 1)}`, content: '' };
}

/** The opaque marker for directory `dir`. */
export function opaque(dir: string): LayerEntry {
  return { path: `${dir.replace(/\/$/, '')}/.wh..wh..opq`, content: '' };
}

/** A tar archive (compressed as asked) holding `entries` in order. */
export function makeLayer(entries: LayerEntry[], opts: LayerOptions = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) blocks.push(...entryBlocks(e, opts.longNames ?? 'pax'));
  if (!opts.noEndBlocks) blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  switch (opts.compression ?? 'none') {
    case 'gzip':
      return zlib.gzipSync(tar);
    case 'zstd':
      return zstd(tar);
    default:
      return tar;
  }
}

function zstd(data: Buffer): Buffer {
  const compress = (zlib as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
  if (compress) return compress(data);
  const r = spawnSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  return r.stdout;
}

const bytes = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const isAscii = (b: Buffer) => b.every((c) => c > 0 && c < 0x80);

function entryBlocks(e: LayerEntry, longNames: 'pax' | 'gnu'): Buffer[] {
  const type = e.type ?? 'file';
  const typeflag = type in TYPEFLAGS ? TYPEFLAGS[type as LayerEntryType] : type;
  if (typeflag.length !== 1) throw new Error(`bad entry type ${type}`);
  const content = e.content === undefined ? Buffer.alloc(0) : bytes(e.content);
  const name = bytes(e.path);
  const link = e.linkname === undefined ? Buffer.alloc(0) : bytes(e.linkname);
  const mtime = e.mtime ?? DEFAULT_MTIME;
  const uid = e.uid ?? 0;
  const gid = e.gid ?? 0;
  const pax: [string, Buffer][] = [];
  const out: Buffer[] = [];

  // The name: in the header, split into prefix and name, or in an extended record.
  let headerName: Buffer = name;
  let prefix: Buffer = Buffer.alloc(0);
  if (name.length > 100 || !isAscii(name)) {
    const split = name.length <= 256 && isAscii(name) ? splitName(name) : undefined;
    if (split) [prefix, headerName] = split;
    else if (longNames === 'gnu') {
      out.push(...gnuLong('L', name));
      headerName = name.subarray(0, 100);
    } else {
      pax.push(['path', name]);
      headerName = Buffer.from('PaxName');
    }
  }
  let headerLink: Buffer = link;
  if (link.length > 100 || (link.length > 0 && !isAscii(link))) {
    if (longNames === 'gnu') out.push(...gnuLong('K', link));
    else pax.push(['linkpath', link]);
    headerLink = link.subarray(0, 100);
  }
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > 0o77777777777) pax.push(['mtime', Buffer.from(String(mtime))]);
  if (uid > 0o7777777) pax.push(['uid', Buffer.from(String(uid))]);
  if (gid > 0o7777777) pax.push(['gid', Buffer.from(String(gid))]);
  for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, bytes(v)]);
  for (const [k, v] of Object.entries(e.pax ?? {})) {
    const i = pax.findIndex(([key]) => key === k);
    if (i >= 0) pax.splice(i, 1);
    pax.push([k, bytes(v)]);
  }
  if (pax.length) out.push(...paxBlocks(pax));

  const defaultMode = type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
  out.push(
    header({
      name: headerName,
      prefix,
      mode: e.mode ?? defaultMode,
      uid: Math.min(uid, 0o7777777),
      gid: Math.min(gid, 0o7777777),
      size: content.length,
      mtime: Number.isInteger(mtime) && mtime >= 0 && mtime <= 0o77777777777 ? mtime : Math.max(0, Math.floor(mtime)),
      typeflag,
      linkname: headerLink,
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    }),
  );
  if (content.length) out.push(padded(content));
  return out;
}

/** ustar's split of a long name at a slash: prefix ≤ 155 bytes, name ≤ 100. */
function splitName(name: Buffer): [Buffer, Buffer] | undefined {
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return [name.subarray(0, i), name.subarray(i + 1)];
  }
  return undefined;
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return pad ? Buffer.concat([data, Buffer.alloc(pad)]) : data;
}

function gnuLong(typeflag: 'L' | 'K', value: Buffer): Buffer[] {
  const body = Buffer.concat([value, Buffer.alloc(1)]);
  return [
    header({ name: Buffer.from('././@LongLink'), prefix: Buffer.alloc(0), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, typeflag, linkname: Buffer.alloc(0), devmajor: 0, devminor: 0 }),
    padded(body),
  ];
}

function paxBlocks(records: [string, Buffer][]): Buffer[] {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return [
    header({ name: Buffer.from('PaxHeader'), prefix: Buffer.alloc(0), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, typeflag: 'x', linkname: Buffer.alloc(0), devmajor: 0, devminor: 0 }),
    padded(body),
  ];
}

/** "LEN KEY=VALUE\n", LEN counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // space, '=', newline
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

interface Header {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

function header(h: Header): Buffer {
  const b = Buffer.alloc(512);
  h.name.copy(b, 0, 0, 100);
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.write(h.typeflag, 156, 'latin1');
  h.linkname.copy(b, 157, 0, 100);
  b.write('ustar\u000000', 257, 'latin1');
  b.write('root', 265);
  b.write('root', 297);
  octal(b, 329, 8, h.devmajor);
  octal(b, 337, 8, h.devminor);
  h.prefix.copy(b, 345, 0, 155);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'latin1');
  return b;
}

function octal(b: Buffer, off: number, len: number, value: number): void {
  b.write(value.toString(8).padStart(len - 1, '0') + '\u0000', off, 'latin1');
}

// ---- Extracting layers in tests ----

export const isRoot = process.getuid?.() === 0;

/** Why a test that gives files owners other than the user's own is skipped when the suite does not run as root. */
export const NEEDS_ROOT_TO_CHOWN = 'needs real root: the layer gives files owners other than the user running the tests';

/** Skips the test, saying why, unless the suite runs as root. */
export function needRootToChown(ctx: TestContext): void {
  if (!isRoot) ctx.skip(NEEDS_ROOT_TO_CHOWN);
}

/**
 * Entries as the extraction helpers write them: as root, unchanged; as
 * another user, an entry that names no owner is owned by that user (the
 * extractor chowns every file to its entry's owner, and only root may give
 * files away), so tests about anything but owners run unprivileged too.
 */
export function ownedByMe(entries: LayerEntry[]): LayerEntry[] {
  if (isRoot) return entries;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return entries.map((e) => ({ uid, gid, ...e }));
}

/** makeLayer(ownedByMe(entries)): for tests that extract in-process (as root, just makeLayer). */
export function makeLayerAsMe(entries: LayerEntry[], opts: LayerOptions = {}): Buffer {
  return makeLayer(ownedByMe(entries), opts);
}

const made: string[] = [];
/** Removes the scratch directories made so far (call it in afterEach). */
export function cleanupScratch(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export interface Scratch {
  base: string;
  dest: string;
  /** A directory with a file, next to dest; its listing must never change. */
  outside: string;
  blob: string;
}

export function scratch(): Scratch {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-extract-'));
  made.push(base);
  const dest = path.join(base, 'dest');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(dest);
  fs.mkdirSync(outside, { mode: 0o700 });
  fs.chmodSync(outside, 0o700);
  fs.writeFileSync(path.join(outside, 'secret'), 'secret\n', { mode: 0o600 });
  return { base, dest, outside, blob: path.join(base, 'blob') };
}

/** Everything under `dir`: relative path → mode, owner, links, mtime (ns), and content (or its digest) or symlink target. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p, { bigint: true });
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink} ${st.mtimeNs}`;
    if (st.isFile()) {
      const data = fs.readFileSync(p);
      what += data.length <= 64 ? ` ${data.toString('latin1')}` : ` sha256:${createHash('sha256').update(data).digest('hex')}`;
    }
    if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(p)}`;
    out[rel || '.'] = what;
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(rel, name));
  };
  walk('');
  return out;
}

export interface Extracted extends Scratch {
  result: ExtractResult;
  warnings: string[];
  debug: string[];
}

/** Writes `entries` as a layer and extracts it into a fresh dest. */
export async function extractEntries(
  entries: LayerEntry[],
  layerOpts: LayerOptions = {},
  opts: Partial<ExtractOptions> = {},
): Promise<Extracted> {
  const s = scratch();
  fs.writeFileSync(s.blob, makeLayer(ownedByMe(entries), layerOpts));
  const warnings: string[] = [];
  const debug: string[] = [];
  const result = await extractLayer(s.blob, s.dest, {
    ids: 'any',
    onWarning: (m) => warnings.push(m),
    onDebug: (m) => debug.push(m),
    layerName: 'layer sha256:0123456789ab… of test:1',
    ...opts,
  });
  return { ...s, result, warnings, debug };
}

/**
 * Extracts a layer that must be refused: returns the error, after checking
 * that nothing outside dest changed. Entries that need an absolute path to
 * point at should point at the sentinel (`s.outside`), never at real host
 * files: a regression would otherwise overwrite them (the tests run as root).
 */
export async function extractRefused(
  entries: LayerEntry[] | ((s: Scratch) => LayerEntry[]),
  layerOpts: LayerOptions = {},
  opts: Partial<ExtractOptions> = {},
): Promise<Error & { hint?: string }> {
  const s = scratch();
  fs.writeFileSync(s.blob, makeLayer(ownedByMe(typeof entries === 'function' ? entries(s) : entries), layerOpts));
  const before = snapshot(s.outside);
  const baseBefore = fs.readdirSync(s.base).sort();
  let error: (Error & { hint?: string }) | undefined;
  try {
    await extractLayer(s.blob, s.dest, { ids: 'any', layerName: 'layer sha256:0123456789ab… of test:1', ...opts });
  } catch (e) {
    error = e as Error;
  }
  if (!error) throw new Error('the layer was extracted, but it should have been refused');
  if (error.name !== 'NookError') throw error;
  const after = snapshot(s.outside);
  if (JSON.stringify(after) !== JSON.stringify(before))
    throw new Error(`the layer changed ${s.outside}:\n${JSON.stringify(before, null, 1)}\n→\n${JSON.stringify(after, null, 1)}`);
  if (JSON.stringify(fs.readdirSync(s.base).sort()) !== JSON.stringify(baseBefore)) throw new Error(`the layer wrote next to dest: ${fs.readdirSync(s.base)}`);
  return error;
}
