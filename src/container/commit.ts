/**
 * A container's writable layer as an image (`nook commit`) or as a list of
 * changes (`nook diff`). The container's directory in the store (rootfs.ts)
 * holds either an overlayfs upper dir, which is the diff, or (copy mode) a
 * private copy of the image's layers, diffed against them. Either is read by
 * the store helper, as root of the user namespace: the files' owners are the
 * container's, and may be ids the user cannot read as.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import type { ContainerConfig as ImageRunConfig } from '../image/config';
import { commitLayer, type NewLayer } from '../image/layer/commit-layer';
import type { Change } from '../image/layer/changes';
import type { LayerSource } from '../image/layer/source';
import { StoreHelper } from '../image/store/helper-client';
import { findImage } from '../image/store/lookup';
import { ImageStore, type ImageRecord } from '../image/store/store';
import { writeImage, type ImageFormat } from '../image/write-image';
import { pauseContainer } from './pause';
import type { ContainerDir } from './state';
import { liveState } from './status';

interface ContainerLayer {
  base: ImageRecord;
  source: LayerSource;
  /** The image's layer dirs, bottom first. */
  lowers: string[];
}

const uniq = (ids: string[]) => [...new Set(ids)];

/** The image the container was made from, and where its changes are. */
function containerLayer(store: ImageStore, dir: ContainerDir): ContainerLayer {
  const config = dir.config();
  const name = config.name;
  if (!config.rootDir || !fs.existsSync(config.rootDir))
    throw new NookError(`container ${name} has no writable layer: it was run from a directory, not an image`, {
      hint: 'commit and diff work on containers run from an image (nook run IMAGE ...)',
    });
  let diffIds: string[];
  try {
    diffIds = JSON.parse(fs.readFileSync(path.join(config.rootDir, 'layers.json'), 'utf8')) as string[];
  } catch {
    throw new NookError(`container ${name}'s writable layer is incomplete (no layers.json)`);
  }
  // The image as named at creation, unless that name now points elsewhere: then any image with exactly these layers.
  const sameLayers = (r: ImageRecord) => JSON.stringify(uniq(r.layers.map((l) => l.diffId))) === JSON.stringify(diffIds);
  let base: ImageRecord | undefined;
  try {
    base = findImage(store, config.image)?.record;
  } catch {
    base = undefined;
  }
  if (!base || !sameLayers(base)) base = store.images().find(sameLayers);
  if (!base)
    throw new NookError(`the image container ${name} was created from (${config.image}) is no longer in the store`, {
      hint: `pull it again (nook pull ${config.image}), then retry`,
    });
  const lowers = base.layers.map((l) => store.layerDir(l.diffId));
  const upper = path.join(config.rootDir, 'upper');
  const source: LayerSource = fs.existsSync(upper) ? { upper, lowers } : { rootfs: path.join(config.rootDir, 'rootfs'), lowers };
  return { base, source, lowers };
}

/** Runs `fn` with the container paused if it runs (and `pause`), resuming it afterwards, also on failure. */
export async function whilePaused<T>(dir: ContainerDir, pause: boolean, fn: () => Promise<T>): Promise<T> {
  const state = liveState(dir);
  const paused = pause && state.display === 'running' ? await pauseContainer(state) : undefined;
  if (!paused) return fn();
  // Interrupted meanwhile (Ctrl-C, a kill): resume the container first, then die of the signal as before.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (sig: NodeJS.Signals) => {
    paused.resume();
    for (const s of signals) process.removeListener(s, onSignal);
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.once(s, onSignal);
  try {
    return await fn();
  } finally {
    for (const s of signals) process.removeListener(s, onSignal);
    paused.resume();
  }
}

export interface CommitOptions {
  /** Pause a running container while its files are read (default true, as docker). */
  pause: boolean;
  /** Applies the -c changes to the image's container config. */
  changeConfig: (c: ImageRunConfig) => ImageRunConfig;
  message?: string;
  author?: string;
  format: ImageFormat;
  names: string[];
  /** The image's `created` (default now). */
  created?: string;
  /** SOURCE_DATE_EPOCH: file times later than this are written as this (reproducible commits). */
  sourceDateEpoch?: number;
}

export interface Committed {
  image: ImageRecord;
  layer: NewLayer;
}

export async function commitContainer(store: ImageStore, dir: ContainerDir, opts: CommitOptions): Promise<Committed> {
  // Held until the image names the new layer: garbage collection must not take it in between.
  const lock = await store.lockShared();
  const helper = new StoreHelper();
  try {
    const { base, source } = containerLayer(store, dir);
    const layer = await whilePaused(dir, opts.pause, () => commitLayer(store, helper, source, { sourceDateEpoch: opts.sourceDateEpoch }));
    const baseConfig = store.config(base);
    const config = dir.config();
    const image = await writeImage(store, {
      base,
      layers: [layer],
      config: { ...baseConfig, ...(opts.author ? { author: opts.author } : {}), config: opts.changeConfig(baseConfig.config ?? {}) },
      history: [
        {
          // docker records the container's command.
          created_by: config.command.join(' '),
          ...(opts.message ? { comment: opts.message } : {}),
          ...(opts.author ? { author: opts.author } : {}),
          ...(layer.empty ? { empty_layer: true } : {}),
        },
      ],
      format: opts.format,
      names: opts.names,
      created: opts.created,
    });
    return { image, layer };
  } finally {
    await helper.close();
    lock.release();
  }
}

/** What `nook diff` prints: the container's changes, sorted by path. */
export async function containerChanges(store: ImageStore, dir: ContainerDir): Promise<Change[]> {
  const { source, lowers } = containerLayer(store, dir);
  const helper = new StoreHelper();
  try {
    return await helper.changes(source, lowers);
  } finally {
    await helper.close();
  }
}
