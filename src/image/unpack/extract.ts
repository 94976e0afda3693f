/**
 * Extracts an image layer (a tar blob, gzip/zstd/uncompressed) into an empty
 * directory, exactly and in the form overlayfs reads: whiteouts as 0/0
 * character devices, opaque directories as user.overlay.opaque=y.
 *
 * Safety rests on three rules. Names are checked before anything is
 * created (no absolute names, no "..", no NUL). Every parent directory of an
 * entry is verified with lstat to be a real directory inside `dest` (never a
 * symlink), and remembered so each is checked once. Nothing is ever created
 * or changed through a symlink: files are opened O_CREAT|O_EXCL|O_NOFOLLOW
 * (an existing entry is unlinked first), ownership and modes are set with
 * lchown or on an open descriptor, times with utimensat(AT_SYMLINK_NOFOLLOW).
 * The layer's own entries are the only writers in `dest` while it runs, so a
 * checked path stays as checked.
 */
import fs = require('node:fs');
import { createHash } from 'node:crypto';
import path = require('node:path');
import { libcFs } from '../../../ffi/libc-fs';
import { NookError, describeErrno, errnoName } from '../../errors';
import { DAMAGED_HINT, forEachTarChunk } from './decompress';
import { Owners, type IdPolicy, type IdRange } from './owners';
import { DestPaths, UnsafeName, baseOf, nameComponents, parentOf, showName } from './paths';
import { TarFormatError, TarReader, type EntrySink, type TarEntry, type TarVisitor } from './tar-reader';
import { setTimes, type Timestamp } from './times';
import { makeWhiteout, parseWhiteout, setOpaque } from './whiteouts';
import { XattrWriter } from './xattrs';

export { isOpaque, isWhiteout, OPAQUE_XATTR } from './whiteouts';
export type { IdRange };

export interface ExtractOptions {
  /** Inside ids that may own files. 'any' (real root, tests) skips the check. */
  ids: IdPolicy;
  /** Owners outside `ids` become 0:0 instead of failing the pull (single-uid hosts, asked for with --squash-ids); one warning per layer says how many. */
  squashIds?: boolean;
  onWarning?: (message: string) => void;
  onDebug?: (message: string) => void;
  /** Compressed bytes consumed so far, for progress bars. */
  onProgress?: (compressedBytes: number) => void;
  /** For messages: "layer sha256:abcd… of debian:12". */
  layerName?: string;
  /**
   * The layer's diff_id from the image config: the sha256 of its uncompressed
   * tar. Checked, because the store shares extracted layers by diff_id: an
   * image that lies about it could plant content other images then use.
   */
  diffId?: string;
  /** How many times its compressed size the layer may decompress to (default 100; 0: no limit). */
  maxExpansion?: number;
}

export interface ExtractResult {
  entries: number;
  /** Uncompressed bytes of regular files. */
  bytes: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = fs.constants;
/** A new file, never an existing one and never through a symlink. */
const CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const OPEN_DIR = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const S_IFIFO = 0o010000;

const UNSAFE_HINT =
  'the image is malformed or made to write outside its own files; nothing of this layer is kept. Use an image from a source you trust';

/**
 * Extracts the layer blob at `blobPath` into `dest` (an existing empty
 * directory). Throws NookError on anything unsafe or impossible; `dest` is
 * then left for the caller to delete.
 */
export async function extractLayer(blobPath: string, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  const layer = opts.layerName ?? defaultLayerName(blobPath);
  if (!fs.lstatSync(dest, { throwIfNoEntry: false })?.isDirectory())
    throw new NookError(`${layer}: cannot extract into ${dest}: not a directory`);
  const extractor = new Extractor(dest, layer, opts);
  const reader = new TarReader(extractor);
  try {
    const hash = opts.diffId ? createHash('sha256') : undefined;
    await forEachTarChunk(
      blobPath,
      (chunk) => {
        hash?.update(chunk);
        reader.push(chunk);
      },
      { layer, onProgress: opts.onProgress, maxExpansion: opts.maxExpansion },
    );
    reader.finish();
    extractor.finish();
    const actual = hash && `sha256:${hash.digest('hex')}`;
    if (actual && actual !== opts.diffId)
      throw new NookError(`${layer} does not match its diff_id: the image config says ${opts.diffId}, its content is ${actual}`, {
        hint: 'the image is corrupt or was tampered with; nothing of it is kept. Push it again, or use an image from a source you trust',
      });
  } catch (e) {
    if (e instanceof TarFormatError)
      throw new NookError(`${layer}: ${e.message}`, {
        hint: e.unsupported ? 'nook extracts files, directories, links and FIFOs; rebuild the image without such entries' : DAMAGED_HINT,
      });
    throw e;
  } finally {
    extractor.close();
  }
  return { entries: extractor.entries, bytes: extractor.bytes };
}

/** "layer sha256:0123456789ab…" from a blob's file name. */
function defaultLayerName(blobPath: string): string {
  const base = path.basename(blobPath);
  return /^[0-9a-f]{64}$/.test(base) ? `layer sha256:${base.slice(0, 12)}…` : `layer ${blobPath}`;
}

class Extractor implements TarVisitor {
  entries = 0;
  bytes = 0;
  private readonly paths: DestPaths;
  private readonly owners: Owners;
  private readonly xattrs: XattrWriter;
  /** Directories (relative paths) verified to be real directories; '' is dest. */
  private readonly dirs = new Set<string>(['']);
  /** Directory times, set at the end: writing a directory's children changes them. */
  private readonly dirTimes = new Map<string, [atime: Timestamp, mtime: Timestamp]>();
  /** The file being written, closed by close() if extraction stops halfway. */
  private openFd?: number;

