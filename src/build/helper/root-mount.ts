/**
 * A step's root as a directory the helper can write into: the overlay of the
 * stage's layers under the step's writable layer, mounted by the helper in
 * its own mount namespace (invisible to the host, gone with the helper), or
 * the copy fallback's plain directory. And a read-only view of a stage's or
 * image's layers for COPY --from.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { mountCalls } from '../../../ffi/mount';
import { MNT, MS } from '../../../ffi/linux';
import { NookError, describeErrno } from '../../errors';
import type { BuildRoot, OverlayTarget } from './protocol';

export interface MountedRoot {
  /** The directory that is the root. */
  dir: string;
  /** Unmounts (when mounted) and removes what was made for it. */
  release(): void;
}

/** The page the kernel accepts for a mount's options. */
const MAX_OPTIONS = 4096;

function mountOverlay(target: string, lowers: string[], chdirTo: string | undefined, extra: string, flags: number, what: string): void {
  const data = `lowerdir=${lowers.join(':')}${extra},userxattr`;
  if (data.length >= MAX_OPTIONS)
    throw new NookError(`the image has too many layers (${lowers.length}) for one overlay mount`, {
      hint: 'squash the base image into fewer layers, or use fewer steps',
    });
  const m = mountCalls();
  // Short layer names are relative to the store's l/ directory: mount from there, one request at a time.
  if (chdirTo) process.chdir(chdirTo);
  try {
    if (m.mount('overlay', target, 'overlay', flags, data) !== 0) {
      const errno = m.errno();
      throw new NookError(`mounting ${what} with overlayfs on ${target}: ${describeErrno(errno)}`, {
        hint: 'overlayfs in a user namespace needs Linux 5.11 or later and a store on a filesystem it supports (not overlayfs or NFS)',
      });
    }
  } finally {
    if (chdirTo) process.chdir('/');
  }
}

function unmount(target: string): void {
  const m = mountCalls();
  if (m.umount2(target, 0) !== 0) m.umount2(target, MNT.DETACH);
}

function overlayRoot(o: OverlayTarget): MountedRoot {
  for (const d of [o.upper, o.work, o.merged]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  // FROM scratch: no layer below, the writable layer is the whole root.
  if (o.lowerDirs.length === 0) return { dir: o.upper, release: () => undefined };
  const short = o.linkDir && o.lowers?.length === o.lowerDirs.length;
  const lowers = short ? o.lowers! : o.lowerDirs;
  mountOverlay(o.merged, lowers, short ? o.linkDir : undefined, `,upperdir=${o.upper},workdir=${o.work}`, 0, "the step's layers");
  return { dir: o.merged, release: () => unmount(o.merged) };
}

export function openBuildRoot(root: BuildRoot): MountedRoot {
  if ('overlay' in root) return overlayRoot(root.overlay);
  if (!fs.statSync(root.rootfs).isDirectory()) throw new NookError(`the step's root ${root.rootfs} is not a directory`);
  return { dir: root.rootfs, release: () => undefined };
}

/** Layers (topmost first) as one read-only tree: a single layer as it is, several through a read-only overlay. */
export function openLayersView(lowerDirs: string[], links?: { linkDir?: string; lowers?: string[] }): MountedRoot {
  if (lowerDirs.length === 0) {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-empty-'));
    return { dir: empty, release: () => fs.rmdirSync(empty) };
  }
  if (lowerDirs.length === 1) return { dir: lowerDirs[0], release: () => undefined };
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-from-'));
  try {
    const short = links?.linkDir && links.lowers?.length === lowerDirs.length;
    mountOverlay(mnt, short ? links.lowers! : lowerDirs, short ? links.linkDir : undefined, '', MS.RDONLY, 'the layers of COPY --from');
  } catch (e) {
    fs.rmdirSync(mnt);
    throw e;
  }
  return {
    dir: mnt,
    release: () => {
      unmount(mnt);
      fs.rmdirSync(mnt);
    },
  };
}
