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
import { NookError } from '../../errors';
import { whilePaused } from '../commit';
import { decodeSpec } from '../spec-codec';
import type { ContainerDir } from '../state';
import { liveState } from '../status';
import { processStartTime } from '../../util/proc-stat';
import { CpHelper, PASSED_ROOT } from './client';
import { O } from '../../../ffi/linux';
import type { CpOptions, CpRoot } from './protocol';
import { NOT_FOUND } from './server-messages';

function rootFor(dir: ContainerDir, write: boolean): { root: CpRoot; running: boolean; rootFd?: number } {
  const spec = decodeSpec(dir.config().spec, `container ${dir.config().name}`);
  const state = liveState(dir);
  const running = state.display === 'running' && state.pid !== undefined && processStartTime(state.pid) === state.pidStart;
  // Opened here: only the owner of the container's user namespace may (the helper's is another).
  if (write && running) return { root: { dir: PASSED_ROOT }, running, rootFd: fs.openSync(`/proc/${state.pid}/root`, O.PATH | fs.constants.O_DIRECTORY | O.CLOEXEC) };
  if (spec.overlay) {
    if (write) return { root: { overlay: { ...spec.overlay, merged: spec.rootfs } }, running };
    return { root: { layers: [spec.overlay.upper, ...spec.overlay.lowerDirs] }, running };
  }
  if (!fs.existsSync(spec.rootfs)) throw new NookError(`container ${dir.config().name}'s root ${spec.rootfs} is gone`);
  return { root: { dir: spec.rootfs }, running };
}

/** The helper's failures as docker words them; every one exits 1, as docker cp's. */
function asCpError(e: unknown, ref: string): unknown {
  if (!(e instanceof NookError)) return e;
  const m = new RegExp(`^${NOT_FOUND} (.*) in container$`).exec(e.message);
  if (m) return new NookError(`No such container:path: ${ref}:${m[1]}`, { exitCode: 1 });
  return new NookError(e.message, { exitCode: 1, hint: e.hint, cause: e });
}

async function withHelper<T>(dir: ContainerDir, write: boolean, ref: string, fn: (h: CpHelper, root: CpRoot) => Promise<T>): Promise<T> {
  const { root, running, rootFd } = rootFor(dir, write);
  const helper = new CpHelper(rootFd);
  try {
    return await whilePaused(dir, running, () => fn(helper, root));
  } catch (e) {
    throw asCpError(e, ref);
  } finally {
    await helper.close();
    if (rootFd !== undefined) fs.closeSync(rootFd);
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

async function streamFile(file: string, out: NodeJS.WritableStream): Promise<void> {
  await pipeline(fs.createReadStream(file), out, { end: false });
}

/** Container path → host path. */
export function copyFromContainer(dir: ContainerDir, ref: string, src: string, hostDest: string, opts: CpOptions): Promise<void> {
  return withHelper(dir, false, ref, (h, root) => h.copyOut({ root, src, hostDest, ...opts }));
}

/** Container path → a tar on `out` (docker's `cp C:SRC -`). */
export function tarFromContainer(dir: ContainerDir, ref: string, src: string, out: NodeJS.WritableStream, opts: CpOptions): Promise<void> {
  return withTmp(async (tmp) => {
    const file = path.join(tmp, 'out.tar');
    await withHelper(dir, false, ref, (h, root) => h.copyOut({ root, src, tarOut: file, ...opts }));
    await streamFile(file, out);
  });
}

/** Host path → container path. */
export function copyIntoContainer(dir: ContainerDir, ref: string, hostSrc: string, dest: string, opts: CpOptions): Promise<void> {
  return withHelper(dir, true, ref, (h, root) => h.copyIn({ root, hostSrc, dest, ...opts }));
}

/** A tar on `input` → extracted into the container's directory `dest` (docker's `cp - C:DEST`). */
export function tarIntoContainer(dir: ContainerDir, ref: string, input: NodeJS.ReadableStream, dest: string, opts: CpOptions): Promise<void> {
  return withTmp(async (tmp) => {
    const file = path.join(tmp, 'in.tar');
      await pipeline(input, fs.createWriteStream(file, { mode: 0o600 }));
    await withHelper(dir, true, ref, (h, root) => h.copyIn({ root, tarIn: file, dest, ...opts }, (m) => process.stderr.write(`nook: ${m}\n`)));
  });
}

/** The container's files as a tar: into `file`, or onto `out`. */
export async function exportContainer(dir: ContainerDir, ref: string, target: { file: string } | { out: NodeJS.WritableStream }): Promise<void> {
  if ('file' in target) return withHelper(dir, false, ref, (h, root) => h.exportTar({ root, out: target.file }));
  return withTmp(async (tmp) => {
    const file = path.join(tmp, 'export.tar');
    await withHelper(dir, false, ref, (h, root) => h.exportTar({ root, out: file }));
    await streamFile(file, target.out);
  });
}