  constructor(
    private readonly dest: string,
    private readonly layer: string,
    private readonly opts: ExtractOptions,
  ) {
    this.paths = new DestPaths(dest);
    this.owners = new Owners(opts.ids, opts.squashIds ?? false, layer);
    this.xattrs = new XattrWriter(layer, dest, (m) => this.debug(m));
  }

  note(message: string): void {
    this.debug(message);
  }

  entry(e: TarEntry): EntrySink | undefined {
    this.entries++;
    let rel: string;
    try {
      rel = nameComponents(e.path).join('/');
    } catch (err) {
      if (err instanceof UnsafeName) throw this.unsafe(e.path, err.message);
      throw err;
    }
    try {
      return this.extract(e, rel);
    } catch (err) {
      throw this.fsError(err, e.path);
    }
  }

  /** Sets the directories' times, now that their content is written, and reports what was changed. */
  finish(): void {
    for (const [rel, [atime, mtime]] of this.dirTimes) {
      try {
        setTimes(this.paths.cAbs(rel), atime, mtime);
      } catch (err) {
        throw this.fsError(err, rel);
      }
    }
    for (const w of [this.owners.warning(), this.xattrs.warning()]) if (w) this.opts.onWarning?.(w);
  }

  close(): void {
    if (this.openFd !== undefined) fs.closeSync(this.openFd);
    this.openFd = undefined;
  }

  private extract(e: TarEntry, rel: string): EntrySink | undefined {
    if (rel === '' && e.kind !== 'dir') throw this.unsafe(e.path, `would replace the layer's root directory with a ${e.kind}`);
    const whiteout = rel === '' ? undefined : parseWhiteout(baseOf(rel));
    if (whiteout) {
      const parent = parentOf(rel);
      if (whiteout.kind === 'meta') this.debug(`skipped AUFS metadata ${showName(e.path)}`);
      else if (whiteout.kind === 'opaque') this.opaque(parent, e.path);
      else this.whiteout(parent, whiteout.name, e.path);
      return undefined;
    }
    switch (e.kind) {
      case 'file':
        return this.file(e, rel);
      case 'dir':
        this.directory(e, rel);
        return undefined;
      case 'symlink':
        this.symlink(e, rel);
        return undefined;
      case 'hardlink':
        this.hardlink(e, rel);
        return undefined;
      case 'fifo':
        this.fifo(e, rel);
        return undefined;
      case 'chardev':
      case 'blockdev':
        // Containers get their devices from the runtime; a user namespace cannot create them anyway.
        this.debug(`skipped device node ${showName(e.path)} (${e.kind} ${e.devmajor}:${e.devminor})`);
        return undefined;
    }
  }

  private file(e: TarEntry, rel: string): EntrySink {
    this.ensureDir(parentOf(rel), e.path);
    const owner = this.owner(e);
    const abs = this.paths.abs(rel);
    const fd = this.replacing(rel, () => fs.openSync(abs, CREATE, 0o600));
    this.openFd = fd;
    return {
      write: (chunk) => {
        try {
          for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        } catch (err) {
          throw this.fsError(err, e.path);
        }
        this.bytes += chunk.length;
      },
      end: () => {
        try {
          // chmod after chown: chown clears setuid and setgid. xattrs after chown too: it clears security.capability.
          this.chown(() => fs.fchownSync(fd, owner.uid, owner.gid), e.path, owner);
          fs.fchmodSync(fd, e.mode);
          const cPath = this.paths.cAbs(rel);
          if (e.xattrs.length) this.xattrs.apply(cPath, 'file', e.xattrs, showName(e.path));
          setTimes(cPath, e.atime ?? e.mtime, e.mtime);
        } catch (err) {
          throw this.fsError(err, e.path);
        } finally {
          this.close();
        }
      },
    };
  }

