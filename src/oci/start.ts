/**
 * `start`: releases the init waiting at the start barrier (one byte into
 * ROOT/ID/exec.fifo, whose reader is the init), removes the FIFO (from then
 * on the container counts as running), and runs the poststart hooks.
 * Plain file operations: no native code is loaded.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { runHooksWarning } from './hooks';
import { containerStatus, hookState, type OciStateStore } from './state';

export function startContainer(store: OciStateStore, id: string, warn: (m: string) => void): void {
  const rec = store.read(id);
  const status = containerStatus(store, rec);
  if (status === 'stopped') throw new NookError('cannot start a container that has stopped', { hint: `delete it: nook oci delete ${id}`, exitCode: 1 });
  if (status !== 'created') throw new NookError('cannot start an already running container', { hint: 'start releases a created container once', exitCode: 1 });
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
  } finally {
    fs.closeSync(fd);
  }
  for (const w of runHooksWarning('poststart', rec.config.hooks?.poststart, hookState(rec, 'running', rec.pid))) warn(w);
}
