/**
 * New layers in the store: from a container's (or build step's) changes, or
 * from a tar the caller wrote. Either way the layer becomes a gzip blob in
 * blobs/ and is extracted into layers/<diff_id> by the store helper, exactly
 * as a pulled layer would be (the store shares extracted layers by diff_id,
 * so ours must be what extracting the blob gives, and a pulled image with
 * the same layer may use it). It can be the lower dir of the next step at once.
 *
 * Garbage collection deletes blobs and layers no image names: hold
 * store.lockShared() from the first commitLayer until writeImage() when
 * there is a gap between them (commitLayer holds it itself while it works).
 */
import fs = require('node:fs');
import path = require('node:path');
import { ImageStore, type LayerRecord } from '../store/store';
import type { StoreHelper, StoreHelperPool } from '../store/helper-client';
import { extractIntoStore } from '../store/install';
import { randomHex } from '../../util/random';
import { LayerBlobWriter, type LayerBlob } from './blob-writer';
import type { LayerSource } from './source';

export type { LayerSource } from './source';

export const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface NewLayer extends LayerRecord {
  /** Nothing changed: no layer to add (the image gets an empty_layer history entry instead). */
  empty: boolean;
}

export interface CommitLayerOptions {
  /** Times later than this (seconds since 1970) are written as this. */
  sourceDateEpoch?: number;
  /** Checked before and after the work; a layer being written is finished first, then dropped. */
  signal?: AbortSignal;
  /** Warnings from the extraction (default: stderr). */
  onWarning?: (message: string) => void;
}

/**
 * Turns the changes into an OCI layer: gzip tar blob written into the store's blobs/, and the
 * extracted layer installed as layers/<hex> (+ its l/ short link) so it can be a lower dir of the
 * next step without re-extraction.
 */
export async function commitLayer(store: ImageStore, helper: StoreHelper | StoreHelperPool, src: LayerSource, opts: CommitLayerOptions = {}): Promise<NewLayer> {
  opts.signal?.throwIfAborted();
  const lock = await store.lockShared();
  const tmp = tempBlobPath(store);
  try {
    const written = await helper.writeLayer(src, tmp, opts.sourceDateEpoch);
    opts.signal?.throwIfAborted();
    const blob: LayerBlob = { ...written, tarSize: 0 };
    if (written.entries === 0) return { ...record(blob), empty: true };
    return await install(store, helper, tmp, blob, opts);
  } finally {
    fs.rmSync(tmp, { force: true });
    lock.release();
  }
}

/** A layer from a tar the caller wrote (COPY/ADD build their layers this way): compress, hash, store the blob, extract into layers/. */
export async function commitTarLayer(store: ImageStore, helper: StoreHelper | StoreHelperPool, tarPath: string, opts: CommitLayerOptions = {}): Promise<NewLayer> {
  opts.signal?.throwIfAborted();
  const lock = await store.lockShared();
  const tmp = tempBlobPath(store);
  try {
    const out = new LayerBlobWriter(tmp);
    let blob: LayerBlob;
    let empty = true;
    try {
      for await (const chunk of fs.createReadStream(tarPath, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        opts.signal?.throwIfAborted();
        // A tar of only end-of-archive zero blocks has no entries.
        if (empty && chunk.some((b) => b !== 0)) empty = false;
        await out.write(chunk);
      }
      blob = await out.finish();
    } catch (e) {
      out.abort();
      throw e;
    }
    if (empty) return { ...record(blob), empty: true };
    return await install(store, helper, tmp, blob, opts);
  } finally {
    fs.rmSync(tmp, { force: true });
    lock.release();
  }
}

function tempBlobPath(store: ImageStore): string {
  const dir = store.p('blobs', 'tmp');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `layer.${process.pid}.${randomHex(6)}`);
}

function record(blob: LayerBlob): LayerRecord {
  return { digest: blob.digest, size: blob.size, mediaType: GZIP_LAYER, diffId: blob.diffId };
}

/** Moves the blob into blobs/ (a same-content blob already there is as good) and extracts it into layers/. */
async function install(store: ImageStore, helper: StoreHelper | StoreHelperPool, tmp: string, blob: LayerBlob, opts: CommitLayerOptions): Promise<NewLayer> {
  const layer = record(blob);
  const final = store.blobPath(layer.digest);
  fs.mkdirSync(path.dirname(final), { recursive: true });
  fs.renameSync(tmp, final);
  await extractIntoStore(store, helper, layer, 'the new layer', { onWarning: opts.onWarning });
  opts.signal?.throwIfAborted();
  return { ...layer, empty: false };
}
