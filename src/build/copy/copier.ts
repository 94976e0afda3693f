/**
 * The files of a COPY or ADD written into an image's root (a mounted overlay
 * or a plain directory), run by the build helper as root of nook's user
 * namespace, so that owners are the ids the container sees.
 *
 * The root is the image's, and the image is untrusted: a directory of it may
 * be a symlink planted to point at the host (`/app -> /home/user`). Every
 * destination directory is therefore reached with the executor's in-root
 * resolution (ffi/in-root.c: symlinks followed inside the root, never out of
 * it), and held as an O_PATH descriptor; entries are created relative to it
 * (through /proc/self/fd/N/NAME, the last component never followed), so no
 * host path through the image's symlinks is ever used.
 *
 * Semantics follow BuildKit's copy (tonistiigi/fsutil): a source directory
 * copies its contents; a file to a directory keeps its name; missing
 * destination directories are made 0755 with the --chown owner; an existing
 * entry is replaced, except a directory by a file (an error); symlinks inside
 * a copied directory are copied as symlinks, the source argument itself is
 * followed; hard links within one copy stay hard links; modes (setuid too)
 * and modification times are kept, owners are the --chown ids (default 0:0
 * from the build context, kept from a stage or image).
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { loadNative } from '../../../ffi/native';
import { O } from '../../../ffi/linux';
import { Resolve } from '../../../ffi/plan-format';
import { libcFs } from '../../../ffi/libc-fs';
import { NookError, describeErrno } from '../../errors';
import { setTimes, type Timestamp } from '../../image/unpack/times';
import type { ModeChange } from '../chmod';
import { cleanPath, IgnoreMatcher } from '../context/dockerignore';
import { globMatch } from './match';
import { cleanSource, checkSourceCount, fileTarget, notFound, splitWildcards, type Destination, type Instruction } from './rules';
import type { Owner } from './owner';

const { ENOENT, ENOTDIR, ELOOP } = os.constants.errno;
const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, COPYFILE_EXCL } = fs.constants;
const S_IFIFO = 0o010000;

export interface CopySpec {
  instruction: Instruction;
  /** Host directory that becomes / (a mounted overlay, or the copy fallback's directory). */
  rootDir: string;
  /** Host directory the sources are looked up in, as if it were /. */
  sourceDir: string;
  /** 'context': the build context (owners become 0:0, .dockerignore applies); 'image': a stage or image (owners kept). */
  sourceKind: 'context' | 'image';
  /** .dockerignore patterns (as readDockerignore gives them), for the build context. */
  excludes?: readonly string[];
  /** --exclude patterns, matched against the paths as they land under the destination. */
  exclude?: readonly string[];
  /** --parents: each source keeps its path from the source root (or from a `/./` in the pattern) under the destination. */
  parents?: boolean;
  patterns: readonly string[];
  dest: Destination;
  /** --chown, resolved; undefined: 0:0 from the context, the source's own from an image. */
  owner?: Owner;
  /** --chmod (parsed by ../chmod.ts): the mode of each entry from its source mode. */
  chmod?: ModeChange;
  /** ADD: a local tar archive is extracted (by `extract`) instead of copied. */
  add?: { isArchive(file: string): Promise<boolean>; extract(file: string, into: (dir: string) => Promise<void>): Promise<void> };
}

export interface CopyResult {
  /** Entries written (files, links, directories). */
  files: number;
}

/** Where a walk is: in the build context (.dockerignore), under the destination (--exclude), in an ADD archive. */
interface Walk {
  rel: string;
  destRel: string;
  archive?: boolean;
  /** The source argument itself (a file): its hard links are not tracked. */
  top?: boolean;
}

interface Source {
  /** The pattern's path in the source root (for names and messages). */
  inner: string;
  /** Path relative to the source root, for .dockerignore. */
  rel: string;
  /** With --parents: the path it keeps under the destination. */
  keep?: string;
  /** The source with its own symlinks followed (inside the source root): O_PATH. */
  fd: number;
  st: fs.BigIntStats;
}

const fdPath = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);
const cPath = (p: string) => Buffer.from(`${p}\0`);

function lstatOrUndefined(p: string): fs.BigIntStats | undefined {
  return fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
}

function ns(t: bigint): Timestamp {
  return { sec: Number(t / 1_000_000_000n), nsec: Number(t % 1_000_000_000n) };
}

