/**
 * The merged view of an image's extracted layers (store directories in
 * overlayfs form, bottom first), as overlayfs would show it: a whiteout
 * (character device 0/0) deletes a name of the layers below, an opaque
 * directory (user.overlay.opaque=y) hides the directory's content below, a
 * non-directory hides everything below it. Read without mounting anything.
 * The layers are nook's own extractions (checked, immutable), and entries
 * are only ever lstat'ed, so nothing here follows a symlink.
 */
import fs = require('node:fs');
import { libcFs } from '../../../ffi/libc-fs';
import { OPAQUE_XATTR, isWhiteout } from '../unpack/whiteouts';

/** A directory of the merged tree: the layer directories (top first) whose content shows through. */
export interface LowerDir {
  rel: string;
  /** Host paths of this directory in each layer that contributes, topmost first. */
  sources: string[];
}

export interface LowerEntry {
  /** Host path of the entry in the topmost layer that has it. */
  path: string;
  stat: fs.BigIntStats;
}

const bytes = (p: string) => Buffer.from(p, 'latin1');

export class LowerTree {
  /** Layer roots, topmost first. */
  private readonly tops: string[];

  constructor(layersBottomFirst: string[]) {
    this.tops = [...layersBottomFirst].reverse();
  }

  /** The root directory of the merged tree. */
  root(): LowerDir {
    return this.contributing('', this.tops);
  }

  /** Visible children of `dir`, by name (byte strings). */
  children(dir: LowerDir): Map<string, LowerEntry> {
    const out = new Map<string, LowerEntry>();
    const deleted = new Set<string>();
    for (const src of dir.sources) {
      let names: string[];
      try {
        names = fs.readdirSync(bytes(src), { encoding: 'buffer' }).map((b) => b.toString('latin1'));
      } catch {
        continue;
      }
      for (const name of names) {
        if (out.has(name) || deleted.has(name)) continue;
        const p = `${src}/${name}`;
        const stat = fs.lstatSync(bytes(p), { bigint: true });
        if (isWhiteout(stat)) deleted.add(name);
        else out.set(name, { path: p, stat });
      }
    }
    return out;
  }

  /** The visible child `name` of `dir`: lstat of that one name, topmost layer first (no directory listing). */
  child(dir: LowerDir, name: string): LowerEntry | undefined {
    for (const src of dir.sources) {
      const p = `${src}/${name}`;
      const stat = fs.lstatSync(bytes(p), { bigint: true, throwIfNoEntry: false });
      if (!stat) continue;
      return isWhiteout(stat) ? undefined : { path: p, stat };
    }
    return undefined;
  }

  /** The child directory `name` of `dir` (no sources when the merged tree has no directory there). */
  childDir(dir: LowerDir, name: string): LowerDir {
    const rel = dir.rel ? `${dir.rel}/${name}` : name;
    return this.contributing(
      rel,
      dir.sources.map((s) => `${s}/${name}`),
    );
  }

  /** The entry at `rel` in the merged tree, if any. */
  lookup(rel: string): LowerEntry | undefined {
    let dir = this.root();
    const parts = rel.split('/');
    for (let i = 0; i < parts.length - 1 && dir.sources.length; i++) dir = this.childDir(dir, parts[i]);
    return dir.sources.length ? this.child(dir, parts[parts.length - 1]) : undefined;
  }

  /** Of `candidates` (the same directory in each layer, topmost first), those that show through. */
  private contributing(rel: string, candidates: string[]): LowerDir {
    const sources: string[] = [];
    for (const c of candidates) {
      const st = fs.lstatSync(bytes(c), { throwIfNoEntry: false });
      if (!st) continue;
      // A whiteout or a non-directory hides this name in all layers below; so does an opaque directory's content.
      if (!st.isDirectory()) break;
      sources.push(c);
      if (isOpaque(c)) break;
    }
    return { rel, sources };
  }
}

function isOpaque(dir: string): boolean {
  const value = Buffer.alloc(8);
  const n = libcFs().lgetxattr(Buffer.from(`${dir}\0`, 'latin1'), OPAQUE_XATTR, value, value.length);
  return n === 1 && value[0] === 0x79; // "y"
}
