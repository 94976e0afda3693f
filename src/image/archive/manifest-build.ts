/**
 * An OCI image manifest for an image that arrives without one (a legacy
 * docker-archive, an imported tarball): the store keeps a manifest for
 * every image, so it can be saved as an OCI layout or pushed like any other.
 */
import { createHash } from 'node:crypto';
import { MediaType, type Descriptor } from '../manifest';

export interface BuiltManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export function buildManifest(config: Pick<Descriptor, 'digest' | 'size'>, layers: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>[]): BuiltManifest {
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const body = Buffer.from(JSON.stringify(doc));
  return { digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, mediaType: MediaType.OCI_MANIFEST, body };
}
