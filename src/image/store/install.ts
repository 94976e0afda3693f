/**
 * The last steps of bringing an image into the store, shared by pull, load
 * and import: extract a layer blob (through the store helper, so files get
 * the owners the container sees), then record the image and its names.
 * The record is written only once every layer is in place.
 */
import type { ImageConfig } from '../config';
import type { StoreHelper, StoreHelperPool } from './helper-client';
import { ImageStore, type ImageRecord, type LayerRecord } from './store';

export interface ExtractHooks {
  squashIds?: boolean;
  debug?: boolean;
  /** --max-layer-expansion (default 100; 0: no limit). */
  maxExpansion?: number;
  onProgress?: (bytes: number) => void;
  onWarning?: (message: string) => void;
}

/** Extracts `layer`'s blob into the store unless that layer is already there. */
export async function extractIntoStore(store: ImageStore, helper: StoreHelper | StoreHelperPool, layer: LayerRecord, imageName: string, hooks: ExtractHooks = {}): Promise<void> {
  await helper.extract(
    {
      blob: store.blobs.path(layer.digest),
      dest: store.layerDir(layer.diffId),
      tmpDir: store.p('layers', 'tmp'),
      link: store.p('l', ImageStore.layerLinkName(layer.diffId)),
      layerName: `layer ${layer.digest.slice(0, 19)}… of ${imageName}`,
      diffId: layer.diffId,
      squashIds: hooks.squashIds ?? false,
      debug: hooks.debug ?? false,
      maxExpansion: hooks.maxExpansion,
    },
    { onProgress: hooks.onProgress, onWarning: hooks.onWarning },
  );
}

export interface NewImage {
  manifestDigest: string;
  manifestMediaType: string;
  indexDigest?: string;
  configDigest: string;
  config: ImageConfig;
  layers: LayerRecord[];
  repoDigests: string[];
}

/** Writes the image record (merging repo digests with an earlier copy) and points `names` at it. */
export async function recordImage(store: ImageStore, img: NewImage, names: string[]): Promise<ImageRecord> {
  const { config } = img;
  const record: ImageRecord = {
    id: img.configDigest,
    manifestDigest: img.manifestDigest,
    manifestMediaType: img.manifestMediaType,
    indexDigest: img.indexDigest,
    platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
    layers: img.layers,
    created: config.created,
    stored: new Date().toISOString(),
    repoDigests: img.repoDigests,
  };
  const previous = store.image(record.id);
  if (previous) record.repoDigests = [...new Set([...previous.repoDigests, ...record.repoDigests])];
  store.writeImage(record);
  if (names.length)
    await store.updateRefs((refs) => {
      for (const n of names) refs[n] = record.id;
    });
  return record;
}
