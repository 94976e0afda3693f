/**
 * The cp helper's side (`nook __cp-helper`), as root of nook's user
 * namespace and of a private mount namespace: requests on stdin, replies on
 * fd 3, one at a time.
 *
 * The container's root is untrusted: any directory of it may be a symlink
 * planted to point at the host. Every container path is resolved inside the
 * root (ffi/in-root.c), and files are written by the build's Copier, which
 * creates entries relative to in-root descriptors and never follows the
 * last component. Host paths are resolved as the user's own (`/` is their
 * root), and the tar on stdin is first extracted by the layer extractor into
 * a fresh directory, which refuses `..`, absolute names and links out.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { loadNative } from '../../../ffi/native';
import { replyToNook, serveHelperRequests } from '../../sandbox/helper-server';
import { MNT, MS, O } from '../../../ffi/linux';
import { Resolve } from '../../../ffi/plan-format';
import { NookError, describeErrno } from '../../errors';
import { openBuildRoot, openLayersView, type MountedRoot } from '../../build/helper/root-mount';
import { Copier } from '../../build/copy/copier';
import type { Owner } from '../../build/copy/owner';
import { extractLayer } from '../../image/unpack/extract';
import { encodeHeader, END_OF_ARCHIVE, padding, type LayerEntry } from '../../image/layer/tar-entry';
import { devNumbers, TreeWalker } from '../../image/layer/tree-walk';
import type { CpHelperReply, CpHelperRequest, CpMount, CpRoot } from './protocol';
import { mountCalls } from '../../../ffi/mount';
import { NOT_FOUND } from './server-messages';

const { ENOENT, ENOTDIR } = os.constants.errno;
const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_NONBLOCK } = fs.constants;

const reply = (r: CpHelperReply): void => replyToNook(r);

const fdPath = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

/** Docker's daemon wording; container-files.ts turns it into "No such container:path: C:PATH". */
const notFound = (p: string) => new NookError(`${NOT_FOUND} ${p} in container`);

function openRoot(root: CpRoot): MountedRoot {
  if ('overlay' in root) return openBuildRoot(root);
  if ('layers' in root) return openLayersView(root.layers);
  return { dir: root.dir, release: () => undefined };
}

/** `/a/b/` and `a/b/.` → `/a/b`; `..` stays inside (`/..` is `/`). */
function clean(p: string): string {
  const c = path.posix.normalize(`/${p}`);
  return c.length > 1 ? c.replace(/\/+$/, '') : c;
}

