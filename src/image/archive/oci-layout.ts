/**
 * OCI image layouts in a tar (what `podman save --format oci-archive`,
 * `skopeo copy oci-archive:` and `docker save` since 25 write):
 *
 *   oci-layout           {"imageLayoutVersion":"1.0.0"}
 *   index.json           an image index: one descriptor per name
 *   blobs/sha256/<hex>   manifests, configs and layers, as a registry serves them
 *
 * The name is in the descriptor's annotations: io.containerd.image.name
 * holds it in full (docker, containerd, nook), org.opencontainers.image.ref.name
 * holds the tag, or in some tools' archives a whole name.
 */
import fs = require('node:fs');
import { Readable } from 'node:stream';
import { NookError } from '../../errors';
import { parseImageConfig } from '../config';
import { hostPlatform, MediaType, parseManifest, selectPlatform, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../manifest';
import type { ImageRecord, ImageStore, LayerRecord } from '../store/store';
import { layerMediaType } from './compression';
import { plainLayer } from './plain-layer';
import type { Ingested } from './ingest';
import { buildManifest } from './manifest-build';
import type { ImageToInstall } from './install';
import { familiarName, normalizeName, repoAndTag } from './names';
import type { Spool } from './spool';
import type { TarWriter } from './tar-writer';
import { verifyBlob, verifyLayer } from './verify';

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME = 'io.containerd.image.name';

const DAMAGED = 'the archive is damaged; save it again';

/** The file a descriptor points at: blobs/<algorithm>/<hex>, checked against the descriptor. */
export function layoutBlob(spool: Spool, desc: Descriptor, referrer: string): Ingested {
  const [alg, hex] = desc.digest.split(':');
  if (alg !== 'sha256')
    throw new NookError(`${referrer} in ${spool.what} refers to ${desc.digest}: nook supports sha256 digests only`, { hint: 'save the image again with sha256 digests' });
  const name = `blobs/${alg}/${hex}`;
  const file = spool.require(name, referrer);
  verifyBlob(file, desc, name, spool.what);
  return file;
}

function parseIn(spool: Spool, file: Ingested, name: string, mediaType?: string): ImageManifest | ImageIndex {
  try {
    return parseManifest(spool.read(file, name), mediaType || undefined);
  } catch (e) {
    throw new NookError(`${name} in ${spool.what}: ${(e as Error).message}`, { hint: DAMAGED });
  }
}

/** The image index index.json. */
export function layoutIndex(spool: Spool): ImageIndex {
  const file = spool.require('index.json', 'the OCI layout');
  const index = parseIn(spool, file, 'index.json', MediaType.OCI_INDEX);
  if (index.kind !== 'index') throw new NookError(`index.json in ${spool.what} is not an image index`, { hint: DAMAGED });
  return index;
}

/** The names a descriptor of index.json gives its image, in full form. */
export function descriptorNames(desc: Descriptor, what: string): string[] {
  const a = desc.annotations ?? {};
  const full = a[CONTAINERD_NAME];
  if (full) return [normalizeName(full, `index.json in ${what}`)];
  // A ref.name without ":", "/" or "@" is a tag without a repository ("12", "latest"): no name to give.
  const ref = a[REF_NAME];
  if (ref && /[:/@]/.test(ref)) return [normalizeName(ref, `index.json in ${what}`)];
  return [];
}

/** One image of the layout, checked from its manifest down to every layer. */
function readImage(spool: Spool, desc: Descriptor, want: Platform): ImageToInstall {
  const what = spool.what;
  let file = layoutBlob(spool, desc, 'index.json');
  let parsed = parseIn(spool, file, `blobs/sha256/${desc.digest.slice(7)}`, desc.mediaType);
  let manifestDesc = desc;
  const blobs: ImageToInstall['blobs'] = [];
  let indexDigest: string | undefined;
  const names = descriptorNames(desc, what);
  const label = names[0] ? familiarName(names[0]) : desc.digest.slice(0, 19);
  if (parsed.kind === 'index') {
    indexDigest = desc.digest;
    blobs.push({ digest: desc.digest, file });
    manifestDesc = selectPlatform(parsed, want, `${label} in ${what}`);
    file = layoutBlob(spool, manifestDesc, `the image index of ${label}`);
    parsed = parseIn(spool, file, `blobs/sha256/${manifestDesc.digest.slice(7)}`, manifestDesc.mediaType);
    if (parsed.kind !== 'manifest') throw new NookError(`${label} in ${what}: the index entry for its platform is another index`, { hint: DAMAGED });
  }
  const manifest = parsed;
  blobs.push({ digest: manifestDesc.digest, file });

  const configFile = layoutBlob(spool, manifest.config, `the manifest of ${label}`);
  const config = parseImageConfig(spool.read(configFile, 'the image config'), `${label} in ${what}`);
  blobs.push({ digest: manifest.config.digest, file: configFile });
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length)
    throw new NookError(`${label} in ${what} is malformed: its manifest lists ${manifest.layers.length} layers, its config ${diffIds.length}`, { hint: DAMAGED });

  const layers: LayerRecord[] = manifest.layers.map((l, i) => {
    const layerFile = layoutBlob(spool, l, `the manifest of ${label}`);
    verifyLayer(layerFile, diffIds[i], `blobs/sha256/${l.digest.slice(7)}`, i, label, what);
    blobs.push({ digest: l.digest, file: layerFile });
    return { digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: diffIds[i] };
  });

  return {
    names,
    configDigest: manifest.config.digest,
    config,
    manifestDigest: manifestDesc.digest,
    manifestMediaType: manifest.mediaType || manifestDesc.mediaType || MediaType.OCI_MANIFEST,
    indexDigest,
    layers,
    blobs,
    label,
  };
}

