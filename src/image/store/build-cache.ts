/**
 * The build cache's records in the store (build-cache/<key>.json): what one
 * build step produced, found again by a key the builder computes from what
 * the step depended on. The store knows only what garbage collection needs
 * from them: the layers and blobs a record names stay while it exists, and
 * `image prune` drops every record (the cache is rebuilt by the next build).
 */
import fs = require('node:fs');
import path = require('node:path');
import { readJson, writeFileAtomic } from '../../util/atomic';
import type { ImageStore, LayerRecord } from './store';

export interface HistoryRecord {
  created?: string;
  created_by?: string;
  comment?: string;
  author?: string;
  empty_layer?: boolean;
}

export interface CachedStep {
  version: 1;
  /** The layer the step added, or null when it changed no file (an empty_layer history entry). */
  layer: LayerRecord | null;
  history: HistoryRecord;
}

/** The cache's directory in the store (the builder keeps its context digests there too). */
export const CACHE_DIR = 'build-cache';
const dirOf = (store: ImageStore) => store.p(CACHE_DIR);
const KEY = /^[a-f0-9]{64}$/;

/** The record stored under `key` (64 hex digits), if any and readable. */
export function readCachedStep(store: ImageStore, key: string): CachedStep | undefined {
  if (!KEY.test(key)) return undefined;
  const rec = readJson<CachedStep | undefined>(path.join(dirOf(store), `${key}.json`), undefined);
  return rec?.version === 1 ? rec : undefined;
}

export function writeCachedStep(store: ImageStore, key: string, rec: CachedStep): void {
  fs.mkdirSync(dirOf(store), { recursive: true, mode: 0o700 });
  writeFileAtomic(path.join(dirOf(store), `${key}.json`), JSON.stringify(rec));
}

/** Every record's layer, for garbage collection: they stay while the cache names them. */
export function cachedLayers(store: ImageStore): LayerRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(dirOf(store));
  } catch {
    return [];
  }
  const layers: LayerRecord[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    const rec = readCachedStep(store, n.slice(0, -5));
    if (rec?.layer) layers.push(rec.layer);
  }
  return layers;
}

/**
 * Drops the whole cache (image prune): the records, and RUN --mount=type=cache
 * directories, which are moved into the store's trash (their files may
 * belong to ids only the store helper can delete; garbage collection empties
 * the trash). Returns how many records went.
 */
export function dropBuildCache(store: ImageStore): number {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dirOf(store));
  } catch {
    /* no records */
  }
  fs.rmSync(dirOf(store), { recursive: true, force: true });
  if (fs.existsSync(store.p(MOUNTS_DIR))) {
    fs.mkdirSync(store.p('trash'), { recursive: true });
    fs.renameSync(store.p(MOUNTS_DIR), store.p('trash', `${MOUNTS_DIR}.${Date.now()}`));
  }
  return names.filter((n) => n.endsWith('.json')).length;
}

/** Where RUN --mount=type=cache directories live, one per cache id. */
export const MOUNTS_DIR = 'build-mounts';
