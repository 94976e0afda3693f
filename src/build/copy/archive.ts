/**
 * ADD of a local tar archive: docker extracts it (plain, gzip, bzip2 or xz;
 * zstd too, as BuildKit does) instead of copying the file. A file is taken
 * for an archive when its first block, decompressed, is a valid tar header;
 * anything else is copied as a file, as docker does.
 *
 * The archive is extracted by the store's layer extractor into a fresh
 * temporary directory (nothing of the image's root is there to follow), then
 * copied into the root like any directory, with the same in-root care.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import zlib = require('node:zlib');
import { spawn, spawnSync } from 'node:child_process';
import { NookError } from '../../errors';
import { extractLayer } from '../../image/unpack/extract';
import type { IdPolicy } from '../../image/unpack/owners';

type Format = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

const MAGIC: [number[], Format][] = [
  [[0x1f, 0x8b], 'gzip'],
  [[0x42, 0x5a, 0x68], 'bzip2'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
];

/** The compression `head` (the file's first bytes) starts with. */
export function detectFormat(head: Buffer): Format {
  for (const [magic, name] of MAGIC) if (magic.every((b, i) => head[i] === b)) return name;
  return 'none';
}

/** Whether a 512-byte block is a tar header: its checksum (signed or unsigned, as Go's archive/tar accepts) matches. */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

/** The first `n` bytes of the decompressed stream (fewer if it is shorter or damaged). */
function decompressedHead(head: Buffer, format: Format, n: number): Buffer {
  try {
    switch (format) {
      case 'none':
        return head.subarray(0, n);
      case 'gzip':
        return zlib.gunzipSync(head, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, n);
      case 'zstd':
        return zlib.zstdDecompressSync(head, { finishFlush: zlib.constants.ZSTD_e_flush }).subarray(0, n);
      case 'bzip2':
      case 'xz': {
        // A truncated stream still gives what it decoded on stdout.
        const r = spawnSync(format, ['-dc'], { input: head, maxBuffer: 1 << 20 });
        return (r.stdout ?? Buffer.alloc(0)).subarray(0, n);
      }
    }
  } catch {
    return Buffer.alloc(0);
  }
}

/** Whether the file at `file` is a tar archive ADD extracts. */
export async function isArchive(file: string): Promise<boolean> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const head = Buffer.alloc(64 * 1024);
    const len = fs.readSync(fd, head, 0, head.length, 0);
    const format = detectFormat(head.subarray(0, len));
    return isTarHeader(decompressedHead(head.subarray(0, len), format, 512));
  } finally {
    fs.closeSync(fd);
  }
}

/** bzip2 and xz are not in Node: the host's tools decompress to a plain tar first. */
async function decompressWithTool(file: string, tool: 'bzip2' | 'xz', out: string): Promise<void> {
  const fd = fs.openSync(out, 'wx', 0o600);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(tool, ['-dc', file], { stdio: ['ignore', fd, 'pipe'] });
      let err = '';
      child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', (e) =>
        reject(new NookError(`ADD failed: ${path.basename(file)} is ${tool}-compressed and ${tool} could not run: ${e.message}`, {
          hint: `install ${tool} (Debian/Ubuntu: apt-get install ${tool === 'xz' ? 'xz-utils' : 'bzip2'}), or give a gzip-compressed or plain tar`,
        })),
      );
      child.on('close', (c) => (c === 0 ? resolve() : reject(new NookError(`ADD failed: decompressing ${path.basename(file)} with ${tool}: ${err.trim() || `exit ${c}`}`))));
    });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Extracts the archive `file` into a temporary directory, hands it to
 * `into`, and removes it. `ids`: the ids files may have: an archive entry
 * owned by an id nook cannot map fails, naming the fix, unless `chowned`
 * (ADD --chown replaces every owner anyway).
 */
export async function withExtractedArchive(
  file: string,
  ids: IdPolicy,
  name: string,
  chowned: boolean,
  into: (dir: string) => Promise<void>,
): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-add-'));
  try {
    const head = Buffer.alloc(8);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, 8, 0);
    fs.closeSync(fd);
    const format = detectFormat(head);
    let tar = file;
    if (format === 'bzip2' || format === 'xz') {
      tar = path.join(tmp, 'archive.tar');
      await decompressWithTool(file, format, tar);
    }
    const dir = path.join(tmp, 'files');
    fs.mkdirSync(dir, { mode: 0o755 });
    try {
      await extractLayer(tar, dir, { ids, squashIds: chowned, layerName: `ADD ${name}`, maxExpansion: 0 });
    } catch (e) {
      if (!(e instanceof NookError) || !/not mapped into nook's user namespace/.test(e.message)) throw e;
      throw new NookError(e.message, {
        hint: `${e.hint?.replace(/; or pull with --squash-ids.*$/, '') ?? 'give your user subordinate ids'}; or ADD it with --chown=0:0 to make its files root's`,
        cause: e,
      });
    }
    await into(dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