/** A path for Copier's patterns: its wildcard characters taken literally. */
const literal = (p: string) => p.replace(/[\\*?[]/g, (c) => `\\${c}`);

class InRoot {
  private readonly native = loadNative();
  readonly fd: number;
  constructor(readonly dir: string) {
    this.fd = fs.openSync(dir, O.PATH | O_DIRECTORY | O.CLOEXEC);
  }
  /** `inner` with every symlink followed inside the root: an O_PATH fd, or -errno. */
  resolve(inner: string): number {
    const fd = this.native.resolveInRoot(this.fd, inner, Resolve.EXISTING, 0);
    return fd >= 0 ? fd : -this.native.errno();
  }
  /** Like resolve, but missing (ENOENT, ENOTDIR) is undefined and other errors throw. */
  lookup(inner: string): number | undefined {
    const fd = this.resolve(inner);
    if (fd >= 0) return fd;
    if (-fd === ENOENT || -fd === ENOTDIR) return undefined;
    throw new NookError(`${inner}: ${describeErrno(-fd)}`);
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

interface Source {
  /** Cleaned path in its root. */
  inner: string;
  /** Its name where it lands ('' for the root). */
  name: string;
  /** `SRC/.`: a directory's contents, not the directory. */
  contents: boolean;
  st: fs.BigIntStats;
  /** O_PATH of the entry (a symlink itself when not followed). */
  fd: number;
  linkTarget?: string;
}

/** The source `written` in `root`: its symlinks followed inside the root, the last one only with -L (or `/.`, `/`). */
function lookupSource(root: InRoot, written: string, follow: boolean, shown: string): Source {
  const inner = clean(written);
  const contents = inner === '/' || /(^|\/)\.$/.test(written);
  const name = path.posix.basename(inner);
  if (follow || contents || written.endsWith('/') || inner === '/') {
    const fd = root.lookup(inner);
    if (fd === undefined) throw notFound(shown);
    const st = fs.fstatSync(fd, { bigint: true });
    if ((contents || written.endsWith('/')) && !st.isDirectory()) {
      fs.closeSync(fd);
      throw new NookError(`${shown}: not a directory`);
    }
    return { inner, name, contents, st, fd };
  }
  const parent = root.lookup(path.posix.dirname(inner));
  if (parent === undefined) throw notFound(shown);
  try {
    const st = fs.lstatSync(fdPath(parent, name), { bigint: true, throwIfNoEntry: false });
    if (!st) throw notFound(shown);
    const fd = fs.openSync(fdPath(parent, name), O.PATH | O_NOFOLLOW | O.CLOEXEC);
    return { inner, name, contents, st, fd, linkTarget: st.isSymbolicLink() ? fs.readlinkSync(fdPath(parent, name)) : undefined };
  } finally {
    fs.closeSync(parent);
  }
}

/** Where the source lands in `dest`'s root, by docker cp's rules (the parent of a new path must exist; none is made). */
function placement(root: InRoot, src: Source, written: string, shown: string): { path: string; isDir: boolean } {
  const inner = clean(written);
  const asDir = written.endsWith('/') || /(^|\/)\.$/.test(written);
  const fd = root.lookup(inner);
  let isDir: boolean | undefined;
  if (fd !== undefined) {
    isDir = fs.fstatSync(fd).isDirectory();
    fs.closeSync(fd);
  }
  const needParent = () => {
    const p = root.lookup(path.posix.dirname(inner));
    if (p === undefined) throw new NookError(`${shown}: no such directory`, { hint: 'nook cp, as docker cp, does not make missing parent directories' });
    const ok = fs.fstatSync(p).isDirectory();
    fs.closeSync(p);
    if (!ok) throw new NookError(`${shown}: the parent is not a directory`);
  };
  if (src.st.isDirectory()) {
    if (isDir === undefined) {
      needParent();
      return { path: inner, isDir: true };
    }
    if (!isDir) throw new NookError(`cannot copy a directory to a file: ${shown}`);
    return { path: src.contents || !src.name ? inner : path.posix.join(inner, src.name), isDir: true };
  }
  if (isDir === undefined) {
    if (asDir) throw new NookError(`${shown}: no such directory`, { hint: 'a destination ending in / must be an existing directory' });
    needParent();
    return { path: inner, isDir: false };
  }
  return isDir ? { path: path.posix.join(inner, src.name), isDir: false } : { path: inner, isDir: false };
}

/** A symlink source copied as the link itself (without -L), at `slot` in `dest`. */
function copySymlink(dest: InRoot, src: Source, slot: string, owner: Owner): void {
  const parent = dest.lookup(path.posix.dirname(slot));
  if (parent === undefined) throw new NookError(`${slot}: no such directory`);
  try {
    const name = path.posix.basename(slot);
    const existing = fs.lstatSync(fdPath(parent, name), { throwIfNoEntry: false });
    if (existing?.isDirectory()) throw new NookError(`cannot overwrite directory ${slot} with a symlink`);
    if (existing) fs.unlinkSync(fdPath(parent, name));
    fs.symlinkSync(src.linkTarget!, fdPath(parent, name));
    fs.lchownSync(fdPath(parent, name), owner.uid, owner.gid);
  } finally {
    fs.closeSync(parent);
  }
}

/** Copies `src` (in `from`) to `to` by docker cp's rules. `keepOwners`: -a (or a tar's owners). */
async function copyBetween(from: InRoot, src: Source, to: InRoot, destWritten: string, keepOwners: boolean, shownDest: string): Promise<void> {
  const where = placement(to, src, destWritten, shownDest);
  if (src.linkTarget !== undefined) {
    const slot = where.isDir ? path.posix.join(where.path, src.name) : where.path;
    copySymlink(to, src, slot, keepOwners ? { uid: Number(src.st.uid), gid: Number(src.st.gid) } : { uid: 0, gid: 0 });
    return;
  }
  await new Copier({
    instruction: 'cp',
    rootDir: to.dir,
    sourceDir: from.dir,
    sourceKind: keepOwners ? 'image' : 'context',
    patterns: [literal(src.inner)],
    dest: { path: where.path, isDir: src.st.isDirectory() },
  }).run();
}

/** Tar entries written synchronously to a file. */
class TarFile {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  constructor(file: string) {
    // A FIFO nook reads from (or a new file).
    this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | O.CLOEXEC, 0o600);
  }
  entry(e: LayerEntry, open?: () => number): void {
    fs.writeSync(this.fd, encodeHeader(e));
    if (!open) return;
    const fd = open();
    try {
      let done = 0;
      while (done < e.size) {
        const n = fs.readSync(fd, this.buf, 0, Math.min(this.buf.length, e.size - done), null);
        if (n === 0) throw new NookError(`${e.name} shrank while it was being read`);
        fs.writeSync(this.fd, this.buf, 0, n);
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.writeSync(this.fd, padding(e.size));
  }
  /** A tree under `prefix` ('' for its entries at the top). */
  async tree(dir: string, prefix: string): Promise<void> {
    const under = (name: string) => (prefix ? `${prefix}/${name}` : name);
    // A hard link's target is a name in the tree too.
    const sink = { entry: async (e: LayerEntry, open?: () => number) => this.entry({ ...e, name: under(e.name), ...(e.kind === 'hardlink' ? { linkname: under(e.linkname!) } : {}) }, open) };
    await new TreeWalker({ overlay: false }, sink).walk(dir, 'all');
  }
  finish(): void {
    fs.writeSync(this.fd, END_OF_ARCHIVE);
    fs.closeSync(this.fd);
  }
}

function entryOf(name: string, st: fs.BigIntStats, linkTarget?: string): LayerEntry {
  const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'blockdev' : undefined;
  if (!kind) throw new NookError(`${name} is a socket, which cannot be copied`);
  return {
    name,
    kind,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: Number(st.mtimeNs / 1_000_000_000n),
    size: kind === 'file' ? Number(st.size) : 0,
    ...(linkTarget !== undefined ? { linkname: linkTarget } : {}),
    ...(kind === 'chardev' || kind === 'blockdev' ? devNumbers(st.rdev) : {}),
  };
}

/** The source as a tar, as docker's: a directory under its name (its contents at the top for `/.`). */
async function tarSource(src: Source, out: string): Promise<void> {
  const tar = new TarFile(out);
  if (src.st.isDirectory()) {
    const prefix = src.contents ? '' : src.name;
    if (prefix) tar.entry(entryOf(prefix, src.st));
    await tar.tree(`${fdPath(src.fd)}/.`, prefix);
  } else if (src.linkTarget !== undefined) tar.entry(entryOf(src.name, src.st, src.linkTarget));
  else tar.entry(entryOf(src.name, src.st), () => fs.openSync(fdPath(src.fd), O_RDONLY | O_NONBLOCK | O.CLOEXEC));
  tar.finish();
}

async function cpOut(req: Extract<CpHelperRequest, { op: 'cp-out' }>): Promise<void> {
  const mounted = openRoot(req.root);
  const root = new InRoot(mounted.dir);
  try {
    const src = lookupSource(root, req.src, req.follow, clean(req.src));
    try {
      if (req.tarOut !== undefined) return await tarSource(src, req.tarOut);
      const host = new InRoot('/');
      try {
        await copyBetween(root, src, host, req.hostDest!, req.archive, req.hostDest!);
      } finally {
        host.close();
      }
    } finally {
      fs.closeSync(src.fd);
    }
  } finally {
    root.close();
    mounted.release();
  }
}

/** `tar` extracted into a fresh private directory, given to `fn` as a root, removed afterwards. */
async function withExtracted(tar: string, layerName: string, ids: CpHelperRequest['ids'], archive: boolean, fn: (from: InRoot) => Promise<void>): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cp-'));
  try {
    const files = path.join(tmp, 'files');
    fs.mkdirSync(files, { mode: 0o755 });
    // Owners the tar gives are kept; ids nook cannot map become root's unless -a asked to keep them all.
    try {
      await extractLayer(tar, files, { ids, squashIds: !archive, layerName, maxExpansion: 0 });
    } catch (e) {
      // The layer extractor's hints speak of pulled images; this tar is the user's.
      if (e instanceof NookError) throw new NookError(e.message, { hint: 'cp - reads a tar archive from standard input, e.g. tar -cf - DIR | nook cp - CONTAINER:/DIR' });
      throw e;
    }
    const from = new InRoot(files);
    try {
      await fn(from);
    } finally {
      from.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The O_PATH fd of `target` in `root`, its missing components made (directories; the last one a file for a file mount). */
function mountPoint(root: InRoot, target: string, file: boolean): number {
  const parts = clean(target).split('/').filter(Boolean);
  let fd = root.lookup('/')!;
  for (let i = 0; i < parts.length; i++) {
    const inner = `/${parts.slice(0, i + 1).join('/')}`;
    let next = root.lookup(inner);
    if (next === undefined) {
      const at = fdPath(fd, parts[i]);
      if (file && i === parts.length - 1) fs.closeSync(fs.openSync(at, fs.constants.O_WRONLY | fs.constants.O_CREAT | O_NOFOLLOW | O.CLOEXEC, 0o644));
      else fs.mkdirSync(at, { mode: 0o755 });
      next = root.lookup(inner);
      if (next === undefined) throw new NookError(`cannot make the mount point ${inner}`);
    }
    fs.closeSync(fd);
    fd = next;
  }
  return fd;
}

/**
 * A stopped container's volumes and bind mounts, mounted on its root in the
 * helper's mount namespace (parents first), as they are when it runs; each
 * mount point resolved inside the root. Returns what unmounts them.
 */
function mountVolumes(root: InRoot, mounts: CpMount[]): () => void {
  const m = mountCalls();
  const done: string[] = [];
  const depth = (t: string) => clean(t).split('/').length;
  const unmountAll = () => {
    for (const t of done.reverse()) if (m.umount2(t, 0) !== 0) m.umount2(t, MNT.DETACH);
  };
  try {
    for (const v of [...mounts].sort((a, b) => depth(a.target) - depth(b.target))) {
      const st = fs.statSync(v.source, { throwIfNoEntry: false });
      if (!st) throw new NookError(`the source of the mount on ${v.target} is gone: ${v.source}`);
      const fd = mountPoint(root, v.target, !st.isDirectory());
      // Mounted through the fd's path: the kernel's lookup cannot be redirected by a symlink.
      const at = fdPath(fd);
      try {
        if (m.mount(v.source, at, null, MS.BIND | MS.REC, null) !== 0) throw new NookError(`mounting ${v.source} on ${v.target}: ${describeErrno(m.errno())}`);
      } finally {
        fs.closeSync(fd);
      }
      // The mount is now what the path names; find it again by that path to remount and unmount it.
      const again = root.lookup(clean(v.target))!;
      const real = fs.readlinkSync(fdPath(again));
      fs.closeSync(again);
      done.push(real);
      if (v.readOnly && m.mount(null, real, null, MS.BIND | MS.REMOUNT | MS.RDONLY, null) !== 0)
        throw new NookError(`making the mount on ${v.target} read-only: ${describeErrno(m.errno())}`);
    }
  } catch (e) {
    unmountAll();
    throw e;
  }
  return unmountAll;
}

async function cpIn(req: Extract<CpHelperRequest, { op: 'cp-in' }>): Promise<void> {
  const mounted = openRoot(req.root);
  const root = new InRoot(mounted.dir);
  let unmountVolumes = () => undefined as void;
  try {
    if (req.mounts?.length) unmountVolumes = mountVolumes(root, req.mounts);
    if (req.tarIn !== undefined && req.tarSource !== undefined) {
      await withExtracted(req.tarIn, 'the copied files', req.ids, req.archive, async (from) => {
        const src = lookupSource(from, req.tarSource!, false, req.tarSource!);
        try {
          await copyBetween(from, src, root, req.dest, req.archive, clean(req.dest));
        } finally {
          fs.closeSync(src.fd);
        }
      });
      return;
    }
    if (req.tarIn !== undefined) {
      // A tar is extracted into a directory that must exist, as docker's.
      const dest = root.lookup(clean(req.dest));
      if (dest === undefined) throw notFound(clean(req.dest));
      const isDir = fs.fstatSync(dest).isDirectory();
      fs.closeSync(dest);
      if (!isDir) throw new NookError(`extraction point is not a directory: ${clean(req.dest)}`);
      await withExtracted(req.tarIn, 'the tar on stdin', req.ids, req.archive, async (from) => {
        const src = lookupSource(from, '/', true, '-');
        try {
          await copyBetween(from, src, root, `${clean(req.dest)}/.`, true, clean(req.dest));
        } finally {
          fs.closeSync(src.fd);
        }
      });
      return;
    }
    const host = new InRoot('/');
    try {
      const src = lookupSource(host, req.hostSrc!, req.follow, req.hostSrc!);
      try {
        await copyBetween(host, src, root, req.dest, req.archive, clean(req.dest));
      } finally {
        fs.closeSync(src.fd);
      }
    } finally {
      host.close();
    }
  } finally {
    unmountVolumes();
    root.close();
    mounted.release();
  }
}

async function exportRoot(req: Extract<CpHelperRequest, { op: 'export' }>): Promise<void> {
  const mounted = openRoot(req.root);
  try {
    const tar = new TarFile(req.out);
    await tar.tree(mounted.dir, '');
    tar.finish();
  } finally {
    mounted.release();
  }
}

export function cpHelperMain(): Promise<number> {
  // Modes are set explicitly on everything written; no umask in between.
  process.umask(0);
  return serveHelperRequests<CpHelperRequest>(
    async (req) => {
      if (req.op === 'cp-out') await cpOut(req);
      else if (req.op === 'cp-in') await cpIn(req);
      else await exportRoot(req);
      reply({ id: req.id, event: 'done' });
    },
    (e) => (e instanceof NookError ? e.message : `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`.trim()),
  );
}
