/**
 * Image manifests and indexes as registries serve them: OCI image index and
 * manifest, Docker manifest list and schema 2. Parsing checks the shape we
 * rely on; `selectPlatform` picks the entry for a platform from an index,
 * and says which platforms exist when none fits.
 */
import { NookError } from '../errors';

export const MediaType = {
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  DOCKER_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_CONFIG: 'application/vnd.docker.container.image.v1+json',
} as const;

/** What a registry is asked to send, most preferred first. */
export const MANIFEST_ACCEPT = [MediaType.OCI_INDEX, MediaType.DOCKER_LIST, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

function invalid(what: string, why: string): NookError {
  return new NookError(`invalid ${what}: ${why}`, { hint: 'the registry sent something that is not an image manifest; check the reference' });
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw invalid(what, 'not an object');
  if (typeof d.digest !== 'string' || !/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(d.digest))
    throw invalid(what, `bad digest ${JSON.stringify(d.digest)}`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(what, `bad size ${JSON.stringify(d.size)}`);
  return { mediaType: String(d.mediaType ?? ''), digest: d.digest, size: d.size, platform: d.platform, annotations: d.annotations };
}

/** Parses a manifest or index; `contentType` is the registry's Content-Type, used when the body has no mediaType. */
export function parseManifest(body: Buffer | string, contentType?: string): ImageManifest | ImageIndex {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString());
  } catch (e) {
    throw invalid('manifest', `not JSON (${(e as Error).message})`);
  }
  if (!doc || typeof doc !== 'object') throw invalid('manifest', 'not an object');
  const mediaType = String(doc.mediaType ?? contentType ?? '').split(';')[0].trim();
  if (doc.schemaVersion !== 2)
    throw new NookError(`unsupported manifest schema version ${JSON.stringify(doc.schemaVersion)}`, {
      hint: 'only schema 2 (Docker) and OCI manifests are supported; push the image again with a current tool',
    });
  const isIndex = mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_LIST || (!mediaType && Array.isArray(doc.manifests));
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw invalid('image index', 'no manifests list');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => descriptor(m, `image index entry ${i}`)) };
  }
  if (!Array.isArray(doc.layers)) throw invalid('image manifest', 'no layers list');
  return {
    kind: 'manifest',
    mediaType,
    config: descriptor(doc.config, 'image config descriptor'),
    layers: doc.layers.map((l, i) => descriptor(l, `layer ${i}`)),
  };
}

const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform of this host, in OCI terms. */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : { os: 'linux', architecture };
}

/** Parses `--platform os/arch[/variant]`. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, extra] = s.split('/');
  if (!os || !architecture || extra !== undefined)
    throw new NookError(`invalid platform "${s}"`, { exitCode: 125, hint: 'use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8' });
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** arm64 images often omit the variant, which is v8; treat the two as the same. */
function sameVariant(want: Platform, have: Platform): boolean {
  const norm = (p: Platform) => (p.architecture === 'arm64' ? (p.variant ?? 'v8') : p.variant);
  return !want.variant || norm(want) === norm(have);
}

export function selectPlatform(index: ImageIndex, want: Platform, reference: string): Descriptor {
  const candidates = index.manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const match = candidates.find((m) => sameVariant(want, m.platform!));
  if (match) return match;
  const available = index.manifests
    .filter((m) => m.platform && m.platform.architecture !== 'unknown') // attestations
    .map((m) => formatPlatform(m.platform!));
  throw new NookError(`${reference} has no image for ${formatPlatform(want)}`, {
    hint: available.length ? `it has: ${[...new Set(available)].join(', ')}; choose one with --platform` : 'its index lists no platforms',
  });
}
