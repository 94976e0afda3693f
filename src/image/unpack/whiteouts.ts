/**
 * Deletions in a layer, in the two forms involved: the OCI tar form
 * (`dir/.wh.NAME` hides NAME of the layers below, `dir/.wh..wh..opq` hides
 * all of dir's content below) and the form overlayfs reads when mounted with
 * `userxattr` (a character device 0/0 named NAME, and the xattr
 * user.overlay.opaque=y on dir). An unprivileged user namespace may create
 * both: the 0/0 device since Linux 5.8, user.* xattrs on files it owns.
 */
import fs = require('node:fs');
import os = require('node:os');
import { libcFs } from '../../../ffi/libc-fs';
import { NookError, describeErrno, errnoName } from '../../errors';

export const WHITEOUT_PREFIX = '.wh.';
/** AUFS bookkeeping names start with this; of them only the opaque marker means anything. */
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OPAQUE_XATTR = 'user.overlay.opaque';

const S_IFCHR = 0o020000;
const EPERM = 1;
const ENOTSUP = 95;

export type WhiteoutName =
  | { kind: 'opaque' }
  | { kind: 'whiteout'; name: string }
  /** AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): skipped. */
  | { kind: 'meta' };

/** What an entry's base name means, if it is a whiteout name at all. */
export function parseWhiteout(base: string): WhiteoutName | undefined {
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  return { kind: 'whiteout', name: base.slice(WHITEOUT_PREFIX.length) };
}

/** Whether an extracted file is a whiteout: a character device 0/0. */
export function isWhiteout(stats: fs.Stats | fs.BigIntStats): boolean {
  return stats.isCharacterDevice() && Number(stats.rdev) === 0;
}

/** Whether an extracted directory hides the content of the layers below. */
export function isOpaque(dirPath: string): boolean {
  const value = Buffer.alloc(8);
  const n = libcFs().lgetxattr(Buffer.from(`${dirPath}\0`), OPAQUE_XATTR, value, value.length);
  return n === 1 && value[0] === 0x79; // "y"
}

/** The store's file system cannot hold user.* xattrs (an NFS home, an old tmpfs). */
export function xattrsUnsupported(layer: string, dest: string): NookError {
  return new NookError(
    `${layer}: the file system of the image store (${dest}) does not support the extended attributes (user.*) that overlayfs needs`,
    { hint: 'keep the image store on a local disk (ext4, xfs, btrfs): pass --root DIR or set NOOK_ROOT=DIR' },
  );
}

/** Creates the whiteout at `cPath` (NUL-terminated bytes); `shown` names it in errors. */
export function makeWhiteout(cPath: Buffer, shown: string, layer: string): void {
  const lib = libcFs();
  if (lib.mknod(cPath, S_IFCHR, 0) === 0) return;
  const errno = lib.errno();
  if (errno === EPERM)
    throw new NookError(`${layer}: the kernel refused to create the whiteout ${shown} (a character device 0/0) without privilege`, {
      hint: `creating overlayfs whiteouts in a user namespace needs Linux 5.8 or later (this is ${os.release()})`,
    });
  throw Object.assign(new Error(`mknod: ${describeErrno(errno)}`), { errno: -errno, code: errnoName(errno) });
}

/** Marks the directory at `cPath` opaque. */
export function setOpaque(cPath: Buffer, layer: string, dest: string): void {
  const lib = libcFs();
  const y = Buffer.from('y');
  if (lib.lsetxattr(cPath, OPAQUE_XATTR, y, y.length, 0) === 0) return;
  const errno = lib.errno();
  if (errno === ENOTSUP) throw xattrsUnsupported(layer, dest);
  throw Object.assign(new Error(`setting ${OPAQUE_XATTR}: ${describeErrno(errno)}`), { errno: -errno, code: errnoName(errno) });
}
