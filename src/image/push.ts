/**
 * `push`: store → registry. The image goes as it is stored: its manifest
 * and its compressed blobs byte for byte (an image pulled from elsewhere
 * keeps its digests; nothing is recompressed). Blobs the repository has are
 * skipped, blobs that another repository of the same registry has (the
 * store's repo digests say where images were pulled from) are mounted,
 * the rest uploaded, several at once; the manifest goes last, so the tag
 * never names an image whose blobs are not all there.
 */
import fs = require('node:fs');
import { createHash } from 'node:crypto';
import { NookError, UsageError } from '../errors';
import { eachLimited } from '../util/limited';
import { formatPlatform, MediaType, parseManifest, type Descriptor } from './manifest';
import { formatReference, parseReference, type Reference } from './reference';
import { normalizeRegistry } from './registry/config';
import { DEFAULT_CHUNK_SIZE, RegistryUploader, type BlobOutcome } from './registry/upload';
import { findImage } from './store/lookup';
import type { ImageRecord, ImageStore } from './store/store';

export type BlobPushState = 'waiting' | 'pushing' | 'exists' | 'mounted' | 'pushed';

/** What a push tells its progress display. */
export interface PushEvents {
  /** Before the first blob: where it goes, and the blobs (layers, then the config), with the repository each may be mounted from. */
  resolved?(dest: string, blobs: PushBlob[]): void;
  blob?(digest: string, state: BlobPushState, done?: number, total?: number): void;
  /** Something the user should know that does not stop the push. */
  note?(message: string): void;
  retry?(what: string, attempt: number, err: Error): void;
}

export interface PushBlob extends Descriptor {
  /** A repository of the same registry that has the blob. */
  mountFrom?: string;
}

export type ManifestFormat = 'oci' | 'docker';

export interface PushOptions {
  /** Push the manifest in this format (media types rewritten; the blobs stay as they are). Default: as stored. */
  format?: ManifestFormat;
  tlsVerify?: boolean;
  authFile?: string;
  /** Blobs sent at once (default 3, as pull). */
  concurrency?: number;
  /** Blobs larger than this go in PATCH chunks of this size (default $NOOK_PUSH_CHUNK_SIZE, else 64 MiB). */
  chunkSize?: number;
  events?: PushEvents;
}

export interface PushResult {
  /** Where it went: "localhost:5000/app:v1". */
  reference: string;
  /** The tag pushed, undefined for a push by digest. */
  tag?: string;
  /** The manifest's digest, and its size in bytes (what `docker push` prints). */
  digest: string;
  size: number;
  /** "registry/repo@digest", now among the image's repo digests. */
  repoDigest: string;
  record: ImageRecord;
  /** How many blobs were skipped, mounted and uploaded. */
  blobs: Record<BlobOutcome, number>;
}

/** NOOK_PUSH_CHUNK_SIZE (bytes), for tests that want chunked uploads of small blobs. */
function chunkSizeFromEnv(): number {
  const v = Number(process.env.NOOK_PUSH_CHUNK_SIZE);
  return Number.isSafeInteger(v) && v > 0 ? v : DEFAULT_CHUNK_SIZE;
}

/** The destination: DEST, or the name the image was found by; a tag defaults to latest. */
function destination(source: string, dest: string | undefined, foundByName: boolean): Reference {
  if (dest !== undefined) return parseReference(dest);
  if (!foundByName)
    throw new UsageError(`${source} is an image id, not a name to push to`, `give the destination too: nook push ${source} REGISTRY/REPOSITORY[:TAG]`);
  return parseReference(source);
}

/**
 * For each blob, a repository of `registry` other than `repository` that
 * has it: from the repo digests of the store's images that contain the blob
 * (the pushed image's own first), since that is where they were pulled from.
 */
function mountSources(store: ImageStore, image: ImageRecord, registry: string, repository: string): Map<string, string> {
  const out = new Map<string, string>();
  const images = [image, ...store.images().filter((r) => r.id !== image.id)];
  for (const img of images) {
    const repos = img.repoDigests
      .map((rd) => {
        const at = rd.lastIndexOf('@');
        const slash = rd.indexOf('/');
        return at > slash && slash > 0 ? { registry: rd.slice(0, slash), repository: rd.slice(slash + 1, at) } : undefined;
      })
      .filter((r) => r && normalizeRegistry(r.registry) === registry && r.repository !== repository)
      .map((r) => r!.repository);
    if (!repos.length) continue;
    for (const digest of [img.id, ...img.layers.map((l) => l.digest)]) if (!out.has(digest)) out.set(digest, repos[0]);
  }
  return out;
}

/** The same things under OCI's and Docker's media types (Docker's schema 2 has no zstd or uncompressed layers). */
const OCI_TO_DOCKER: Record<string, string> = {
  [MediaType.OCI_MANIFEST]: MediaType.DOCKER_MANIFEST,
  [MediaType.OCI_CONFIG]: MediaType.DOCKER_CONFIG,
  'application/vnd.oci.image.layer.v1.tar+gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
};
const DOCKER_TO_OCI = Object.fromEntries(Object.entries(OCI_TO_DOCKER).map(([oci, docker]) => [docker, oci]));

/**
 * The manifest with its media types in `format`: the same blobs, so the
 * same image, but another manifest digest. Unchanged when it is in that
 * format already.
 */
