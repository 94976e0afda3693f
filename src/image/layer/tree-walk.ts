/**
 * Walks a directory tree (a container's overlay upper dir, or its copy-mode
 * root) in layer order and turns what it finds into tar entries: depth
 * first, each directory's entries sorted by their names in the tar (so a
 * directory always precedes its content and the order never depends on the
 * file system), owners as the reading process sees them (the store helper
 * reads as root of the container's user namespace, so these are the ids the
 * container saw), hardlinks within the layer as tar hardlinks, and in
 * overlay form the whiteouts and opaque directories of overlayfs as OCI's
 * `.wh.` files. Times are whole seconds, clamped to SOURCE_DATE_EPOCH.
 */
import fs = require('node:fs');
import { NookError } from '../../errors';
import { showName } from '../unpack/paths';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from '../unpack/whiteouts';
import { byBytes, DirHandle } from './dir-handle';
import type { LayerEntry, LayerEntryKind } from './tar-entry';
import { timestampOf } from '../unpack/times';

/**
 * What to take from a directory: everything ('all'), or some children:
 * 'entry' (the child itself, not its content), 'whiteout' (the child was
 * deleted), a nested selection (the directory and part of its content).
 */
export type Selection = 'all' | Map<string, Selected>;
export type Selected = 'all' | 'entry' | 'whiteout' | Map<string, Selected>;

export interface WalkOptions {
  /** The tree is an overlayfs upper dir: 0/0 character devices are whiteouts, opaque directories are marked. */
  overlay: boolean;
  /** Times later than this (seconds) become this. */
  sourceDateEpoch?: number;
  /** Relative paths left out, with everything below them. */
  skip?: (rel: string) => boolean;
}

export interface EntrySink {
  /** `open` opens a regular file's content (O_NOFOLLOW, read-only). */
  entry(e: LayerEntry, open?: () => number): Promise<void>;
}

const OPAQUE_XATTRS = ['user.overlay.opaque', 'trusted.overlay.opaque'];
/** overlayfs features that change how the upper dir reads (renamed dirs, metadata-only copies): never enabled by nook. */
const UNSUPPORTED_OVERLAY = ['user.overlay.redirect', 'user.overlay.metacopy', 'trusted.overlay.redirect', 'trusted.overlay.metacopy'];

/** The xattrs a layer keeps: the image's own (user.*) and file capabilities; not overlayfs's bookkeeping. */
export function keepXattr(name: string): boolean {
  if (name.startsWith('user.overlay.') || name.startsWith('trusted.')) return false;
  return name.startsWith('user.') || name === 'security.capability';
}

