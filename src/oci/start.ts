/**
 * `start`: runs the prestart hooks (runtime-spec 1.0.2: after start is
 * called, before the program runs), releases the init waiting at the start
 * barrier (one byte into ROOT/ID/exec.fifo, whose reader is the init),
 * removes the FIFO (from then on the container counts as running), and runs
 * the poststart hooks once the program has been executed (a container
 * without "process" has none: its init just ends): the init keeps the
 * FIFO open until execve() closes it, so a write fails with EPIPE from then on.
 * Plain file operations: no native code is loaded.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { runHooks, runHooksWarning } from './hooks';
import { deleteContainer } from './delete';
import { containerStatus, hookState, type OciStateStore } from './state';

export async function startContainer(store: OciStateStore, id: string, warn: (m: string) => void): Promise<void> {
  const rec = store.read(id);
  const status = containerStatus(store, rec);
  if (status === 'stopped') throw new NookError('cannot start a container that has stopped', { hint: `delete it: nook oci delete ${id}`, exitCode: 1 });
  if (status !== 'created') throw new NookError('cannot start an already running container', { hint: 'start releases a created container once', exitCode: 1 });
  try {
    runHooks('prestart', rec.config.hooks?.prestart, hookState(rec, 'created', rec.pid));
  } catch (e) {
    // config.md: a failed prestart hook stops the container, and the lifecycle goes on with its deletion.
    await deleteContainer(store, id, true, warn);
    throw e;
  }
  const fifo = store.fifoPath(id);
  let fd: number;
  try {
    fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENXIO: nobody reads the FIFO, so the init is gone.
    if (code === 'ENXIO' || code === 'ENOENT') throw new NookError('container not running', { hint: 'its init ended before start', exitCode: 1 });
    throw new NookError(`cannot open the start barrier ${fifo}: ${code}`, { exitCode: 1 });
  }
  try {
    fs.rmSync(fifo, { force: true });
    fs.writeSync(fd, '0');
    if (rec.config.hooks?.poststart?.length) waitForExec(fd);
  } finally {
    fs.closeSync(fd);
  }
  for (const w of runHooksWarning('poststart', rec.config.hooks?.poststart, hookState(rec, 'running', rec.pid))) warn(w);
}

/**
 * Until the init has executed the program (its end of the FIFO closed), or
 * 10 s. Each probe is one byte the init never reads: a handful in all.
 */
function waitForExec(fd: number): void {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      fs.writeSync(fd, '.');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return;
      if (code !== 'EAGAIN') return;
    }
    Atomics.wait(tick, 0, 0, 1);
  }
}
