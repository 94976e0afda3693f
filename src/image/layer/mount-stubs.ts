import type { DirHandle } from './dir-handle';

/**
 * Paths nook's sandbox mounts over in every container and build step (its
 * /proc, /sys, /dev, and the generated /etc/hosts, hostname and
 * resolv.conf; a container's /run/.containerenv and /.dockerenv), creating
 * them in the root when the image lacks them. They
 * are the runtime's, not the container's changes: like docker's init layer,
 * they never go into a layer or a diff (what a container writes to them goes
 * to the mounted filesystem anyway).
 */
export const MOUNT_STUBS: ReadonlySet<string> = new Set(['dev', 'proc', 'sys', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'run/.containerenv', '.dockerenv']);

/** Directories made only to hold a stub when the image lacks them: left out of diffs and layers while they hold nothing else. */
export const STUB_PARENTS: ReadonlySet<string> = new Set(['run']);

/**
 * The /etc/mtab -> /proc/mounts symlink that a container gets when its image
 * has no /etc/mtab (ContainerRoot.addMtab, as podman): the runtime's too, so
 * left out of diffs and layers. `inLower`: whether the image has an etc/mtab.
 */
export function isMtabStub(h: DirHandle, name: string, rel: string, inLower: boolean): boolean {
  return rel === 'etc/mtab' && !inLower && h.lstat(name).isSymbolicLink() && h.readlink(name) === '/proc/mounts';
}

/** Whether directory `name` of `h` (at `rel` in the root) holds nothing but stubs. */
export function onlyStubs(h: DirHandle, name: string, rel: string): boolean {
  const child = h.openDir(name);
  try {
    return child.names().every((n) => MOUNT_STUBS.has(`${rel}/${n}`));
  } finally {
    child.close();
  }
}
