/**
 * A new image in the store from a base image (or scratch), new layers and a
 * config: what `nook commit` and `nook build` end with (go-containerregistry's
 * mutate.Append + mutate.Config). Writes the config and manifest blobs,
 * records the image and tags it. The base's layers are kept as they are
 * (same blobs, same digests: a push finds them on the registry already);
 * only their media type follows the format asked for.
 */
import type { Writable } from 'node:stream';
import { NookError, UsageError } from '../errors';
import type { ContainerConfig, ImageConfig } from './config';
import type { NewLayer } from './layer/commit-layer';
import { hostPlatform, MediaType } from './manifest';
import { formatReference, parseReference } from './reference';
import { recordImage } from './store/install';
import type { ImageRecord, ImageStore, LayerRecord } from './store/store';

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  author?: string;
  empty_layer?: boolean;
}

export type ImageFormat = 'oci' | 'docker';

export interface NewImageSpec {
  /** undefined: FROM scratch. */
  base?: ImageRecord;
  /** Appended in order; empty ones are not layers and are skipped. */
  layers: NewLayer[];
  /** The final config (Env, Cmd, ...); rootfs.diff_ids, history and created are computed here. */
  config: Partial<ImageConfig> & { config?: ContainerConfig };
  /** Appended to the base's; one entry without empty_layer per non-empty new layer. */
  history: HistoryEntry[];
  format: ImageFormat;
  /** Default: SOURCE_DATE_EPOCH if set, else now. */
  created?: string;
  /** Names to tag (as `nook tag` does); may be empty. */
  names: string[];
}

const LAYER_TYPES: Record<ImageFormat, Record<string, string>> = {
  docker: {
    'application/vnd.oci.image.layer.v1.tar+gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    'application/vnd.oci.image.layer.v1.tar': 'application/vnd.docker.image.rootfs.diff.tar',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  },
  oci: {
    'application/vnd.docker.image.rootfs.diff.tar.gzip': 'application/vnd.oci.image.layer.v1.tar+gzip',
    'application/vnd.docker.image.rootfs.diff.tar': 'application/vnd.oci.image.layer.v1.tar',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  },
};

/** `created` of a new image: SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
export function defaultCreated(env: NodeJS.ProcessEnv = process.env): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== '') {
    if (!/^\d+$/.test(epoch)) throw new UsageError(`SOURCE_DATE_EPOCH=${epoch} is not a number of seconds`, 'set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)');
    return new Date(Number(epoch) * 1000).toISOString().replace('.000Z', 'Z');
  }
  return new Date().toISOString();
}

export async function writeImage(store: ImageStore, spec: NewImageSpec): Promise<ImageRecord> {
  const names = spec.names.map(normalName);
  const created = spec.created ?? defaultCreated();
  const base = spec.base ? store.config(spec.base) : undefined;
  const added = spec.layers.filter((l) => !l.empty);
  const newLayerEntries = spec.history.filter((h) => !h.empty_layer).length;
  if (newLayerEntries !== added.length)
    throw new NookError(`internal error: ${added.length} new layer(s) but ${newLayerEntries} history entries for layers`, {
      hint: 'mark the history entries of steps without a layer with empty_layer',
    });
  const baseLayers = spec.base?.layers ?? [];
  const layers: LayerRecord[] = [...baseLayers, ...added.map(({ empty: _, ...l }) => l)].map((l) => ({
    ...l,
    mediaType: LAYER_TYPES[spec.format][l.mediaType] ?? l.mediaType,
  }));
  const platform = hostPlatform();
  const { architecture, os, variant } = { ...platform, ...pick(base), ...pick(spec.config) };
  // A fixed key order: the same inputs give the same config digest.
  const config: ImageConfig = {
    architecture,
    os,
    ...(variant ? { variant } : {}),
    created,
    ...(spec.config.author ? { author: spec.config.author } : {}),
    config: spec.config.config ?? base?.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [...(base?.history ?? []), ...spec.history.map((h) => historyEntry(h, created))],
  };
  const docker = spec.format === 'docker';
  const configBody = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configBody);
  const manifestBody = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST,
      config: { mediaType: docker ? MediaType.DOCKER_CONFIG : MediaType.OCI_CONFIG, digest: configDigest, size: configBody.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = sha256(manifestBody);
  const lock = await store.lockShared();
  try {
    for (const l of layers)
      if (!store.blobs.has(l.digest) || !store.hasLayer(l.diffId))
        throw new NookError(`cannot write the image: its layer ${l.digest} is missing from the store`, {
          hint: spec.base && baseLayers.includes(l) ? 'pull the base image again' : 'the store was garbage-collected meanwhile; run the command again',
        });
    await writeBlob(store, configDigest, configBody);
    await writeBlob(store, manifestDigest, manifestBody);
    return await recordImage(
      store,
      {
        manifestDigest,
        manifestMediaType: docker ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST,
        configDigest,
        config,
        layers,
        repoDigests: [],
      },
      names,
    );
  } finally {
    lock.release();
  }
}

function pick(c: Partial<ImageConfig> | undefined): Partial<Pick<ImageConfig, 'architecture' | 'os' | 'variant'>> {
  const out: Partial<Pick<ImageConfig, 'architecture' | 'os' | 'variant'>> = {};
  if (c?.architecture) out.architecture = c.architecture;
  if (c?.os) out.os = c.os;
  if (c?.variant) out.variant = c.variant;
  return out;
}

function historyEntry(h: HistoryEntry, created: string): NonNullable<ImageConfig['history']>[number] {
  return {
    created: h.created ?? created,
    ...(h.created_by !== undefined ? { created_by: h.created_by } : {}),
    ...(h.author !== undefined ? { author: h.author } : {}),
    ...(h.comment !== undefined ? { comment: h.comment } : {}),
    ...(h.empty_layer ? { empty_layer: true } : {}),
  };
}

export function normalName(name: string): string {
  const ref = parseReference(name);
  if (ref.digest) throw new UsageError(`cannot name an image with a digest: "${name}"`, 'give a name with a tag, e.g. myimage:1');
  return formatReference(ref);
}

function sha256(body: Buffer): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

async function writeBlob(store: ImageStore, digest: string, body: Buffer): Promise<void> {
  if (store.blobs.has(digest)) return;
  const w: Writable = store.blobs.writer(digest, body.length);
  await new Promise<void>((resolve, reject) => {
    w.on('error', reject);
    w.end(body, () => resolve());
  });
}