/** One COPY or ADD. Not reusable: it holds descriptors until `run` ends. */
export class Copier {
  private readonly native = loadNative();
  private readonly ignore?: IgnoreMatcher;
  private readonly exclude?: IgnoreMatcher;
  private rootFd = -1;
  private srcRootFd = -1;
  private files = 0;
  /** Hard links: source dev:ino → where its first copy went (parent inside the root, name). */
  private readonly links = new Map<string, { dir: string; name: string }>();

  constructor(private readonly spec: CopySpec) {
    if (spec.sourceKind === 'context' && spec.excludes?.length) this.ignore = new IgnoreMatcher([...spec.excludes]);
    if (spec.exclude?.length) this.exclude = new IgnoreMatcher([...spec.exclude], `${spec.instruction} --exclude`);
  }

  async run(): Promise<CopyResult> {
    const flags = O.PATH | O_DIRECTORY | O.CLOEXEC;
    this.rootFd = fs.openSync(this.spec.rootDir, flags);
    try {
      this.srcRootFd = fs.openSync(this.spec.sourceDir, flags);
      const sources = this.expandSources();
      try {
        checkSourceCount(this.spec.instruction, sources.length, this.spec.dest);
        for (const s of sources) await this.copySource(s);
      } finally {
        for (const s of sources) fs.closeSync(s.fd);
      }
    } finally {
      if (this.srcRootFd >= 0) fs.closeSync(this.srcRootFd);
      fs.closeSync(this.rootFd);
    }
    return { files: this.files };
  }

  // ---- sources ----

  private resolveSource(inner: string): number {
    const fd = this.native.resolveInRoot(this.srcRootFd, inner, Resolve.EXISTING, 0);
    if (fd >= 0) return fd;
    return -this.native.errno();
  }

  /** Ignored by .dockerignore (a path relative to the source root). */
  private ignored(rel: string): boolean {
    return rel !== '' && rel !== '.' && (this.ignore?.excludes(rel) ?? false);
  }

  /**
   * A walk skips an ignored entry; an ignored directory only when no `!`
   * pattern names something below it (BuildKit's rule: a directory with
   * nothing brought back is not even created).
   */
  private skipped(rel: string, isDir: boolean, m = this.ignore, patterns = this.spec.excludes): boolean {
    if (!m?.excludes(rel)) return false;
    if (!isDir || !m.hasExceptions) return true;
    const dirSlash = `${rel}/`;
    return !(patterns ?? []).some((p) => p.startsWith('!') && `${cleanPath(p.slice(1).trim())}/`.startsWith(dirSlash));
  }

  private openSource(inner: string, pattern: string): Source {
    const rel = inner.replace(/^\/+/, '');
    const inContext = this.spec.sourceKind === 'context';
    if (this.ignored(rel)) throw notFound(this.spec.instruction, pattern, inContext);
    const fd = this.resolveSource(inner);
    if (fd < 0) {
      if (-fd === ENOENT || -fd === ENOTDIR) throw notFound(this.spec.instruction, pattern, inContext);
      throw new NookError(`${this.spec.instruction} failed: ${pattern}: ${describeErrno(-fd)}`);
    }
    // Through a symlink to an ignored file is still ignored (what it resolved to, in the context).
    if (this.ignore) {
      const real = path.relative(fs.realpathSync(this.spec.sourceDir), fs.readlinkSync(fdPath(fd)));
      if (!real.startsWith('..') && this.ignored(real.split(path.sep).join('/'))) {
        fs.closeSync(fd);
        throw notFound(this.spec.instruction, pattern, inContext);
      }
    }
    return { inner, rel, fd, st: fs.fstatSync(fd, { bigint: true }), keep: this.keptPath(pattern, inner) };
  }

  /** --parents: the source's path from the root, or from the `/./` pivot written in the pattern. */
  private keptPath(pattern: string, inner: string): string | undefined {
    if (!this.spec.parents) return undefined;
    const pivot = pattern.indexOf('/./');
    const base = pivot < 0 ? '/' : cleanSource(pattern.slice(0, pivot));
    const rel = path.posix.relative(base, inner);
    return rel.startsWith('..') ? inner.slice(1) : rel;
  }

  /** Every source, in order: plain paths as they are, wildcards matched against the source tree (sorted, as Go's Walk). */
  private expandSources(): Source[] {
    const out: Source[] = [];
    try {
      for (const pattern of this.spec.patterns) {
        const inner = cleanSource(pattern);
        const { base, rest } = splitWildcards(inner);
        if (!rest) {
          out.push(this.openSource(inner.replace(/\\(.)/g, '$1'), pattern));
          continue;
        }
        // No match is no error: BuildKit allows empty wildcards in Dockerfiles (the legacy builder did not).
        const baseFd = this.resolveSource(base);
        if (baseFd >= 0) {
          try {
            this.matchWalk(baseFd, '', rest, (rel) => out.push(this.openSource(path.posix.join(base, rel), pattern)), base);
          } finally {
            fs.closeSync(baseFd);
          }
        }
      }
    } catch (e) {
      for (const s of out) fs.closeSync(s.fd);
      throw e;
    }
    return out;
  }

