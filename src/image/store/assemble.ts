/**
 * The fallback when the kernel refuses overlayfs in a user namespace: copy
 * the image's layers, bottom first, into a private directory, applying each
 * layer's whiteouts (delete what lies below) and opaque directories (empty
 * what lies below) as overlayfs would. Slow for big images, but it works on
 * any kernel that has user namespaces. Runs in the store helper, as root of
 * the user namespace, so owners are copied as they are.
 */
import fs = require('node:fs');
import path = require('node:path');
import { libcFs } from '../../../ffi/libc-fs';
import { setTimes, timestampOf } from '../unpack/times';

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(dir: string): boolean {
  const buf = Buffer.alloc(4);
  return libcFs().lgetxattr(dir, 'user.overlay.opaque', buf, buf.length) > 0 && buf[0] === 0x79;
}

/** Owner, mode and times of `from` onto `to`; the times to the nanosecond (setTimes: Node's utimes rounds). */
function copyAttributes(from: string, st: fs.Stats, to: string): void {
  fs.lchownSync(to, st.uid, st.gid);
  if (!st.isSymbolicLink()) fs.chmodSync(to, st.mode & 0o7777);
  const ns = fs.lstatSync(from, { bigint: true });
  setTimes(Buffer.from(`${to}\0`), timestampOf(ns.atimeNs), timestampOf(ns.mtimeNs));
}

/** Copies one layer's tree onto `dest`; `links` maps a source inode to its first copy (hardlinks stay linked). */
function applyLayer(src: string, dest: string, links: Map<number, string>): void {
  const dirTimes: [string, fs.Stats, string][] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(src, rel))) {
      const from = path.join(src, rel, name);
      const to = path.join(dest, rel, name);
      const st = fs.lstatSync(from);
      const existing = fs.existsSync(to) || isSymlink(to) ? fs.lstatSync(to) : undefined;
      if (isWhiteout(st)) {
        fs.rmSync(to, { recursive: true, force: true });
        continue;
      }
      if (existing && (!st.isDirectory() || !existing.isDirectory())) fs.rmSync(to, { recursive: true, force: true });
      if (st.isDirectory()) {
        if (existing?.isDirectory() && isOpaque(from)) {
          for (const child of fs.readdirSync(to)) fs.rmSync(path.join(to, child), { recursive: true, force: true });
        }
        if (!existing?.isDirectory()) fs.mkdirSync(to);
        walk(path.join(rel, name));
        dirTimes.push([from, st, to]);
        continue;
      }
      const first = st.nlink > 1 ? links.get(st.ino) : undefined;
      if (first) {
        fs.linkSync(first, to);
        continue;
      }
      if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
      else if (st.isFile()) fs.copyFileSync(from, to);
      else if (st.isFIFO()) libcFs().mknod(to, st.mode, 0);
      else continue;
      copyAttributes(from, st, to);
      if (st.nlink > 1) links.set(st.ino, to);
    }
  };
  walk('');
  // Directory times last: writing their entries changed them.
  for (const [from, st, to] of dirTimes) copyAttributes(from, st, to);
  copyAttributes(src, fs.lstatSync(src), dest);
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Builds the merged tree of `layers` (host directories, bottom first) in the empty directory `dest`. */
export function assembleLayers(layers: string[], dest: string): void {
  for (const layer of layers) applyLayer(layer, dest, new Map());
}
