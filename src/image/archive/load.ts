/**
 * `load`: an archive (docker-archive or OCI layout, from a file or a
 * stream, plain or compressed) → images in the store. The archive is read
 * once into a spool directory under the store, every image in it is
 * checked completely, and only then does anything enter the store; the
 * spool goes in every case.
 */
import type { Readable } from 'node:stream';
import { NookError } from '../../errors';
import { randomHex } from '../../util/random';
import { hostPlatform, type Platform } from '../manifest';
import type { ImageRecord, ImageStore } from '../store/store';
import { readDockerArchive } from './docker-archive';
import { installImages, type ImageToInstall, type InstallHooks } from './install';
import { readOciLayout } from './oci-layout';
import { Spool } from './spool';
import { removeStale } from './stale';

export type ArchiveKind = 'docker-archive' | 'oci-layout';

export function archiveKind(spool: Spool): ArchiveKind {
  // Docker 25+ writes both; manifest.json is what docker load reads, and it carries the tags.
  if (spool.has('manifest.json')) return 'docker-archive';
  if (spool.has('index.json')) return 'oci-layout';
  if (!spool.isComplete) throw spool.truncated('it has neither manifest.json nor index.json');
  if (spool.has('repositories'))
    throw new NookError(`${spool.what} is in the format of docker before 1.10 (no manifest.json), which nook does not read`, {
      hint: 'load it into a current docker and save it again',
    });
  throw new NookError(`${spool.what} is not an image archive: it has neither manifest.json (docker save) nor index.json (an OCI layout)`, {
    hint: 'to make an image from a root filesystem tarball, use nook import FILE NAME',
  });
}

export interface LoadedImage {
  record: ImageRecord;
  /** Full names it was loaded under; none for an image without a name. */
  names: string[];
}

export interface LoadOptions extends InstallHooks {
  /** The platform to take from a multi-platform image (default: this host's). */
  platform?: Platform;
  /** The archive's size, when it is a file (for the expansion limit of a compressed archive). */
  size?: number;
}

/** Reads the archive from `source` (`what` names it in messages) and brings its images into `store`. */
export async function loadArchive(store: ImageStore, source: Readable, what: string, opts: LoadOptions = {}): Promise<LoadedImage[]> {
  removeStale(store.p('tmp'), 'load-');
  const spool = await Spool.read(source, store.p('tmp', `load-${process.pid}-${randomHex(4)}`), what, { maxExpansion: opts.maxExpansion, size: opts.size });
  try {
    const kind = archiveKind(spool);
    const images: ImageToInstall[] = kind === 'docker-archive' ? readDockerArchive(spool) : readOciLayout(spool, opts.platform ?? hostPlatform());
    const records = await installImages(store, images, opts);
    return records.map((record, i) => ({ record, names: images[i].names }));
  } finally {
    spool.remove();
  }
}
