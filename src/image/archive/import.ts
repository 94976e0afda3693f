/**
 * `import`: a root filesystem tarball (plain, gzip or zstd) → an image of
 * one layer. The blob is the file as given; its diff_id, the sha256 of the
 * uncompressed tar, is computed in the same pass. The config says this
 * host's platform and nothing about how to run the image, as docker's does.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { NookError } from '../../errors';
import type { ContainerConfig, ImageConfig } from '../config';
import { hostPlatform, type Platform } from '../manifest';
import type { ImageRecord, ImageStore, LayerRecord } from '../store/store';
import { layerMediaType } from './compression';
import { discardBlob, ingest } from './ingest';
import { installImages, type InstallHooks } from './install';
import { buildManifest } from './manifest-build';
import { familiarName } from './names';
import { removeStale } from './stale';

export interface ImportOptions extends InstallHooks {
  /** Full, normalised name to give the image. */
  name?: string;
  /** The history comment (docker's --message); default "Imported from SOURCE". */
  message?: string;
  platform?: Platform;
  /** The size of the tarball, when it is a file (else the expansion limit follows the bytes read so far). */
  size?: number;
  /** Creation time (default now). */
  created?: Date;
  /** How to run the image (import --change); default none, as docker's. */
  runConfig?: ContainerConfig;
}

const TAR_HINT = 'nook import takes a root filesystem as a tar archive, plain or compressed with gzip or zstd';

export async function importRootfs(store: ImageStore, source: Readable, what: string, opts: ImportOptions = {}): Promise<ImageRecord> {
  removeStale(store.p('blobs', 'tmp'), 'ingest.');
  const blob = await ingest(source, store.p('blobs', 'tmp'), what, { tarOnly: true, maxExpansion: opts.maxExpansion, size: opts.size });
  try {
    const kind = blob.compression;
    if (typeof kind !== 'string') throw new NookError(`${what} is compressed with ${kind.unsupported}, which nook does not read`, { hint: TAR_HINT });
    if (blob.uncompressedDigest === undefined) throw new NookError(`${what} is corrupt: its ${kind} data cannot be read (${blob.decompressError})`, { hint: TAR_HINT });
    if (!blob.looksLikeTar) throw new NookError(`${what} is not a tar archive`, { hint: TAR_HINT });

    const platform = opts.platform ?? hostPlatform();
    const created = (opts.created ?? new Date()).toISOString();
    const comment = opts.message ?? `Imported from ${what}`;
    const config: ImageConfig & { comment: string } = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      comment,
      config: opts.runConfig ?? {},
      rootfs: { type: 'layers', diff_ids: [blob.uncompressedDigest] },
      history: [{ created, created_by: 'nook import', comment }],
    };
    const configBody = Buffer.from(JSON.stringify(config));
    const configDigest = `sha256:${createHash('sha256').update(configBody).digest('hex')}`;
    const layer: LayerRecord = { digest: blob.digest, size: blob.size, mediaType: layerMediaType(kind), diffId: blob.uncompressedDigest };
    const manifest = buildManifest({ digest: configDigest, size: configBody.length }, [layer]);
    const [record] = await installImages(
      store,
      [
        {
          names: opts.name ? [opts.name] : [],
          configDigest,
          config,
          manifestDigest: manifest.digest,
          manifestMediaType: manifest.mediaType,
          layers: [layer],
          blobs: [
            { digest: blob.digest, file: blob },
            { digest: configDigest, body: configBody },
            { digest: manifest.digest, body: manifest.body },
          ],
          label: opts.name ? familiarName(opts.name) : what,
        },
      ],
      opts,
    );
    return record;
  } finally {
    // Gone already when it became the blob; left when the store had it or when the import failed.
    discardBlob(blob);
  }
}
