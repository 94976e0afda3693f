/**
 * What changed in a copy-mode container root (a private copy of its image's
 * layers, used where overlayfs is refused) relative to the layers it was
 * copied from: the Selection of entries a layer must hold.
 *
 * Choices, where docker's naive diff leaves room:
 * - A file is changed when its type, mode, owner, size, xattrs, symlink
 *   target or device number differ, or its content differs. mtime alone
 *   does not make a change: a file rewritten with the same bytes is the
 *   same file (as the build cache sees it), and keeping it out keeps layers
 *   small and reproducible. When size and mtime are both unchanged the
 *   content is not read (the copy preserved mtimes; a write changes them).
 * - A directory is changed when its mode, owner or xattrs differ (its mtime
 *   changes whenever its content does, which the content's own entries say).
 * - Every ancestor directory of a change is in the layer too, as overlayfs
 *   copies them up, so both modes give the same kind of layer.
 * - Deletions are whiteouts, one per deleted name (no opaque markers).
 */
import fs = require('node:fs');
import { DirHandle } from './dir-handle';
import { LowerTree, type LowerDir, type LowerEntry } from './lower-tree';
import { isMtabStub, MOUNT_STUBS, onlyStubs, STUB_PARENTS } from './mount-stubs';
import { keepXattr, type Selected } from './tree-walk';

const bytes = (p: string) => Buffer.from(p, 'latin1');

export function copyModeSelection(rootfs: string, lowers: string[]): Map<string, Selected> {
  const tree = new LowerTree(lowers);
  const h = DirHandle.open(rootfs);
  try {
    return diffDir(h, tree, tree.root());
  } finally {
    h.close();
  }
}

function diffDir(h: DirHandle, tree: LowerTree, lower: LowerDir): Map<string, Selected> {
  const out = new Map<string, Selected>();
  const below = lower.sources.length ? tree.children(lower) : new Map<string, LowerEntry>();
  const names = h.names();
  const present = new Set(names);
  const rel = (name: string) => (lower.rel ? `${lower.rel}/${name}` : name);
  for (const [name] of below) if (!present.has(name) && !MOUNT_STUBS.has(rel(name))) out.set(name, 'whiteout');
  for (const name of names) {
    if (MOUNT_STUBS.has(rel(name))) continue;
    const st = h.lstat(name);
    const old = below.get(name);
    if (!old) {
      if (isMtabStub(h, name, rel(name), false)) continue;
      // A /run the image lacks, made only to hold /run/.containerenv's mount point.
      if (st.isDirectory() && STUB_PARENTS.has(rel(name)) && onlyStubs(h, name, rel(name))) continue;
      out.set(name, st.isDirectory() ? 'all' : 'entry');
      continue;
    }
    if (st.isDirectory()) {
      if (!old.stat.isDirectory()) {
        out.set(name, 'all');
        continue;
      }
      const child = h.openDir(name);
      let sub: Map<string, Selected>;
      try {
        sub = diffDir(child, tree, tree.childDir(lower, name));
      } finally {
        child.close();
      }
      if (sub.size) out.set(name, sub);
      else if (metaDiffers(h, name, st, old)) out.set(name, 'entry');
      continue;
    }
    if (old.stat.isDirectory() || metaDiffers(h, name, st, old) || contentDiffers(h, name, st, old)) out.set(name, 'entry');
  }
  return out;
}


function metaDiffers(h: DirHandle, name: string, st: fs.BigIntStats, old: LowerEntry): boolean {
  const o = old.stat;
  if ((st.mode & 0o170000n) !== (o.mode & 0o170000n)) return true;
  if (!st.isSymbolicLink() && (st.mode & 0o7777n) !== (o.mode & 0o7777n)) return true;
  if (st.uid !== o.uid || st.gid !== o.gid) return true;
  if ((st.isCharacterDevice() || st.isBlockDevice()) && st.rdev !== o.rdev) return true;
  if (st.isSymbolicLink()) return h.readlink(name) !== fs.readlinkSync(bytes(old.path), { encoding: 'buffer' }).toString('latin1');
  if (st.isFile() && st.size !== o.size) return true;
  return !sameXattrs(h.xattrs(name, keepXattr), lowerXattrs(old.path));
}

function contentDiffers(h: DirHandle, name: string, st: fs.BigIntStats, old: LowerEntry): boolean {
  if (!st.isFile() || st.mtimeNs === old.stat.mtimeNs) return false;
  const a = h.openFile(name);
  const b = fs.openSync(bytes(old.path), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const bufA = Buffer.allocUnsafe(1 << 20);
    const bufB = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(a, bufA, 0, bufA.length, null);
      const m = readFull(b, bufB, n);
      if (n !== m || !bufA.subarray(0, n).equals(bufB.subarray(0, m))) return true;
      if (n === 0) return false;
    }
  } finally {
    fs.closeSync(a);
    fs.closeSync(b);
  }
}

function readFull(fd: number, buf: Buffer, want: number): number {
  let got = 0;
  while (got < want) {
    const n = fs.readSync(fd, buf, got, want - got, null);
    if (n === 0) break;
    got += n;
  }
  if (want === 0) return fs.readSync(fd, buf, 0, 1, null); // 0 at the end of both
  return got;
}

/** The lower file's xattrs (kept ones), without following it. */
function lowerXattrs(lowerPath: string): [string, Buffer][] {
  const slash = lowerPath.lastIndexOf('/');
  const dir = DirHandle.open(bytes(lowerPath.slice(0, slash)));
  try {
    return dir.xattrs(lowerPath.slice(slash + 1), keepXattr);
  } finally {
    dir.close();
  }
}

function sameXattrs(a: [string, Buffer][], b: [string, Buffer][]): boolean {
  return a.length === b.length && a.every(([k, v], i) => b[i][0] === k && b[i][1].equals(v));
}