/** Every image index.json names (for an index, the one for `want`), names merged per image; all checked. */
export function readOciLayout(spool: Spool, want: Platform = hostPlatform()): ImageToInstall[] {
  const layout = spool.get('oci-layout');
  if (layout) {
    const v = (spool.json('oci-layout', 'the OCI layout') as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof v !== 'string' || !v.startsWith('1.'))
      throw new NookError(`${spool.what} is an OCI layout of version ${JSON.stringify(v)}, nook reads version 1`);
  }
  const index = layoutIndex(spool);
  if (!index.manifests.length) throw new NookError(`${spool.what} holds no images: its index.json is empty`);
  const byManifest = new Map<string, ImageToInstall>();
  for (const desc of index.manifests) {
    const img = readImage(spool, desc, want);
    const seen = byManifest.get(img.manifestDigest);
    if (seen) seen.names = [...new Set([...seen.names, ...img.names])];
    else byManifest.set(img.manifestDigest, img);
  }
  return [...byManifest.values()];
}

// ---- writing

export interface SaveItem {
  record: ImageRecord;
  /** Full names ("docker.io/library/debian:12") to save it under; none for an image saved by id. */
  names: string[];
}

/** The time stamp of an image's files in an archive: its creation, so that saving twice gives the same archive. */
export function imageTime(record: ImageRecord): Date {
  const t = record.created ? Date.parse(record.created) : NaN;
  return new Date(Number.isNaN(t) || t <= 0 ? 0 : t);
}

function blobSize(store: ImageStore, digest: string, label: string): number {
  try {
    return fs.statSync(store.blobs.path(digest)).size;
  } catch {
    throw new NookError(`the store lacks blob ${digest} of ${label}`, { hint: `pull or load ${label} again` });
  }
}

interface PlannedBlob {
  digest: string;
  size: number;
  open(): Readable;
}

/**
 * The blobs of one image to write, manifest last. `uncompressed` (podman's
 * save --uncompressed): compressed layers are written decompressed, under
 * their diff_ids, with a new OCI manifest that lists them as plain tars;
 * the config, and so the image id, stays the same.
 */
