/**
 * Removing images as `image prune` and `system prune` do: those without a
 * name (or, with `all`, every image), except those in `keep` (used by
 * containers), then the layers and blobs nothing needs any more.
 */
import { collectGarbage, type GcResult } from './gc';
import type { ImageRecord, ImageStore } from './store';
import { dropBuildCache } from './build-cache';

export async function pruneImages(store: ImageStore, opts: { all: boolean; keep?: ReadonlySet<string> }): Promise<{ deleted: ImageRecord[]; gc: GcResult }> {
  const deleted = await store.updateRefs((refs) => {
    const named = new Set(Object.values(refs));
    const victims = store.images().filter((r) => (opts.all || !named.has(r.id)) && !opts.keep?.has(r.id));
    for (const [n, id] of Object.entries(refs)) if (victims.some((v) => v.id === id)) delete refs[n];
    return victims;
  });
  for (const r of deleted) store.deleteImage(r.id);
  // The build cache holds layers no image may name: it goes too (the next build makes it again).
  dropBuildCache(store);
  return { deleted, gc: await collectGarbage(store) };
}
