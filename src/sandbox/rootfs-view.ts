/**
 * Reading files of the container's root filesystem from the host side, before
 * the container exists (users and groups for -u and HOME): for a plain
 * directory (or a running container's /proc/PID/root) that is just that
 * directory; for an image it is the stack of extracted layers as overlayfs
 * will show it (upper layers hide lower ones, whiteouts delete, opaque
 * directories hide everything below them), the container's writable layer on
 * top. The rootfs is the container's: a file is opened inside its directory
 * with the executor's in-root resolution (symlinks stay inside, nothing
 * blocks on a FIFO), must be a regular file, and is read up to a cap.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { libcFs } from '../../ffi/libc-fs';
import { loadNative } from '../../ffi/native';
import { NookError, describeErrno } from '../errors';
import type { SandboxSpec } from './spec';

export interface RootView {
  /** The text of a regular file inside; '' when it is missing or unreadable. */
  readFile(inner: string): string;
}

/** More than any real /etc/passwd or /etc/group; a bigger file is refused rather than read into memory. */
export const MAX_ROOTFS_FILE = 4 * 1024 * 1024;

const { ENOENT, ENOTDIR, EACCES, EINVAL } = os.constants.errno;

/**
 * Reads the regular file `inner` inside the directory `root`, resolved as if
 * `root` were / (ffi/in-root.c). Missing or unreadable: ''. A FIFO, device or
 * directory there, or a file over MAX_ROOTFS_FILE, is refused.
 */
export function readFileInRoot(root: string, inner: string): string {
  const fd = loadNative().openFileInRoot(root, inner);
  if (fd === -ENOENT || fd === -ENOTDIR || fd === -EACCES) return '';
  if (fd === -EINVAL)
    throw new NookError(`${inner} in the container's root filesystem is not a regular file`, {
      hint: `nook reads users and groups from it; make it a regular file (or leave it out) in the image or rootfs`,
    });
  if (fd < 0) throw new NookError(`opening ${inner} in the container's root filesystem: ${describeErrno(-fd)}`);
  try {
    // Sized from fstat (no 4 MiB buffer on every start), one byte more to see a file that grew past the cap.
    const buf = Buffer.allocUnsafe(Math.min(fs.fstatSync(fd).size, MAX_ROOTFS_FILE) + 1);
    let len = 0;
    for (let n; len < buf.length && (n = fs.readSync(fd, buf, len, buf.length - len, null)) > 0; ) len += n;
    if (len > MAX_ROOTFS_FILE)
      throw new NookError(`${inner} in the container's root filesystem is larger than ${MAX_ROOTFS_FILE / 1024 / 1024} MiB`, {
        hint: 'nook reads users and groups from it; no real one is that large',
      });
    return buf.toString('utf8', 0, len);
  } finally {
    fs.closeSync(fd);
  }
}

/** How the sandbox of `spec` will look from the inside: its layers (writable layer on top), or its directory. */
export function rootView(spec: Pick<SandboxSpec, 'rootfs' | 'overlay'>): RootView {
  return spec.overlay ? new LayeredView([spec.overlay.upper, ...spec.overlay.lowerDirs]) : new DirView(spec.rootfs);
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

export class DirView implements RootView {
  constructor(readonly root: string) {}
  readFile(inner: string): string {
    return readFileInRoot(this.root, inner);
  }
}

const isWhiteout = (st: fs.Stats) => st.isCharacterDevice() && st.rdev === 0;

function isOpaque(dir: string): boolean {
  const buf = Buffer.alloc(4);
  const n = libcFs().lgetxattr(dir, 'user.overlay.opaque', buf, buf.length);
  return n > 0 && buf[0] === 0x79; // "y"
}

/** Extracted layers stacked as overlayfs does; `layers` are host directories, topmost first. */
export class LayeredView implements RootView {
  constructor(readonly layers: string[]) {}

  /** The layer and host path that provide `inner`, or undefined when it does not exist in the merged view. */
  private find(inner: string): { layer: string; host: string; st: fs.Stats } | undefined {
    const parts = inner.split('/').filter(Boolean);
    let dirs = this.layers.map((l) => l); // layers where the current directory exists as a directory
    let rel = '';
    for (let i = 0; i < parts.length; i++) {
      rel = path.join(rel, parts[i]);
      const next: string[] = [];
      let found: { layer: string; host: string; st: fs.Stats } | undefined;
      for (const layer of dirs) {
        const host = path.join(layer, rel);
        const st = lstatOrUndefined(host);
        if (!st) continue;
        if (isWhiteout(st)) break;
        if (!found) found = { layer, host, st };
        if (!st.isDirectory()) break;
        next.push(layer);
        if (isOpaque(host)) break;
      }
      if (!found) return undefined;
      if (i === parts.length - 1) return found;
      if (!found.st.isDirectory()) return undefined;
      dirs = next;
    }
    const top = this.layers[0] ?? '/';
    return { layer: top, host: top, st: lstatOrUndefined(top)! };
  }

  lstat(inner: string): fs.Stats | undefined {
    return this.find(inner)?.st;
  }

  /**
   * Whether `inner` (a path without symlinks in the view, as resolveInView
   * gives) is a directory with nothing in it as overlayfs would show it:
   * every layer's directory there, down to an opaque one, holds only
   * whiteouts. Each layer's path is reached through directories lstat found
   * to be directories, never through a link.
   */
  isEmptyDir(inner: string): boolean {
    const parts = inner.split('/').filter(Boolean);
    let dirs = [...this.layers];
    for (let i = 0; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const next: string[] = [];
      for (const layer of dirs) {
        const host = path.join(layer, rel);
        const st = lstatOrUndefined(host);
        if (!st) continue;
        if (!st.isDirectory()) break;
        next.push(layer);
        if (i > 0 && isOpaque(host)) break;
      }
      if (!next.length) return false;
      dirs = next;
    }
    const rel = parts.join('/');
    return dirs.every((layer) => fs.readdirSync(path.join(layer, rel)).every((n) => {
      const st = lstatOrUndefined(path.join(layer, rel, n));
      return st !== undefined && isWhiteout(st);
    }));
  }

  hostPath(inner: string): string | undefined {
    return this.find(inner)?.host;
  }

  readFile(inner: string): string {
    let resolved: string;
    try {
      resolved = resolveInView(this, inner);
    } catch {
      return '';
    }
    const found = this.find(resolved);
    // Opened inside the layer that provides it, as inside any root: a layer is the container's data too.
    return found ? readFileInRoot(found.layer, resolved) : '';
  }
}

/**
 * Resolves `inner` (an absolute path inside) as the sandbox will see it,
 * following symlinks within the view, so that a link in the rootfs can never
 * point a mount at a host path outside it. Returns the resolved inside path.
 */
export function resolveInView(view: LayeredView, inner: string): string {
  const parts = inner.split('/').filter((p) => p && p !== '.');
  const resolved: string[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = `/${[...resolved, part].join('/')}`;
    const st = view.lstat(candidate);
    if (st?.isSymbolicLink()) {
      if (++hops > 40) throw new NookError(`too many symbolic links resolving ${inner}`);
      const link = fs.readlinkSync(view.hostPath(candidate)!);
      if (link.startsWith('/')) resolved.length = 0;
      parts.unshift(...link.split('/').filter((p) => p && p !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return `/${resolved.join('/')}`;
}
