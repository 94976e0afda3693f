/**
 * Reading the container's root filesystem before it exists. nook decides
 * mount points, users and groups from the host side, before the child
 * mounts anything: for a plain directory that is just that directory; for
 * an image it is the stack of extracted layers as overlayfs will show it
 * (upper layers hide lower ones, whiteouts delete, opaque directories hide
 * everything below them).
 */
import fs = require('node:fs');
import path = require('node:path');
import { libcFs } from '../../ffi/libc-fs';
import { NookError } from '../errors';

export interface RootView {
  /** lstat of an inside path whose parent components are already resolved; undefined when missing. */
  lstat(inner: string): fs.Stats | undefined;
  /** Host path of an existing inside path (for reading it). */
  hostPath(inner: string): string | undefined;
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
  lstat(inner: string): fs.Stats | undefined {
    return lstatOrUndefined(path.join(this.root, inner));
  }
  hostPath(inner: string): string {
    return path.join(this.root, inner);
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

  /** The host path that provides `inner`, or undefined when it does not exist in the merged view. */
  private find(inner: string): { host: string; st: fs.Stats } | undefined {
    const parts = inner.split('/').filter(Boolean);
    let dirs = this.layers.map((l) => l); // layers where the current directory exists as a directory
    let rel = '';
    for (let i = 0; i < parts.length; i++) {
      rel = path.join(rel, parts[i]);
      const next: string[] = [];
      let found: { host: string; st: fs.Stats } | undefined;
      for (const layer of dirs) {
        const host = path.join(layer, rel);
        const st = lstatOrUndefined(host);
        if (!st) continue;
        if (isWhiteout(st)) break;
        if (!found) found = { host, st };
        if (!st.isDirectory()) break;
        next.push(layer);
        if (isOpaque(host)) break;
      }
      if (!found) return undefined;
      if (i === parts.length - 1) return found;
      if (!found.st.isDirectory()) return undefined;
      dirs = next;
    }
    return { host: this.layers[0] ?? '/', st: lstatOrUndefined(this.layers[0] ?? '/')! };
  }

  lstat(inner: string): fs.Stats | undefined {
    return this.find(inner)?.st;
  }

  hostPath(inner: string): string | undefined {
    return this.find(inner)?.host;
  }
}

/**
 * Resolves `inner` (an absolute path inside) as the sandbox will see it,
 * following symlinks within the view, so that a link in the rootfs can never
 * point a mount at a host path outside it. Returns the resolved inside path.
 */
export function resolveInView(view: RootView, inner: string): string {
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

/** The text of a file inside, '' when it is missing or unreadable. */
export function readViewFile(view: RootView, inner: string): string {
  try {
    const host = view.hostPath(resolveInView(view, inner));
    return host ? fs.readFileSync(host, 'utf8') : '';
  } catch {
    return '';
  }
}
