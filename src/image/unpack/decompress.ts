/**
 * The uncompressed tar bytes of a layer blob. The compression is recognised
 * by the blob's first bytes rather than by the manifest's media type, which
 * registries and old tools get wrong (Docker's "tar.gzip" layers that are
 * plain tar, for one).
 */
import fs = require('node:fs');
import zlib = require('node:zlib');
import type { Readable, Transform } from 'node:stream';
import { NookError, describeErrno } from '../../errors';

export type Compression = 'gzip' | 'zstd' | 'none';

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
/** Formats a layer might be in that nook does not read, named in the error. */
const UNSUPPORTED: [number[], string][] = [
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
  [[0x42, 0x5a, 0x68], 'bzip2'],
];

/** Big reads and output chunks: fewer, larger writes and callbacks per layer. */
const READ_CHUNK = 1 << 20;
const OUT_CHUNK = 256 << 10;

const startsWith = (head: Buffer, magic: number[]) => magic.every((b, i) => head[i] === b);

export function detectCompression(head: Buffer): Compression | { unsupported: string } {
  if (startsWith(head, GZIP)) return 'gzip';
  if (startsWith(head, ZSTD)) return 'zstd';
  for (const [magic, name] of UNSUPPORTED) if (startsWith(head, magic)) return { unsupported: name };
  return 'none';
}

export interface ChunkOptions {
  /** For messages: "layer sha256:abcd… of debian:12". */
  layer: string;
  onProgress?: (compressedBytes: number) => void;
  /** How many times its compressed size a layer may grow to when decompressed (default 100; 0: no limit). */
  maxExpansion?: number;
}

/** --max-layer-expansion's default: far above real layers (text compresses 5-20×), far below a bomb's 1000×. */
export const DEFAULT_MAX_EXPANSION = 100;
/** Any layer may decompress to this much, whatever its ratio: small layers are mostly tar padding. */
export const EXPANSION_FLOOR = 64 << 20;

/** The most bytes a blob of `compressedSize` may decompress to, or Infinity when there is no limit. */
export function expansionLimit(compressedSize: number, maxExpansion = DEFAULT_MAX_EXPANSION): number {
  if (!maxExpansion) return Infinity;
  return Math.max(compressedSize * maxExpansion, EXPANSION_FLOOR);
}

/** The refusal of a blob that decompresses to more than `limit` bytes (a decompression bomb, or a huge sparse file). */
export function expansionError(what: string, limit: number, compressedSize: number, maxExpansion = DEFAULT_MAX_EXPANSION): NookError {
  const mib = (n: number) => `${(n / (1 << 20)).toFixed(n < 10 << 20 ? 1 : 0)} MiB`;
  return new NookError(
    `${what} decompresses to more than ${mib(limit)} (${maxExpansion}× its compressed size of ${mib(compressedSize)}, at least ${mib(EXPANSION_FLOOR)}); refused as a possible decompression bomb, nothing of it is kept`,
    { hint: 'if you trust the image, raise the limit with --max-layer-expansion N (0: no limit)' },
  );
}

/** The hint for a blob whose content is not a readable layer (bad compressed data, a broken tar stream). */
export const DAMAGED_HINT =
  'pull the image again; nook checks every blob against its digest when it downloads it, so if this persists the image itself is broken';

function openBlob(blobPath: string, layer: string): { fd: number; head: Buffer } {
  let fd: number;
  try {
    fd = fs.openSync(blobPath, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NookError(`${layer}: cannot read ${blobPath}: ${describeErrno(-(err.errno ?? 0))}`);
  }
  const head = Buffer.alloc(8);
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } catch (e) {
    fs.closeSync(fd);
    throw new NookError(`${layer}: cannot read ${blobPath}: ${(e as Error).message}`);
  }
  return { fd, head };
}

function decompressor(kind: Compression, layer: string): Transform | undefined {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: OUT_CHUNK });
  if (kind === 'zstd') {
    // Node 22.15/23.8 and later; nook's executable bundles Node 24.
    const create = (zlib as { createZstdDecompress?: (o: zlib.ZstdOptions) => Transform }).createZstdDecompress;
    if (!create)
      throw new NookError(`${layer} is compressed with zstd, which this Node.js (${process.version}) cannot decompress`, {
        hint: 'run nook as its single executable (it includes Node.js 24), or use Node.js 22.15 or later',
      });
    return create({ chunkSize: OUT_CHUNK });
  }
  return undefined;
}

/**
 * Reads the blob, decompresses it and hands each chunk of tar bytes to
 * `consume`, which works synchronously: the next chunk is taken only when it
 * returns, so the blob is read only as fast as it is extracted. Errors thrown
 * by `consume` pass through unchanged; a blob that cannot be read or
 * decompressed becomes a NookError.
 */
export async function forEachTarChunk(blobPath: string, consume: (chunk: Buffer) => void, opts: ChunkOptions): Promise<Compression> {
  const { fd, head } = openBlob(blobPath, opts.layer);
  const kind = detectCompression(head);
  if (typeof kind !== 'string') {
    fs.closeSync(fd);
    throw new NookError(`${opts.layer} is compressed with ${kind.unsupported}, which nook does not support`, {
      hint: 'OCI images use gzip or zstd layers; rebuild or re-push the image with one of those',
    });
  }
  let dec: Transform | undefined;
  try {
    dec = decompressor(kind, opts.layer);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  const src = fs.createReadStream('', { fd, start: 0, highWaterMark: READ_CHUNK });
  // Where a stream error came from, to tell a bad blob from a failing disk.
  let failure: { where: 'read' | 'decompress'; err: Error } | undefined;
  let read = 0;
  let tar: Readable = src;
  if (dec) {
    const d = dec;
    src.on('data', (c) => {
      read += c.length;
      opts.onProgress?.(read);
    });
    // pipe() does not pass errors on: end the decompressor with the read error.
    src.on('error', (err) => {
      failure ??= { where: 'read', err };
      d.destroy(err);
    });
    d.on('error', (err) => (failure ??= { where: 'decompress', err }));
    src.pipe(d);
    tar = d;
  } else {
    src.on('error', (err) => (failure ??= { where: 'read', err }));
  }
  // A bomb is refused as soon as its output crosses the limit: nothing past it is ever written.
  const compressedSize = dec ? fs.fstatSync(fd).size : 0;
  const limit = dec ? expansionLimit(compressedSize, opts.maxExpansion) : Infinity;
  let out = 0;
  let consumeFailed = false;
  try {
    for await (const chunk of tar) {
      if (!dec) {
        read += (chunk as Buffer).length;
        opts.onProgress?.(read);
      }
      out += (chunk as Buffer).length;
      if (out > limit) {
        consumeFailed = true;
        throw expansionError(opts.layer, limit, compressedSize, opts.maxExpansion ?? DEFAULT_MAX_EXPANSION);
      }
      try {
        consume(chunk as Buffer);
      } catch (e) {
        consumeFailed = true;
        throw e;
      }
    }
  } catch (e) {
    if (consumeFailed || !failure) throw e;
    const err = failure.err as NodeJS.ErrnoException;
    if (failure.where === 'read') throw new NookError(`${opts.layer}: reading ${blobPath}: ${err.message}`);
    throw new NookError(`${opts.layer}: its ${kind} data is corrupt or truncated (${err.message})`, { hint: DAMAGED_HINT });
  } finally {
    src.destroy();
    dec?.destroy();
  }
  return kind;
}