export function isWhiteoutStat(st: fs.BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** Major and minor of a device number, as glibc's gnu_dev_major/minor split it. */
export function devNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  return {
    devmajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

interface Item {
  /** The name in the tar (a whiteout's `.wh.NAME`). */
  tarBase: string;
  name: string;
  kind: 'whiteout' | 'opaque' | 'file';
  st?: fs.BigIntStats;
  sel?: Selected;
}

export class TreeWalker {
  /** First name of each multiply-linked inode in this layer: later names become tar hardlinks to it. */
  private readonly links = new Map<string, string>();
  entries = 0;

  constructor(
    private readonly opts: WalkOptions,
    private readonly sink: EntrySink,
  ) {}

  /** Emits the selected part of the tree at `root`; its root directory itself is never an entry. */
  async walk(root: string, sel: Selection): Promise<void> {
    const h = DirHandle.open(root);
    try {
      await this.dir(h, '', sel, false);
    } finally {
      h.close();
    }
  }

  private async dir(h: DirHandle, rel: string, sel: Selection, opaque: boolean): Promise<void> {
    const items: Item[] = [];
    if (opaque) items.push({ tarBase: OPAQUE_MARKER, name: '', kind: 'opaque' });
    const prefix = rel ? `${rel}/` : '';
    const names = sel === 'all' ? h.names() : [...sel.keys()];
    for (const name of names) {
      if (this.opts.skip?.(prefix + name)) continue;
      const s: Selected = sel === 'all' ? 'all' : sel.get(name)!;
      if (s === 'whiteout') {
        items.push({ tarBase: WHITEOUT_PREFIX + name, name, kind: 'whiteout' });
        continue;
      }
      const st = h.lstat(name);
      if (this.opts.overlay && isWhiteoutStat(st)) items.push({ tarBase: WHITEOUT_PREFIX + name, name, kind: 'whiteout', st });
      else if (!st.isSocket()) items.push({ tarBase: name, name, kind: 'file', st, sel: s }); // sockets are not content (docker drops them too)
    }
    items.sort((a, b) => byBytes(a.tarBase, b.tarBase));
    for (const item of items) {
      if (item.kind !== 'file') {
        await this.marker(prefix + item.tarBase, item.st);
        continue;
      }
      const st = item.st!;
      const childRel = prefix + item.name;
      const entry = this.entryOf(h, item.name, childRel, st);
      if (entry.kind !== 'dir') {
        await this.emit(entry, entry.kind === 'file' ? this.opener(h, item.name, st, childRel) : undefined);
        continue;
      }
      const childOpaque = this.opts.overlay && OPAQUE_XATTRS.some((x) => h.xattr(item.name, x)?.toString() === 'y');
      await this.emit(entry);
      if (item.sel === 'entry') continue;
      const child = h.openDir(item.name);
      try {
        await this.dir(child, childRel, item.sel as Selection, childOpaque);
      } finally {
        child.close();
      }
    }
  }

  private emit(e: LayerEntry, open?: () => number): Promise<void> {
    this.entries++;
    return this.sink.entry(e, open);
  }

  /** A whiteout or opaque marker: an empty file owned by root, dated as overlayfs's whiteout (clamped), else 0. */
  private marker(name: string, st?: fs.BigIntStats): Promise<void> {
    return this.emit({ name, kind: 'file', mode: 0, uid: 0, gid: 0, mtime: st ? this.time(st) : 0, size: 0 });
  }

  private time(st: fs.BigIntStats): number {
    const { sec } = timestampOf(st.mtimeNs);
    const epoch = this.opts.sourceDateEpoch;
    return epoch !== undefined && sec > epoch ? epoch : sec;
  }

  private entryOf(h: DirHandle, name: string, rel: string, st: fs.BigIntStats): LayerEntry {
    const kind = kindOf(st, rel);
    const xattrs = kind === 'symlink' ? [] : h.xattrs(name, (x) => this.checkXattr(x, rel) && keepXattr(x));
    const e: LayerEntry = {
      name: rel,
      kind,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: this.time(st),
      size: kind === 'file' ? Number(st.size) : 0,
      ...(xattrs.length ? { xattrs } : {}),
    };
    if (kind === 'symlink') e.linkname = h.readlink(name);
    if (kind === 'chardev' || kind === 'blockdev') Object.assign(e, devNumbers(st.rdev));
    if (kind !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first === undefined) this.links.set(key, rel);
      else return { ...e, kind: 'hardlink', linkname: first, size: 0, xattrs: undefined };
    }
    return e;
  }

  private checkXattr(name: string, rel: string): boolean {
    if (this.opts.overlay && UNSUPPORTED_OVERLAY.includes(name))
      throw new NookError(`${showName(rel)} in the container's writable layer uses overlayfs's ${name}, which nook cannot turn into a layer`, {
        hint: 'nook mounts overlayfs without redirect_dir and metacopy; was this container created by another tool?',
      });
    return true;
  }

  /** Opens the file for its content, refusing anything that is no longer the file that was listed. */
  private opener(h: DirHandle, name: string, st: fs.BigIntStats, rel: string): () => number {
    return () => {
      const fd = h.openFile(name);
      const now = fs.fstatSync(fd, { bigint: true });
      if (!now.isFile() || now.ino !== st.ino) {
        fs.closeSync(fd);
        throw changedWhileReading(rel);
      }
      return fd;
    };
  }
}

function kindOf(st: fs.BigIntStats, rel: string): LayerEntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  throw new NookError(`cannot put ${showName(rel)} into a layer: unknown file type`);
}

export function changedWhileReading(rel: string): NookError {
  return new NookError(`${showName(rel)} changed while it was being read into the layer`, {
    hint: 'commit the container stopped, or paused (the default: without --pause=false)',
  });
}
