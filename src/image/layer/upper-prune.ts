/**
 * Directories of an overlay upper dir that change nothing: overlayfs copies
 * a directory up whenever something is created in it, also when that is
 * only a mount stub (mount-stubs.ts) or a file deleted again. Such a
 * directory, not opaque, with the same mode, owner and xattrs as the one
 * below, and holding nothing that counts, would only add an entry (and make
 * an unchanged step's layer non-empty). Its mtime is not compared: the
 * content's own entries say what changed (as in copy-diff.ts).
 */
import { DirHandle } from './dir-handle';
import { LowerTree, type LowerDir } from './lower-tree';
import { isMtabStub, MOUNT_STUBS, onlyStubs, STUB_PARENTS } from './mount-stubs';
import { isWhiteoutStat, keepXattr } from './tree-walk';

const OPAQUE_XATTRS = ['user.overlay.opaque', 'trusted.overlay.opaque'];

/** Relative paths of the upper dir's directories that can be left out, given the image's layer dirs (bottom first). */
export function unchangedUpperDirs(upper: string, lowers: string[]): Set<string> {
  const tree = new LowerTree(lowers);
  const out = new Set<string>();
  const h = DirHandle.open(upper);
  try {
    walk(h, '', tree, tree.root(), out);
  } finally {
    h.close();
  }
  return out;
}

/** Whether the directory `h` holds anything that counts; records its subdirectories that hold nothing. */
function walk(h: DirHandle, rel: string, tree: LowerTree, lower: LowerDir, out: Set<string>): boolean {
  let counts = false;
  for (const name of h.names()) {
    const childRel = rel ? `${rel}/${name}` : name;
    if (MOUNT_STUBS.has(childRel)) continue;
    const st = h.lstat(name);
    const old = tree.child(lower, name);
    if (isMtabStub(h, name, childRel, old !== undefined)) {
      out.add(childRel);
      continue;
    }
    // A /run the image lacks, made only to hold /run/.containerenv's mount point.
    if (!old && st.isDirectory() && STUB_PARENTS.has(childRel) && onlyStubs(h, name, childRel)) {
      out.add(childRel);
      continue;
    }
    if (!st.isDirectory() || isWhiteoutStat(st) || !old?.stat.isDirectory()) {
      counts = true;
      continue;
    }
    if (OPAQUE_XATTRS.some((x) => h.xattr(name, x)?.toString() === 'y')) {
      counts = true;
      continue;
    }
    const child = h.openDir(name);
    let inner: boolean;
    try {
      inner = walk(child, childRel, tree, tree.childDir(lower, name), out);
    } finally {
      child.close();
    }
    const o = old.stat;
    const sameMeta = (st.mode & 0o7777n) === (o.mode & 0o7777n) && st.uid === o.uid && st.gid === o.gid && sameXattrs(h, name, old.path);
    if (inner || !sameMeta) counts = true;
    else out.add(childRel);
  }
  return counts;
}


function sameXattrs(h: DirHandle, name: string, lowerPath: string): boolean {
  const a = h.xattrs(name, keepXattr);
  const slash = lowerPath.lastIndexOf('/');
  const d = DirHandle.open(Buffer.from(lowerPath.slice(0, slash), 'latin1'));
  try {
    const b = d.xattrs(lowerPath.slice(slash + 1), keepXattr);
    return a.length === b.length && a.every(([k, v], i) => b[i][0] === k && b[i][1].equals(v));
  } finally {
    d.close();
  }
}