  private directory(e: TarEntry, rel: string): void {
    const abs = this.paths.abs(rel);
    if (rel !== '') {
      this.ensureDir(parentOf(rel), e.path);
      try {
        fs.mkdirSync(abs, 0o700);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // A directory entry for an existing directory only updates its metadata.
        if (!fs.lstatSync(abs).isDirectory()) {
          this.remove(rel);
          fs.mkdirSync(abs, 0o700);
        }
      }
      this.dirs.add(rel);
    }
    const owner = this.owner(e);
    const fd = fs.openSync(abs, OPEN_DIR);
    try {
      this.chown(() => fs.fchownSync(fd, owner.uid, owner.gid), e.path, owner);
      fs.fchmodSync(fd, e.mode);
    } finally {
      fs.closeSync(fd);
    }
    if (e.xattrs.length) this.xattrs.apply(this.paths.cAbs(rel), 'dir', e.xattrs, showName(e.path));
    this.dirTimes.set(rel, [e.atime ?? e.mtime, e.mtime]);
  }

  private symlink(e: TarEntry, rel: string): void {
    // The target is only text: it is never followed while extracting.
    if (e.linkpath.includes('\0')) throw this.unsafe(e.path, 'is a symlink whose target contains a NUL byte');
    if (e.linkpath === '') throw this.unsafe(e.path, 'is a symlink with an empty target');
    this.ensureDir(parentOf(rel), e.path);
    const owner = this.owner(e);
    const abs = this.paths.abs(rel);
    this.replacing(rel, () => fs.symlinkSync(Buffer.from(e.linkpath, 'latin1'), abs));
    this.chown(() => fs.lchownSync(abs, owner.uid, owner.gid), e.path, owner);
    const cPath = this.paths.cAbs(rel);
    if (e.xattrs.length) this.xattrs.apply(cPath, 'symlink', e.xattrs, showName(e.path));
    setTimes(cPath, e.atime ?? e.mtime, e.mtime);
  }

  /**
   * A second name for a file this layer created earlier. Like GNU tar, the
   * link entry's own metadata is not applied: it would change the shared inode.
   */
  private hardlink(e: TarEntry, rel: string): void {
    const target = showName(e.linkpath);
    let targetRel: string;
    try {
      targetRel = nameComponents(e.linkpath).join('/');
    } catch (err) {
      if (err instanceof UnsafeName) throw this.unsafe(e.path, `is a hardlink to ${target}, which ${err.message}`);
      throw err;
    }
    if (targetRel === '') throw this.unsafe(e.path, "is a hardlink to the layer's root directory");
    const notEarlier = () => this.unsafe(e.path, `is a hardlink to ${target}, which is not an earlier entry of this layer`);
    if (!this.isDirChain(parentOf(targetRel), e.path)) throw notEarlier();
    const targetAbs = this.paths.abs(targetRel);
    const st = fs.lstatSync(targetAbs, { throwIfNoEntry: false });
    if (!st) throw notEarlier();
    if (st.isDirectory()) throw this.unsafe(e.path, `is a hardlink to ${target}, which is a directory`);
    if (targetRel === rel) {
      this.debug(`ignored ${showName(e.path)}, a hardlink to itself`);
      return;
    }
    this.ensureDir(parentOf(rel), e.path);
    const abs = this.paths.abs(rel);
    this.replacing(rel, () => fs.linkSync(targetAbs, abs));
  }

  private fifo(e: TarEntry, rel: string): void {
    this.ensureDir(parentOf(rel), e.path);
    const owner = this.owner(e);
    const abs = this.paths.abs(rel);
    const cPath = this.paths.cAbs(rel);
    this.replacing(rel, () => mknod(cPath, S_IFIFO | (e.mode & 0o777)));
    this.chown(() => fs.lchownSync(abs, owner.uid, owner.gid), e.path, owner);
    // chmod follows symlinks, but this path is the FIFO just made, in checked directories.
    fs.chmodSync(abs, e.mode);
    if (e.xattrs.length) this.xattrs.apply(cPath, 'fifo', e.xattrs, showName(e.path));
    setTimes(cPath, e.atime ?? e.mtime, e.mtime);
  }

  /** `dir/.wh.NAME`: NAME is deleted from the layers below. */
  private whiteout(parent: string, name: string, entryName: string): void {
    if (name === '' || name === '.' || name === '..') throw this.unsafe(entryName, 'is a whiteout without a valid name');
    this.ensureDir(parent, entryName);
    const rel = parent === '' ? name : `${parent}/${name}`;
    if (fs.lstatSync(this.paths.abs(rel), { throwIfNoEntry: false })) {
      // Whiteouts hide the layers below only; what this layer itself has stays (OCI image spec).
      this.debug(`ignored whiteout ${showName(entryName)}: ${showName(rel)} is part of this same layer`);
      return;
    }
    makeWhiteout(this.paths.cAbs(rel), showName(rel), this.layer);
  }

