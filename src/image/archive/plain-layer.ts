/**
 * A stored layer uncompressed, with its size known before the first byte is
 * written (a tar header comes first): docker-archive's layers, and an OCI
 * archive's with save --uncompressed.
 */
import fs = require('node:fs');
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NookError } from '../../errors';
import type { ImageStore, LayerRecord } from '../store/store';
import { decompressor, detectCompression } from './compression';

export interface PlainLayer {
  size: number;
  open(): Readable;
}

function readHead(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    return head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Compressed blobs are decompressed twice: once to learn the size (a tar
 * header comes before the content) and check the diff_id, once to write.
 * That costs CPU instead of a temporary copy of every layer on disk.
 */
export async function plainLayer(store: ImageStore, layer: LayerRecord, label: string): Promise<PlainLayer> {
  const file = store.blobs.path(layer.digest);
  let head: Buffer;
  try {
    head = readHead(file);
  } catch {
    throw new NookError(`the store lacks layer ${layer.digest} of ${label}`, { hint: `pull or load ${label} again` });
  }
  const kind = detectCompression(head);
  if (typeof kind !== 'string') throw new NookError(`layer ${layer.digest} of ${label} is compressed with ${kind.unsupported}, which nook cannot decompress`);
  if (kind === 'none') return { size: fs.statSync(file).size, open: () => fs.createReadStream(file) };
  const what = `layer ${layer.digest.slice(0, 19)}… of ${label}`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(fs.createReadStream(file), decompressor(kind, what), async (chunks: AsyncIterable<Buffer>) => {
      for await (const c of chunks) {
        size += c.length;
        hash.update(c);
      }
    });
  } catch (e) {
    throw new NookError(`${what} cannot be decompressed: ${(e as Error).message}`, { hint: `the store is damaged; remove the image and pull or load ${label} again` });
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== layer.diffId)
    throw new NookError(`${what} is corrupt in the store: it decompresses to ${digest}, not ${layer.diffId}`, {
      hint: `remove the image and pull or load ${label} again`,
    });
  return {
    size,
    open: () => {
      const src = fs.createReadStream(file);
      const dec = decompressor(kind, what);
      src.on('error', (e) => dec.destroy(e));
      return src.pipe(dec);
    },
  };
}
