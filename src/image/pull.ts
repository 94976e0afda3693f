/**
 * `pull`: registry → store. Resolves the reference to one manifest (choosing
 * the platform from an index), fetches the config, then downloads layers in
 * parallel and hands each finished blob to the store helper for extraction,
 * so downloading, verifying and extracting overlap. The image record and
 * its name are written last: an interrupted pull leaves blobs and layers
 * that the next pull reuses, and no half-image anybody could run.
 */
import fs = require('node:fs');
import os = require('node:os');
import { NookError } from '../errors';
import { writeFileAtomic } from '../util/atomic';
import { eachLimited } from '../util/limited';
import { parseImageConfig } from './config';
import { formatPlatform, hostPlatform, parseManifest, selectPlatform, type ImageManifest, type Platform } from './manifest';
import { formatReference, parseReference, type Reference } from './reference';
import { RegistryClient } from './registry/client';
import { StoreHelperPool } from './store/helper-client';
import { extractIntoStore, recordImage } from './store/install';
import type { ImageRecord, ImageStore, LayerRecord } from './store/store';

export type LayerState = 'waiting' | 'downloading' | 'verifying' | 'extracting' | 'done' | 'exists';

/** What a pull tells its progress display. */
export interface PullEvents {
  resolved?(ref: string, digest: string, layers: LayerRecord[]): void;
  layer?(diffId: string, state: LayerState, done?: number, total?: number): void;
  warning?(message: string): void;
  retry?(what: string, attempt: number, err: Error): void;
}

export interface PullOptions {
  platform?: Platform;
  tlsVerify?: boolean;
  authFile?: string;
  squashIds?: boolean;
  debug?: boolean;
  /** --max-layer-expansion: how many times its compressed size a layer may decompress to (default 100; 0: no limit). */
  maxExpansion?: number;
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  events?: PullEvents;
}

function storeManifest(store: ImageStore, digest: string, body: Buffer): void {
  const file = store.blobs.path(digest);
  if (!fs.existsSync(file)) writeFileAtomic(file, body);
}

export async function pullImage(store: ImageStore, input: string, opts: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(input);
  const name = formatReference(ref);
  const events = opts.events ?? {};
  const client = new RegistryClient(ref.registry, ref.repository, {
    tlsVerify: opts.tlsVerify,
    authFile: opts.authFile,
    onRetry: (what, attempt, err) => events.retry?.(what, attempt, err),
  });
  const want = opts.platform ?? hostPlatform();

  // Held from the first blob written: garbage collection must not take blobs that no image names yet.
  store.checkFilesystem();
  const lock = await store.lockShared();
  // Layers are extracted side by side, one helper per CPU (at most 3, as many as download at once).
  const helper = new StoreHelperPool(Math.max(1, Math.min(3, os.availableParallelism())));
  try {
    // pullWith settles only once all its downloads and extractions have ended: nothing writes after this.
    return await pullWith(store, client, ref, name, want, helper, opts);
  } finally {
    await helper.close();
    lock.release();
  }
}

async function pullWith(
  store: ImageStore,
  client: RegistryClient,
  ref: Reference,
  name: string,
  want: Platform,
  helper: StoreHelperPool,
  opts: PullOptions,
): Promise<ImageRecord> {
  const events = opts.events ?? {};
  let top = await client.getManifest(ref.digest ?? ref.tag!);
  let parsed = parseManifest(top.body, top.mediaType);
  let indexDigest: string | undefined;
  if (parsed.kind === 'index') {
    indexDigest = top.digest;
    storeManifest(store, top.digest, top.body);
    const chosen = selectPlatform(parsed, want, name);
    top = await client.getManifest(chosen.digest);
    parsed = parseManifest(top.body, top.mediaType);
    if (parsed.kind !== 'manifest') throw new NookError(`${name}: the index entry for ${formatPlatform(want)} is another index`);
  }
  const manifest: ImageManifest = parsed;
  storeManifest(store, top.digest, top.body);

  await client.fetchBlob(store.blobs, manifest.config);
  const config = parseImageConfig(fs.readFileSync(store.blobs.path(manifest.config.digest)), name);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length)
    throw new NookError(`${name} is malformed: its manifest lists ${manifest.layers.length} layers, its config ${diffIds.length}`);
  if (indexDigest === undefined && (config.os !== want.os || config.architecture !== want.architecture))
    events.warning?.(`${name} is built for ${config.os}/${config.architecture}, this host is ${formatPlatform(want)}; it may not run`);

  const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: diffIds[i] }));
  events.resolved?.(name, indexDigest ?? top.digest, layers);
  const missing = layers.filter((l, i) => layers.findIndex((o) => o.diffId === l.diffId) === i && !store.hasLayer(l.diffId));
  for (const l of layers) events.layer?.(l.diffId, missing.includes(l) ? 'waiting' : 'exists', 0, l.size);

  const extractions: Promise<unknown>[] = [];
  // The first layer that fails cancels the others' downloads (and their retries).
  const cancel = new AbortController();
  try {
    await eachLimited(missing, opts.concurrency ?? 3, cancel, async (l) => {
      events.layer?.(l.diffId, 'downloading', 0, l.size);
      await client.fetchBlob(store.blobs, l, (done) => events.layer?.(l.diffId, done >= l.size ? 'verifying' : 'downloading', done, l.size), cancel.signal);
      cancel.signal.throwIfAborted();
      events.layer?.(l.diffId, 'extracting', 0, l.size);
      const extraction = extractIntoStore(store, helper, l, name, {
        squashIds: opts.squashIds,
        debug: opts.debug,
        maxExpansion: opts.maxExpansion,
        onProgress: (bytes) => events.layer?.(l.diffId, 'extracting', bytes, l.size),
        onWarning: (m) => events.warning?.(m),
      })
        .then(() => events.layer?.(l.diffId, 'done', l.size, l.size));
      // Not awaited here: the next download starts while this layer is extracted. A failed
      // extraction cancels the downloads still going.
      extraction.catch((e) => cancel.abort(e));
      extractions.push(extraction);
    });
  } finally {
    // Also when a download failed: extractions already handed to a helper end before the helpers are closed.
    await Promise.allSettled(extractions);
  }
  await Promise.all(extractions);

  return recordImage(
    store,
    {
      manifestDigest: top.digest,
      manifestMediaType: manifest.mediaType,
      indexDigest,
      configDigest: manifest.config.digest,
      config,
      layers,
      repoDigests: [`${ref.registry}/${ref.repository}@${indexDigest ?? top.digest}`],
    },
    [name],
  );
}