  /** `dir/.wh..wh..opq`: dir's content in the layers below is hidden. */
  private opaque(dir: string, entryName: string): void {
    this.ensureDir(dir, entryName);
    setOpaque(this.paths.cAbs(dir), this.layer, this.dest);
  }

  /**
   * Makes sure `rel` and each directory above it is a real directory inside
   * dest, creating missing ones (0755, like Docker), and refusing symlinks:
   * following one could lead anywhere on the host.
   */
  private ensureDir(rel: string, entryName: string): void {
    if (this.dirs.has(rel)) return;
    this.ensureDir(parentOf(rel), entryName);
    const abs = this.paths.abs(rel);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) {
      fs.mkdirSync(abs, 0o755);
      fs.chmodSync(abs, 0o755); // whatever the umask
    } else if (st.isSymbolicLink()) {
      throw this.unsafe(entryName, `goes through ${showName(rel)}, a symlink in the layer`);
    } else if (!st.isDirectory()) {
      throw this.layerError(`${showName(entryName)} is inside ${showName(rel)}, which is not a directory`);
    }
    this.dirs.add(rel);
  }

  /** Like ensureDir but creates nothing: whether `rel` is an existing chain of real directories. */
  private isDirChain(rel: string, entryName: string): boolean {
    if (this.dirs.has(rel)) return true;
    if (!this.isDirChain(parentOf(rel), entryName)) return false;
    const st = fs.lstatSync(this.paths.abs(rel), { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) throw this.unsafe(entryName, `is a hardlink through ${showName(rel)}, a symlink in the layer`);
    if (!st?.isDirectory()) return false;
    this.dirs.add(rel);
    return true;
  }

  /** Runs `create`; if something exists at `rel` already, removes it (a later entry replaces an earlier one) and runs it again. */
  private replacing<T>(rel: string, create: () => T): T {
    try {
      return create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.remove(rel);
    return create();
  }

  private remove(rel: string): void {
    const abs = this.paths.abs(rel);
    if (fs.lstatSync(abs).isDirectory()) {
      // rm does not follow symlinks inside the tree.
      fs.rmSync(abs, { recursive: true, force: true });
      this.forget(rel);
    } else {
      fs.unlinkSync(abs);
    }
  }

  /** Drops what is remembered about a removed directory tree. */
  private forget(rel: string): void {
    const under = `${rel}/`;
    for (const d of this.dirs) if (d === rel || d.startsWith(under)) this.dirs.delete(d);
    for (const d of this.dirTimes.keys()) if (d === rel || d.startsWith(under)) this.dirTimes.delete(d);
  }

  private owner(e: TarEntry): { uid: number; gid: number } {
    return this.owners.resolve(e.uid, e.gid, showName(e.path));
  }

  /** chown, with the kernel's EINVAL for an id missing from the namespace turned into the usual error. */
  private chown(op: () => void, name: string, owner: { uid: number; gid: number }): void {
    try {
      op();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      throw this.owners.refused(showName(name), owner.uid, owner.gid);
    }
  }

  private debug(message: string): void {
    this.opts.onDebug?.(`${this.layer}: ${message}`);
  }

  private unsafe(name: string, why: string): NookError {
    return new NookError(`${this.layer} is refused: entry ${showName(name)} ${why}`, { hint: UNSAFE_HINT });
  }

  private layerError(message: string): NookError {
    return new NookError(`${this.layer}: ${message}`, { hint: DAMAGED_HINT });
  }

  /** A failed file system call as a NookError naming the entry. */
  private fsError(err: unknown, name: string): unknown {
    if (err instanceof NookError) return err;
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code !== 'string') return err;
    const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : 0;
    const text = errnoName(errno) === e.code ? describeErrno(errno) : e.code;
    const space = e.code === 'ENOSPC' || e.code === 'EDQUOT';
    return new NookError(`${this.layer}: cannot extract ${showName(name)} into ${this.dest}: ${text}`, {
      hint: space ? 'free some space on the file system of the image store, or move the store with --root DIR (or NOOK_ROOT)' : undefined,
    });
  }
}

/** mknod that throws like Node's fs calls, so EEXIST can be told apart. */
function mknod(cPath: Buffer, mode: number): void {
  const lib = libcFs();
  if (lib.mknod(cPath, mode, 0) === 0) return;
  const errno = lib.errno();
  throw Object.assign(new Error(`mknod: ${describeErrno(errno)}`), { errno: -errno, code: errnoName(errno) });
}
