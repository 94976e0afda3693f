/**
 * What loading an archive (or importing a tarball) hands to the store: for
 * each image, every blob it needs, already checked, and its record. The
 * readers (docker-archive.ts, oci-layout.ts) check everything before this
 * runs, so a bad archive leaves the store untouched; from here on, the
 * order is pull's: blobs, then layers, then the image record and names,
 * under the store's shared lock so garbage collection keeps the blobs.
 */
import { writeFileAtomic } from '../../util/atomic';
import type { ImageConfig } from '../config';
import { StoreHelper } from '../store/helper-client';
import { extractIntoStore, recordImage, type ExtractHooks } from '../store/install';
import type { ImageRecord, ImageStore, LayerRecord } from '../store/store';
import { commitBlob, type Ingested } from './ingest';

/** A blob to put into the store: a checked file, or bytes made here (a manifest nook wrote). */
export type BlobSource = { digest: string; file: Ingested } | { digest: string; body: Buffer };

export interface ImageToInstall {
  /** Full, normalised names ("docker.io/library/debian:12"). */
  names: string[];
  configDigest: string;
  config: ImageConfig;
  manifestDigest: string;
  manifestMediaType: string;
  indexDigest?: string;
  layers: LayerRecord[];
  /** Everything the record refers to: manifest, index, config, layer blobs. */
  blobs: BlobSource[];
  /** For messages: a name, or the short id. */
  label: string;
}

export interface InstallHooks extends ExtractHooks {
  /** A layer was extracted (or was there already). */
  onLayer?: (layer: LayerRecord, existed: boolean) => void;
}

function putBlob(store: ImageStore, blob: BlobSource): void {
  if ('file' in blob) return commitBlob(store, blob.file);
  if (!store.blobs.has(blob.digest)) writeFileAtomic(store.blobs.path(blob.digest), blob.body);
}

/** Brings `images` into the store, one after the other; returns their records in the same order. */
export async function installImages(store: ImageStore, images: ImageToInstall[], hooks: InstallHooks = {}): Promise<ImageRecord[]> {
  const lock = await store.lockShared();
  const helper = new StoreHelper();
  try {
    const records: ImageRecord[] = [];
    for (const img of images) {
      for (const b of img.blobs) putBlob(store, b);
      const done = new Set<string>();
      for (const layer of img.layers) {
        if (done.has(layer.diffId)) continue;
        done.add(layer.diffId);
        const existed = store.hasLayer(layer.diffId);
        await extractIntoStore(store, helper, layer, img.label, hooks);
        hooks.onLayer?.(layer, existed);
      }
      records.push(
        await recordImage(
          store,
          {
            manifestDigest: img.manifestDigest,
            manifestMediaType: img.manifestMediaType,
            indexDigest: img.indexDigest,
            configDigest: img.configDigest,
            config: img.config,
            layers: img.layers,
            repoDigests: [],
          },
          img.names,
        ),
      );
    }
    return records;
  } finally {
    await helper.close();
    lock.release();
  }
}
