/**
 * `nook cp` and `nook export` on a container: where the cp helper finds its
 * files, and the container paused while they are read or written.
 *
 * Reads (cp out of the container, export) see the container's own files,
 * as docker's do: its layers with the writable layer on top, as one
 * read-only overlay (or the copy-mode or --rootfs directory); not what is
 * mounted in it (tmpfs, volumes). Writes go into a stopped container's
 * writable layer (its overlay, mounted by the helper in its own mount
 * namespace), and into a running container through its init's root
 * (/proc/PID/root), so that the container sees them at once. A running
 * container is paused meanwhile: it cannot swap a directory for a symlink
 * while a tree is walked.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { pipeline } from 'node:stream/promises';
import net = require('node:net');
import { libcFs } from '../../../ffi/libc-fs';
import { describeErrno, NookError } from '../../errors';
import { whilePaused } from '../commit';
import { decodeSpec } from '../spec-codec';
import type { ContainerDir } from '../state';
import { liveState } from '../status';
import { processStartTime } from '../../util/proc-stat';
import { FileLock } from '../../util/lock';
import { CpHelper, PASSED_ROOT } from './client';
import { O } from '../../../ffi/linux';
import type { CpMount, CpOptions, CpRoot } from './protocol';
import { NOT_FOUND } from './server-messages';

interface Reach {
  root: CpRoot;
  /** A stopped container's volumes and binds, for writes (a running one has them mounted already). */
  mounts?: CpMount[];
  running: boolean;
  /** A running container's root, opened here: only the owner of its user namespace may (the helper's is another). */
  rootFd?: number;
  /** A stopped container's lock, held while its writable layer is written: nobody starts or removes it meanwhile. */
  lock?: FileLock;
}

function reach(dir: ContainerDir, write: boolean): Reach {
  const name = dir.config().name;
  const spec = decodeSpec(dir.config().spec, `container ${name}`);
  // docker's refusal (and words): --read-only is the container's root, running or not.
  if (write && spec.readOnly) throw new NookError('container rootfs is marked read-only', { exitCode: 1 });
  const lock = write ? FileLock.tryAcquire(dir.p('lock')) : undefined;
  const state = liveState(dir);
  const running = !lock && state.display === 'running' && state.pid !== undefined && processStartTime(state.pid) === state.pidStart;
  if (write && !lock) {
    if (!running) throw new NookError(`container ${name} is being started, stopped or removed`, { hint: 'try again in a moment' });
    return { root: { dir: PASSED_ROOT }, running, rootFd: fs.openSync(`/proc/${state.pid}/root`, O.PATH | fs.constants.O_DIRECTORY | O.CLOEXEC) };
  }
  // nook's generated files (/etc/hosts and the like) are optional binds: not the user's mounts.
  const mounts = write ? spec.binds.filter((b) => !b.optional).map((b) => ({ source: b.source, target: b.target, readOnly: b.readOnly })) : undefined;
  try {
    if (spec.overlay) {
      if (write) return { root: { overlay: { ...spec.overlay, merged: spec.rootfs } }, mounts, running, lock };
      return { root: { layers: [spec.overlay.upper, ...spec.overlay.lowerDirs] }, running };
    }
    if (!fs.existsSync(spec.rootfs)) throw new NookError(`container ${name}'s root ${spec.rootfs} is gone`);
    return { root: { dir: spec.rootfs }, mounts, running, lock };
  } catch (e) {
    lock?.release();
    throw e;
  }
}

/** The helper's failures as docker words them; every one exits 1, as docker cp's. */
function asCpError(e: unknown, ref: string): unknown {
  if (!(e instanceof NookError)) return e;
  const m = new RegExp(`^${NOT_FOUND} (.*) in container$`).exec(e.message);
  if (m) return new NookError(`No such container:path: ${ref}:${m[1]}`, { exitCode: 1 });
  return new NookError(e.message, { exitCode: 1, hint: e.hint, cause: e });
}

async function withHelper<T>(dir: ContainerDir, write: boolean, ref: string, fn: (h: CpHelper, root: CpRoot, mounts?: CpMount[]) => Promise<T>): Promise<T> {
  const { root, mounts, running, rootFd, lock } = reach(dir, write);
  const helper = new CpHelper(rootFd);
  try {
    return await whilePaused(dir, running, () => fn(helper, root, mounts));
  } catch (e) {
    throw asCpError(e, ref);
  } finally {
    await helper.close();
    if (rootFd !== undefined) fs.closeSync(rootFd);
    lock?.release();
  }
}