export function convertManifest(body: Buffer, format: ManifestFormat, name: string): { body: Buffer; mediaType: string } {
  const doc = JSON.parse(body.toString()) as { mediaType?: string; config: { mediaType: string }; layers: { mediaType: string; digest: string }[] };
  const table = format === 'docker' ? OCI_TO_DOCKER : DOCKER_TO_OCI;
  const target = format === 'docker' ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST;
  if (doc.mediaType === target) return { body, mediaType: target };
  const map = (type: string, what: string): string => {
    if (Object.values(table).includes(type)) return type;
    const out = table[type];
    if (!out)
      throw new NookError(`${name} cannot be pushed in ${format === 'docker' ? "Docker's" : 'the OCI'} format: ${what} is ${type}, which it has no media type for`, {
        hint: format === 'docker' ? "push it as it is (without --format docker): Docker's schema 2 knows gzip layers only" : 'push it as it is (without --format)',
      });
    return out;
  };
  doc.mediaType = target;
  doc.config.mediaType = map(doc.config.mediaType, 'its config');
  for (const l of doc.layers) l.mediaType = map(l.mediaType, `layer ${l.digest}`);
  return { body: Buffer.from(JSON.stringify(doc)), mediaType: target };
}

/** The manifest as stored, checked to be one image whose blobs are all in the store. */
function storedManifest(store: ImageStore, record: ImageRecord, name: string): { body: Buffer; mediaType: string; blobs: Descriptor[] } {
  let body: Buffer;
  try {
    body = fs.readFileSync(store.blobs.path(record.manifestDigest));
  } catch (e) {
    throw new NookError(`the manifest of ${name} (${record.manifestDigest}) is missing from the store`, {
      hint: 'the store is damaged; pull or build the image again',
      cause: e,
    });
  }
  const manifest = parseManifest(body, record.manifestMediaType);
  if (manifest.kind !== 'manifest') throw new NookError(`the stored manifest of ${name} is an index, not an image`, { hint: 'pull or build the image again' });
  const blobs = [...manifest.layers, manifest.config].filter((d, i, all) => all.findIndex((o) => o.digest === d.digest) === i);
  for (const b of blobs)
    if (!store.blobs.has(b.digest))
      throw new NookError(`blob ${b.digest} of ${name} is missing from the store`, { hint: 'pull or build the image again, then push' });
  return { body, mediaType: manifest.mediaType || record.manifestMediaType, blobs };
}

export async function pushImage(store: ImageStore, source: string, dest: string | undefined, opts: PushOptions = {}): Promise<PushResult> {
  const found = findImage(store, source);
  if (!found) throw new NookError(`No such image: ${source}`, { hint: 'push an image of the store (see nook images): pull, load, build or commit it first' });
  const target = destination(source, dest, found.name !== undefined);
  const reference = formatReference(target);
  const events = opts.events ?? {};

  // Held while blobs are read: garbage collection must not take them meanwhile.
  const lock = await store.lockShared();
  try {
    const record = store.image(found.record.id) ?? found.record;
    const manifest = storedManifest(store, record, source);
    if (opts.format) Object.assign(manifest, convertManifest(manifest.body, opts.format, source));
    const digest = `sha256:${createHash('sha256').update(manifest.body).digest('hex')}`;
    if (target.digest && target.digest !== digest)
      throw new UsageError(`${reference} names digest ${target.digest}, but the image's manifest is ${digest}`, 'push by tag, or give the digest of this image');
    if (record.indexDigest)
      events.note?.(`${source} was pulled from a multi-platform index: pushing its ${formatPlatform(record.platform)} image only (its own manifest ${digest})`);

    const registry = normalizeRegistry(target.registry);
    const sources = mountSources(store, record, registry, target.repository);
    const uploader = new RegistryUploader(registry, target.repository, {
      tlsVerify: opts.tlsVerify,
      authFile: opts.authFile,
      mountFrom: [...new Set(sources.values())],
      chunkSize: opts.chunkSize ?? chunkSizeFromEnv(),
      onRetry: (what, attempt, err) => events.retry?.(what, attempt, err),
    });

    events.resolved?.(reference, manifest.blobs.map((b) => ({ ...b, mountFrom: sources.get(b.digest) })));
    for (const b of manifest.blobs) events.blob?.(b.digest, 'waiting', 0, b.size);
    const counts: Record<BlobOutcome, number> = { exists: 0, mounted: 0, uploaded: 0 };
    const cancel = new AbortController();
    await eachLimited(manifest.blobs, opts.concurrency ?? 3, cancel, async (b) => {
      const outcome = await uploader.pushBlob(
        { digest: b.digest, size: b.size, file: store.blobs.path(b.digest) },
        {
          mountFrom: sources.get(b.digest),
          signal: cancel.signal,
          onProgress: (done) => events.blob?.(b.digest, 'pushing', done, b.size),
        },
      );
      counts[outcome]++;
      events.blob?.(b.digest, outcome === 'uploaded' ? 'pushed' : outcome, b.size, b.size);
    });

    await uploader.putManifest(target.digest ?? target.tag!, manifest.body, manifest.mediaType);
    const repoDigest = `${registry}/${target.repository}@${digest}`;
    await store.addRepoDigest(record.id, repoDigest);
    return {
      reference,
      tag: target.digest ? undefined : target.tag,
      digest,
      size: manifest.body.length,
      repoDigest,
      record: store.image(record.id) ?? record,
      blobs: counts,
    };
  } finally {
    lock.release();
  }
}