  /** filepath.Walk + filepath.Match as BuildKit's resolveWildcards: a matching directory is taken whole. */
  private matchWalk(baseFd: number, rel: string, pattern: string, found: (rel: string) => void, base: string): void {
    const names = fs.readdirSync(fdPath(baseFd, rel || '.')).sort();
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      const ctxRel = path.posix.join(base, child).replace(/^\/+/, '');
      const st = fs.lstatSync(fdPath(baseFd, child));
      if (this.skipped(ctxRel, st.isDirectory())) continue;
      if (globMatch(pattern, child)) {
        if (!this.ignored(ctxRel)) found(child);
        continue;
      }
      if (st.isDirectory()) this.matchWalk(baseFd, child, pattern, found, base);
    }
  }

  // ---- destination ----

  private ownerFor(st: fs.BigIntStats): Owner {
    if (this.spec.owner) return this.spec.owner;
    return this.spec.sourceKind === 'context' ? { uid: 0, gid: 0 } : { uid: Number(st.uid), gid: Number(st.gid) };
  }

  private resolveDest(inner: string): number {
    const fd = this.native.resolveInRoot(this.rootFd, inner, Resolve.EXISTING, 0);
    return fd >= 0 ? fd : -this.native.errno();
  }

  private nonDirError(inner: string): NookError {
    return new NookError(`${this.spec.instruction} failed: cannot copy to non-directory: ${inner}`, {
      hint: `${inner} exists in the image and is not a directory; copy to another path, or remove it in an earlier step`,
    });
  }

  /**
   * The directory `inner` of the root, made (with its missing parents: 0755,
   * the --chown owner) when missing; an O_PATH descriptor.
   */
  private ensureDir(inner: string): number {
    const fd = this.resolveDest(inner);
    if (fd >= 0) {
      if (!fs.fstatSync(fd).isDirectory()) {
        fs.closeSync(fd);
        throw this.nonDirError(inner);
      }
      return fd;
    }
    // ENOTDIR: a parent is not a directory; the walk up names which.
    if (-fd !== ENOENT && -fd !== ENOTDIR) throw new NookError(`${this.spec.instruction} failed: ${inner}: ${describeErrno(-fd)}`);
    const parent = this.ensureDir(path.posix.dirname(inner));
    try {
      const name = path.posix.basename(inner);
      try {
        fs.mkdirSync(fdPath(parent, name), 0o755);
        const owner = this.spec.owner ?? { uid: 0, gid: 0 };
        this.setMeta(parent, name, 'dir', owner, 0o755);
      } catch (e) {
        // A dangling symlink is there: in-root resolution makes its target, inside the root.
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const made = this.native.resolveInRoot(this.rootFd, inner, Resolve.CREATE_DIR, 0o755);
        if (made < 0) throw new NookError(`${this.spec.instruction} failed: creating ${inner}: ${describeErrno(this.native.errno())}`);
        fs.closeSync(made);
      }
    } finally {
      fs.closeSync(parent);
    }
    const made = this.resolveDest(inner);
    if (made < 0) throw new NookError(`${this.spec.instruction} failed: ${inner}: ${describeErrno(-made)}`);
    if (!fs.fstatSync(made).isDirectory()) {
      fs.closeSync(made);
      throw this.nonDirError(inner);
    }
    return made;
  }

  /**
   * Where a file lands when the destination is not a directory: its parent
   * (made if missing) and its name. A symlink there is followed inside the
   * root, as BuildKit does (it resolves the whole destination in the root).
   */
  private fileSlot(inner: string): { dir: string; name: string } {
    for (let hops = 0; hops < 40; hops++) {
      const dir = path.posix.dirname(inner);
      const name = path.posix.basename(inner);
      const parent = this.ensureDir(dir);
      try {
        const st = lstatOrUndefined(fdPath(parent, name));
        if (!st?.isSymbolicLink()) return { dir, name };
        const target = fs.readlinkSync(fdPath(parent, name));
        inner = path.posix.normalize(target.startsWith('/') ? target : path.posix.join(dir, target));
      } finally {
        fs.closeSync(parent);
      }
    }
    throw new NookError(`${this.spec.instruction} failed: ${inner}: ${describeErrno(ELOOP)}`);
  }

  // ---- copying ----

  private async copySource(s: Source): Promise<void> {
    const srcPath = fdPath(s.fd);
    // --parents: the destination of this source is its kept path under the destination directory.
    const keptDir = s.keep === undefined ? undefined : path.posix.join(this.spec.dest.path, s.st.isDirectory() ? s.keep : path.posix.dirname(s.keep));
    const dest: Destination = keptDir ? { path: keptDir, isDir: true } : this.spec.dest;
    if (s.st.isDirectory()) {
      const dir = this.ensureDir(dest.path);
      try {
        this.copyTree(srcPath, dir, dest.path, { rel: s.rel, destRel: s.keep ?? '' });
      } finally {
        fs.closeSync(dir);
      }
      return;
    }
    if (this.spec.add && s.st.isFile() && (await this.spec.add.isArchive(srcPath))) {
      await this.spec.add.extract(srcPath, async (extracted) => {
        const dir = this.ensureDir(dest.path);
        try {
          this.copyTree(extracted, dir, dest.path, { rel: '', destRel: '', archive: true });
        } finally {
          fs.closeSync(dir);
        }
      });
      return;
    }
    if (this.exclude?.excludes(s.keep ?? path.posix.basename(s.inner))) return;
    const existing = this.resolveDest(dest.path);
    let isDir = false;
    if (existing >= 0) {
      isDir = fs.fstatSync(existing).isDirectory();
      fs.closeSync(existing);
    }
    const target = fileTarget(dest, isDir, path.posix.basename(s.inner));
    const slot = dest.isDir || isDir ? { dir: path.posix.dirname(target), name: path.posix.basename(target) } : this.fileSlot(target);
    const parent = this.ensureDir(slot.dir);
    try {
      this.copyEntry(srcPath, s.st, parent, slot.dir, slot.name, { rel: s.rel, destRel: '', top: true });
    } finally {
      fs.closeSync(parent);
    }
  }

  /**
   * The contents of the directory `src` into the destination directory
   * `dirFd` (at `inner` in the root), `at` saying where the directory is in
   * the build context (.dockerignore) and under the destination (--exclude).
   */
  private copyTree(src: string, dirFd: number, inner: string, at: Walk): void {
    for (const name of fs.readdirSync(src).sort()) {
      const child: Walk = { rel: at.rel ? `${at.rel}/${name}` : name, destRel: at.destRel ? `${at.destRel}/${name}` : name, archive: at.archive };
      const st = fs.lstatSync(path.join(src, name), { bigint: true });
      if (!at.archive && this.skipped(child.rel, st.isDirectory())) continue;
      if (this.skipped(child.destRel, st.isDirectory(), this.exclude, this.spec.exclude)) continue;
      this.copyEntry(path.join(src, name), st, dirFd, inner, name, child);
    }
  }

  /** One entry `src` (lstat `st`) as `name` in the destination directory `dirFd`. */
  private copyEntry(src: string, st: fs.BigIntStats, dirFd: number, dirInner: string, name: string, at: Walk): void {
    try {
      this.writeEntry(src, st, dirFd, dirInner, name, at);
    } catch (e) {
      if (e instanceof NookError) throw e;
      // Node's message names /proc/self/fd paths: name the file as the user wrote it instead.
      const err = e as NodeJS.ErrnoException;
      const what = at.archive ? path.posix.join(dirInner, name) : at.rel || path.posix.join(dirInner, name);
      throw new NookError(`${this.spec.instruction} failed: ${what}: ${err.code ?? err.message}${err.syscall ? ` (${err.syscall})` : ''}`, {
        hint: err.code === 'EACCES' ? 'nook reads the sources as you: make them readable by your user' : undefined,
        cause: e,
      });
    }
  }

  private writeEntry(src: string, st: fs.BigIntStats, dirFd: number, dirInner: string, name: string, at: Walk): void {
    const dst = fdPath(dirFd, name);
    const inner = path.posix.join(dirInner, name);
    const owner = at.archive && !this.spec.owner ? { uid: Number(st.uid), gid: Number(st.gid) } : this.ownerFor(st);
    const own = Number(st.mode & 0o7777n);
    const mode = this.spec.chmod ? this.spec.chmod(own, st.isDirectory()) : own;
    const times: [Timestamp, Timestamp] = [ns(st.atimeNs), ns(st.mtimeNs)];
    const existing = lstatOrUndefined(dst);

    if (st.isDirectory()) {
      let childFd: number;
      let followed = false;
      if (existing?.isDirectory()) childFd = fs.openSync(dst, O.PATH | O_DIRECTORY | O_NOFOLLOW | O.CLOEXEC);
      else if (existing?.isSymbolicLink()) {
        // A symlink to a directory (merged /usr: /lib -> usr/lib) is followed, inside the root.
        childFd = this.resolveDest(inner);
        followed = true;
        if (childFd < 0 || !fs.fstatSync(childFd).isDirectory()) {
          if (childFd >= 0) fs.closeSync(childFd);
          throw this.nonDirError(inner);
        }
      } else if (existing) throw this.nonDirError(inner);
      else {
        fs.mkdirSync(dst, 0o700);
        childFd = fs.openSync(dst, O.PATH | O_DIRECTORY | O_NOFOLLOW | O.CLOEXEC);
      }
      try {
        this.copyTree(src, childFd, inner, at);
        // Set after the children: writing them changes the directory's time. A directory reached
        // through the image's symlink is the image's own (/usr/lib): its metadata stays.
        if (!followed) this.setMeta(childFd, undefined, 'dir', owner, mode, times);
      } finally {
        fs.closeSync(childFd);
      }
      this.files++;
      return;
    }

    if (st.isCharacterDevice() && st.rdev === 0n) return; // an overlay whiteout in a layer: nothing to copy
    if (existing?.isDirectory())
      throw new NookError(`${this.spec.instruction} failed: cannot replace to directory ${inner} with file`, {
        hint: `${inner} is a directory in the image; copy the file into it (end the destination with /) or to another path`,
      });
    if (existing) fs.unlinkSync(dst);

    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(src), dst);
      this.setMeta(dirFd, name, 'symlink', owner, 0, times);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1n ? this.links.get(key) : undefined;
      if (first) {
        const firstDir = this.resolveDest(first.dir);
        if (firstDir < 0) throw new NookError(`${this.spec.instruction} failed: ${first.dir}: ${describeErrno(-firstDir)}`);
        try {
          fs.linkSync(fdPath(firstDir, first.name), dst);
        } finally {
          fs.closeSync(firstDir);
        }
        this.files++;
        return;
      }
      fs.copyFileSync(src, dst, COPYFILE_EXCL);
      this.setMeta(dirFd, name, 'file', owner, mode, times);
      if (st.nlink > 1n && !at.top) this.links.set(key, { dir: dirInner, name });
    } else if (st.isFIFO()) {
      const lib = libcFs();
      if (lib.mknod(cPath(dst), S_IFIFO | 0o600, 0) < 0)
        throw new NookError(`${this.spec.instruction} failed: creating the FIFO ${inner}: ${describeErrno(lib.errno())}`);
      this.setMeta(dirFd, name, 'file', owner, mode, times);
    } else {
      throw new NookError(`${this.spec.instruction} failed: ${at.rel || inner} is a ${st.isSocket() ? 'socket' : 'device'}, which cannot be copied into an image`, {
        hint: 'remove it from the sources, or exclude it in .dockerignore',
      });
    }
    this.files++;
  }

  /**
   * Owner, mode and times of the entry `name` in `dirFd` (or of `dirFd`
   * itself). On an fd opened without following, so that nothing planted
   * is touched; chmod after chown, which clears setuid bits.
   */
  private setMeta(dirFd: number, name: string | undefined, kind: 'dir' | 'file' | 'symlink', owner: Owner, mode: number, times?: [Timestamp, Timestamp]): void {
    const p = name === undefined ? fdPath(dirFd) : fdPath(dirFd, name);
    try {
      if (kind === 'symlink') fs.lchownSync(p, owner.uid, owner.gid);
      else {
        const fd = name === undefined && kind === 'dir'
          ? fs.openSync(`${p}/.`, O_RDONLY | O_DIRECTORY | O.CLOEXEC)
          : fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O.CLOEXEC | (kind === 'dir' ? O_DIRECTORY : 0));
        try {
          fs.fchownSync(fd, owner.uid, owner.gid);
          fs.fchmodSync(fd, mode);
        } finally {
          fs.closeSync(fd);
        }
      }
      if (times) setTimes(cPath(name === undefined ? `${p}/.` : p), times[0], times[1]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EINVAL' && (err.syscall === 'fchown' || err.syscall === 'lchown'))
        throw new NookError(`${this.spec.instruction} failed: cannot give ${name ?? 'a directory'} the owner ${owner.uid}:${owner.gid}: that id is not mapped in nook's user namespace`, {
          hint: 'give your user subordinate ids (/etc/subuid and /etc/subgid), or use --chown with your own id (0 inside)',
          cause: e,
        });
      throw e;
    }
  }
}