/** A private directory for a tar on its way from or to the helper. */
async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cp-'));
  try {
    return await fn(tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const S_IFIFO = 0o010000;

/**
 * Streams a tar the helper writes into a FIFO onto `out`, without a copy
 * on disk. nook holds a write end of its own until the helper is done, so
 * that the reader sees the end only then (also when the helper failed
 * before opening the FIFO at all).
 */
function throughFifo(out: NodeJS.WritableStream, produce: (fifo: string) => Promise<void>): Promise<void> {
  return withTmp(async (tmp) => {
    const fifo = path.join(tmp, 'tar');
    if (libcFs().mknod(fifo, S_IFIFO | 0o600, 0) < 0) throw new NookError(`making a FIFO in ${tmp}: ${describeErrno(libcFs().errno())}`);
    const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
    const rfd = fs.openSync(fifo, O_RDONLY | O_NONBLOCK | O.CLOEXEC);
    const keep = fs.openSync(fifo, O_WRONLY | O_NONBLOCK | O.CLOEXEC);
    // A socket over the pipe, not an fs stream: no libuv worker thread blocked in read().
    const reading = pipeline(new net.Socket({ fd: rfd, readable: true, writable: false }), out, { end: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    try {
      await produce(fifo);
    } finally {
      fs.closeSync(keep);
      const failed = await reading;
      // Output that cannot be written (a closed pipe) is the reason the helper failed, if it did.
      if (failed) throw new NookError(`writing the tar: ${(failed as Error).message}`, { exitCode: 1, cause: failed });
    }
  });
}

/** Container path → host path. */
export function copyFromContainer(dir: ContainerDir, ref: string, src: string, hostDest: string, opts: CpOptions): Promise<void> {
  return withHelper(dir, false, ref, (h, root) => h.copyOut({ root, src, hostDest, ...opts }));
}

/** Container path → a tar on `out` (docker's `cp C:SRC -`). */
export function tarFromContainer(dir: ContainerDir, ref: string, src: string, out: NodeJS.WritableStream, opts: CpOptions): Promise<void> {
  return throughFifo(out, (fifo) => withHelper(dir, false, ref, (h, root) => h.copyOut({ root, src, tarOut: fifo, ...opts })));
}

/** Host path → container path. */
export function copyIntoContainer(dir: ContainerDir, ref: string, hostSrc: string, dest: string, opts: CpOptions): Promise<void> {
  return withHelper(dir, true, ref, (h, root, mounts) => h.copyIn({ root, mounts, hostSrc, dest, ...opts }));
}

/** A tar on `input` → extracted into the container's directory `dest` (docker's `cp - C:DEST`). */
export function tarIntoContainer(dir: ContainerDir, ref: string, input: NodeJS.ReadableStream, dest: string, opts: CpOptions): Promise<void> {
  return withTmp(async (tmp) => {
    const file = path.join(tmp, 'in.tar');
      await pipeline(input, fs.createWriteStream(file, { mode: 0o600 }));
    await withHelper(dir, true, ref, (h, root, mounts) => h.copyIn({ root, mounts, tarIn: file, dest, ...opts }, (m) => process.stderr.write(`nook: ${m}\n`)));
  });
}

/**
 * Container path → another container's path (podman's `cp C1:SRC C2:DEST`;
 * docker refuses it): the source as a tar in a private file, then placed by
 * the same rules as a host source, the helper unpacking the tar inside its
 * user namespace.
 */
export function copyBetweenContainers(from: ContainerDir, fromRef: string, src: string, to: ContainerDir, toRef: string, dest: string, opts: CpOptions): Promise<void> {
  return withTmp(async (tmp) => {
    const file = path.join(tmp, 'source.tar');
    const out = fs.createWriteStream(file, { mode: 0o600 });
    try {
      await tarFromContainer(from, fromRef, src, out, opts);
    } finally {
      await new Promise<void>((resolve) => out.end(() => resolve()));
    }
    await withHelper(to, true, toRef, (h, root, mounts) => h.copyIn({ root, mounts, tarIn: file, tarSource: tarMember(src), dest, ...opts }));
  });
}

/** Where the tar tarFromContainer writes holds `src`: its contents at the top for `DIR/.` (and `/`), else under its name. */
function tarMember(src: string): string {
  const inner = path.posix.normalize(`/${src}`).replace(/(.)\/+$/, '$1');
  if (inner === '/' || /(^|\/)\.$/.test(src)) return '/.';
  return `/${path.posix.basename(inner)}`;
}

/** A volume's directory (`dir`, the user's) as a tar onto `out`: owners as containers see them (`nook volume export`). */
export function exportDirectory(dir: string, out: NodeJS.WritableStream): Promise<void> {
  return throughFifo(out, async (fifo) => {
    const helper = new CpHelper();
    try {
      await helper.exportTar({ root: { dir }, out: fifo });
    } finally {
      await helper.close();
    }
  });
}

/** A tar on `input` extracted into the directory `dir`, its owners kept (`nook volume import`). */
export function importIntoDirectory(dir: string, input: NodeJS.ReadableStream): Promise<void> {
  return withTmp(async (tmp) => {
    const file = path.join(tmp, 'in.tar');
    await pipeline(input, fs.createWriteStream(file, { mode: 0o600 }));
    const helper = new CpHelper();
    try {
      await helper.copyIn({ root: { dir }, tarIn: file, dest: '/', archive: true, follow: false }, (m) => process.stderr.write(`nook: ${m}\n`));
    } finally {
      await helper.close();
    }
  });
}

/** The container's files as a tar onto `out`. */
export function exportContainer(dir: ContainerDir, ref: string, out: NodeJS.WritableStream): Promise<void> {
  return throughFifo(out, (fifo) => withHelper(dir, false, ref, (h, root) => h.exportTar({ root, out: fifo })));
}
