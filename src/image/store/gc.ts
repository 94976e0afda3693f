/**
 * Garbage collection: removes what no image and no running container needs.
 * Holds the store lock exclusively, so no pull is writing blobs or layers
 * that no image names yet. Containers' directories whose lock nobody holds
 * belong to a nook that was killed: they go too.
 */
import fs = require('node:fs');
import path = require('node:path');
import { FileLock } from '../../util/lock';
import { KEPT_FILE } from '../../container/rootfs';
import { StoreHelper } from './helper-client';
import { ImageStore } from './store';
import { cachedLayers } from './build-cache';

export interface GcResult {
  layers: number;
  blobs: number;
  containers: number;
  bytes: number;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

/** A named or detached container's directory stays while the container's state exists (until `nook rm`). */
function isKept(dir: string): boolean {
  let stateDir: string;
  try {
    stateDir = fs.readFileSync(path.join(dir, KEPT_FILE), 'utf8');
  } catch {
    return false;
  }
  return fs.existsSync(path.join(stateDir, 'config.json'));
}

/** Layers used by running or kept containers; stale container directories are collected into `stale`. */
function liveContainerLayers(store: ImageStore, stale: string[]): Set<string> {
  const live = new Set<string>();
  for (const id of listDir(store.p('containers'))) {
    const dir = store.p('containers', id);
    const lock = FileLock.tryAcquire(path.join(dir, 'lock'));
    if (lock) {
      lock.release();
      if (!isKept(dir)) {
        stale.push(dir);
        continue;
      }
    }
    try {
      for (const d of JSON.parse(fs.readFileSync(path.join(dir, 'layers.json'), 'utf8')) as string[]) live.add(d.slice(7));
    } catch {
      /* written right after the lock is taken: a container starting now uses layers of a live image */
    }
  }
  return live;
}

export async function collectGarbage(store: ImageStore): Promise<GcResult> {
  const lock = await store.lockExclusive();
  const helper = new StoreHelper();
  try {
    const images = store.images();
    const stale: string[] = [];
    const liveLayers = liveContainerLayers(store, stale);
    const liveBlobs = new Set<string>();
    for (const img of images) {
      for (const d of [img.id, img.manifestDigest, img.indexDigest, ...img.layers.map((l) => l.digest)]) if (d) liveBlobs.add(d.slice(7));
      for (const l of img.layers) liveLayers.add(l.diffId.slice(7));
    }
    // The build cache's layers stay until `image prune` drops the cache.
    for (const l of cachedLayers(store)) {
      liveBlobs.add(l.digest.slice(7));
      liveLayers.add(l.diffId.slice(7));
    }

    const result: GcResult = { layers: 0, blobs: 0, containers: stale.length, bytes: 0 };
    const doomed: string[] = [...stale];
    // Layers: renamed out of the way at once (a rename needs no rights inside them), deleted by the helper.
    const trash = store.p('trash');
    for (const hex of listDir(store.p('layers'))) {
      if (hex === 'tmp' || liveLayers.has(hex)) continue;
      fs.mkdirSync(trash, { recursive: true });
      const to = path.join(trash, `${hex}.${Date.now()}`);
      fs.renameSync(store.p('layers', hex), to);
      fs.rmSync(store.p('l', hex.slice(0, 16)), { force: true });
      result.layers++;
    }
    doomed.push(...listDir(trash).map((t) => path.join(trash, t)));
    // Extractions that a killed pull left half-done (nobody else can be extracting: we hold the store lock).
    doomed.push(...listDir(store.p('layers', 'tmp')).map((t) => store.p('layers', 'tmp', t)));
    for (const hex of listDir(store.p('blobs', 'sha256'))) {
      if (liveBlobs.has(hex)) continue;
      const p = store.p('blobs', 'sha256', hex);
      result.bytes += fileSize(p);
      fs.rmSync(p, { force: true });
      result.blobs++;
    }
    for (const f of listDir(store.p('blobs', 'partial'))) fs.rmSync(store.p('blobs', 'partial', f), { force: true });
    await helper.remove(doomed);
    return result;
  } finally {
    await helper.close();
    lock.release();
  }
}