async function imageBlobs(store: ImageStore, item: SaveItem, label: string, uncompressed: boolean): Promise<{ blobs: PlannedBlob[]; manifest: Descriptor }> {
  const r = item.record;
  const stored = (digest: string): PlannedBlob => ({ digest, size: blobSize(store, digest, label), open: () => fs.createReadStream(store.blobs.path(digest)) });
  const config = stored(r.id);
  if (uncompressed && r.layers.some((l) => l.digest !== l.diffId)) {
    const layers: PlannedBlob[] = [];
    for (const l of r.layers) {
      const plain = await plainLayer(store, l, label);
      layers.push({ digest: l.diffId, size: plain.size, open: plain.open });
    }
    const built = buildManifest(
      config,
      layers.map((l) => ({ mediaType: layerMediaType('none'), digest: l.digest, size: l.size })),
    );
    const manifest: PlannedBlob = { digest: built.digest, size: built.body.length, open: () => Readable.from([built.body]) };
    return { blobs: [...layers, config, manifest], manifest: { mediaType: built.mediaType, digest: built.digest, size: built.body.length, platform: r.platform } };
  }
  const manifest = stored(r.manifestDigest);
  return {
    blobs: [...r.layers.map((l) => stored(l.digest)), config, manifest],
    manifest: { mediaType: r.manifestMediaType, digest: r.manifestDigest, size: manifest.size, platform: r.platform },
  };
}

/** Writes `items` as an OCI layout: the blobs as stored (or layers uncompressed), then oci-layout and index.json. */
export async function writeOciArchive(store: ImageStore, items: SaveItem[], tar: TarWriter, opts: { uncompressed?: boolean } = {}): Promise<void> {
  const latest = new Date(Math.max(0, ...items.map((i) => imageTime(i.record).getTime())));
  const written = new Set<string>();
  const manifests: Descriptor[] = [];
  // Sizes first: a missing blob is reported before anything is written.
  const plan = [];
  for (const item of items) {
    const label = item.names[0] ? familiarName(item.names[0]) : item.record.id.slice(7, 19);
    plan.push({ item, ...(await imageBlobs(store, item, label, Boolean(opts.uncompressed))) });
  }
  await tar.dir('blobs', latest);
  await tar.dir('blobs/sha256', latest);
  for (const { item, blobs, manifest } of plan) {
    const mtime = imageTime(item.record);
    for (const b of blobs) {
      if (written.has(b.digest)) continue;
      written.add(b.digest);
      await tar.stream(`blobs/sha256/${b.digest.slice(7)}`, b.size, b.open(), mtime);
    }
    if (!item.names.length) manifests.push(manifest);
    for (const name of item.names) {
      const tag = repoAndTag(name)?.tag;
      manifests.push({ ...manifest, annotations: { [CONTAINERD_NAME]: name, ...(tag ? { [REF_NAME]: tag } : {}) } });
    }
  }
  await tar.file('oci-layout', `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`, latest);
  const index = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests };
  await tar.file('index.json', `${JSON.stringify(index)}\n`, latest);
}

/** For docker 25+'s archives (an OCI layout plus manifest.json): the layout's manifest for a config and its layers, if any. */
export function findLayoutManifest(spool: Spool, configDigest: string, layerDigests: string[]): { digest: string; mediaType: string; file: Ingested; manifest: ImageManifest } | undefined {
  let index: ImageIndex;
  try {
    index = layoutIndex(spool);
  } catch {
    return undefined;
  }
  const queue = [...index.manifests];
  for (let seen = 0; queue.length && seen < 1000; seen++) {
    const desc = queue.shift()!;
    let file: Ingested;
    let parsed: ImageManifest | ImageIndex;
    try {
      file = layoutBlob(spool, desc, 'index.json');
      parsed = parseIn(spool, file, desc.digest, desc.mediaType);
    } catch {
      continue; // Not every platform of an index need be in the archive.
    }
    if (parsed.kind === 'index') queue.push(...parsed.manifests);
    else if (parsed.config.digest === configDigest && parsed.layers.length === layerDigests.length && parsed.layers.every((l, i) => l.digest === layerDigests[i]))
      return { digest: desc.digest, mediaType: parsed.mediaType || desc.mediaType, file, manifest: parsed };
  }
  return undefined;
}
