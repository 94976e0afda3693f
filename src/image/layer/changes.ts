/**
 * A container's changes as `docker diff` lists them: A (added), C (changed),
 * D (deleted), one line per path. Read by the store helper (the container's
 * files may belong to ids the user cannot read as themselves).
 *
 * In overlay form the upper dir is the change set: a name the image's layers
 * had is C, a new one A, a whiteout D. An opaque directory (deleted and made
 * again) is C, what it held below and no longer holds is D, and the rest
 * follows the same rules. In copy form the same comes from copy-diff.ts.
 */
import { byBytes, DirHandle } from './dir-handle';
import { copyModeSelection } from './copy-diff';
import { LowerTree, type LowerDir } from './lower-tree';
import { MOUNT_STUBS } from './mount-stubs';
import { unchangedUpperDirs } from './upper-prune';
import type { LayerSource } from './source';
import { isWhiteoutStat, type Selected } from './tree-walk';

export interface Change {
  kind: 'A' | 'C' | 'D';
  /** Absolute path in the container, as a byte string (latin1). */
  path: string;
}

const OPAQUE_XATTRS = ['user.overlay.opaque', 'trusted.overlay.opaque'];

/** `lowers`: the image's layer dirs, bottom first (for a copy-mode source, the same as its own). */
export function listChanges(src: LayerSource, lowers: string[]): Change[] {
  const tree = new LowerTree(lowers);
  const out: Change[] = [];
  const root = DirHandle.open('upper' in src ? src.upper : src.rootfs);
  try {
    if ('upper' in src) upperDir(root, '', tree, tree.root(), false, out, unchangedUpperDirs(src.upper, lowers));
    else selectedDir(root, '', tree, copyModeSelection(src.rootfs, src.lowers), out);
  } finally {
    root.close();
  }
  return out.sort((a, b) => byBytes(a.path, b.path));
}

function upperDir(h: DirHandle, rel: string, tree: LowerTree, lower: LowerDir, opaque: boolean, out: Change[], skip: Set<string>): void {
  const names = h.names();
  if (opaque && lower.sources.length) {
    const present = new Set(names);
    for (const name of tree.children(lower).keys()) if (!present.has(name) && !MOUNT_STUBS.has(`${rel}/${name}`.slice(1))) out.push({ kind: 'D', path: `${rel}/${name}` });
  }
  for (const name of names) {
    const p = `${rel}/${name}`;
    if (MOUNT_STUBS.has(p.slice(1)) || skip.has(p.slice(1))) continue;
    const st = h.lstat(name);
    if (isWhiteoutStat(st)) {
      out.push({ kind: 'D', path: p });
      continue;
    }
    const old = tree.child(lower, name);
    out.push({ kind: old ? 'C' : 'A', path: p });
    if (!st.isDirectory()) continue;
    const childOpaque = OPAQUE_XATTRS.some((x) => h.xattr(name, x)?.toString() === 'y');
    const childLower = old?.stat.isDirectory() ? tree.childDir(lower, name) : { rel: p, sources: [] };
    const child = h.openDir(name);
    try {
      upperDir(child, p, tree, childLower, childOpaque, out, skip);
    } finally {
      child.close();
    }
  }
}

function selectedDir(h: DirHandle, rel: string, tree: LowerTree, sel: Map<string, Selected>, out: Change[]): void {
  for (const [name, s] of sel) {
    const p = `${rel}/${name}`;
    if (s === 'whiteout') out.push({ kind: 'D', path: p });
    else if (s === 'all') addedTree(h, name, p, out);
    else if (s === 'entry') out.push({ kind: tree.lookup(p.slice(1)) ? 'C' : 'A', path: p });
    else {
      out.push({ kind: 'C', path: p });
      const child = h.openDir(name);
      try {
        selectedDir(child, p, tree, s, out);
      } finally {
        child.close();
      }
    }
  }
}

function addedTree(h: DirHandle, name: string, p: string, out: Change[]): void {
  out.push({ kind: 'A', path: p });
  if (!h.lstat(name).isDirectory()) return;
  const child = h.openDir(name);
  try {
    for (const n of child.names()) addedTree(child, n, `${p}/${n}`, out);
  } finally {
    child.close();
  }
}
