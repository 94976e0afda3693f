/**
 * Acting on a running container from another nook process: signals (stop,
 * kill) and waiting for its end. The container's init is signalled through
 * a pidfd opened by its host pid and checked against its recorded start
 * time, so that a reused pid is never hit.
 */
import fs = require('node:fs');
import { loadNative } from '../../ffi/native';
import { ProcessHandle } from '../sandbox/pidfd';
import { readSignalMasks, signalForInit } from '../sandbox/signals';
import { FileLock } from '../util/lock';
import { liveState } from './status';
import { parseExitRecord, type ContainerDir, type ContainerStore } from './state';
import { processStartTime } from '../util/proc-stat';
import { SIGNAL } from '../../ffi/linux';


function initAlive(pid: number | undefined, pidStart: number | undefined): pid is number {
  return pid !== undefined && pidStart !== undefined && processStartTime(pid) === pidStart;
}

/**
 * Sends `sig` to the container's init as a normal process would take it: the
 * kernel drops signals that init has no handler for, so such a signal whose
 * default is to terminate becomes SIGNAL.SIGKILL, and the exit code still says `sig`.
 * Returns false when the container is not running.
 */
export async function signalContainer(store: ContainerStore, dir: ContainerDir, sig: number, opts: { stopping: boolean }): Promise<boolean> {
  const s = liveState(dir);
  if (s.display !== 'running' || s.pid === undefined) return false;
  // The pidfd first, then the start time: if it matches, the pidfd names the container's init
  // itself, and no later exit and reuse of its pid can redirect the signal.
  using init = ProcessHandle.open(loadNative(), s.pid);
  if (!init.existed || !initAlive(s.pid, s.pidStart)) return false;
  const masks = readSignalMasks(s.pid);
  const actual = masks ? signalForInit(sig, masks) : sig;
  await dir.updateState((cur) => ({
    ...cur,
    stopRequested: cur.stopRequested || opts.stopping,
    stopSignalSent: actual === SIGNAL.SIGKILL && sig !== SIGNAL.SIGKILL ? sig : cur.stopSignalSent,
  }));
  return init.signal(actual); // false: exited meanwhile
}

/** Resolves once nobody holds the container's lock any more (its supervisor and exit handler are done). */
export async function untilReleased(dir: ContainerDir): Promise<void> {
  const lock = await FileLock.acquire(dir.p('lock'), 'shared');
  lock.release();
}

/** Polls for the lock to be free, at most `ms` long: true when it is. */
async function releasedWithin(dir: ContainerDir, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!dir.isHeld()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, deadline - Date.now()))));
  }
}

/**
 * docker stop: the stop signal, then SIGKILL after `timeoutSec` (at once for 0, as `stop -t 0` means);
 * resolves when the container has stopped, with whether it took the SIGKILL after a timeout.
 */
export async function stopContainer(store: ContainerStore, dir: ContainerDir, stopSignal: number, timeoutSec: number): Promise<{ killedAfterTimeout: boolean }> {
  const first = timeoutSec === 0 ? SIGNAL.SIGKILL : stopSignal;
  if (!(await signalContainer(store, dir, first, { stopping: true }))) {
    // Not running, but maybe restarting: make sure no restart follows.
    if (dir.isHeld()) await dir.updateState((s) => ({ ...s, stopRequested: true }));
  }
  if (await releasedWithin(dir, timeoutSec * 1000)) return { killedAfterTimeout: false };
  const killed = await signalContainer(store, dir, SIGNAL.SIGKILL, { stopping: true });
  await untilReleased(dir);
  return { killedAfterTimeout: killed && first !== SIGNAL.SIGKILL };
}

/**
 * docker wait: blocks until the container has stopped and returns its exit
 * code. The exit record is opened first and read through that descriptor,
 * so the code is there even when --rm removed the container meanwhile.
 */
export async function waitForExit(dir: ContainerDir): Promise<number> {
  const fd = fs.openSync(dir.p('exitcode'), 'r');
  try {
    await untilReleased(dir);
    const buf = Buffer.alloc(128);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const rec = parseExitRecord(buf.toString('utf8', 0, n));
    if (rec) return rec.code;
    return liveState(dir).exitCode ?? 137;
  } finally {
    fs.closeSync(fd);
  }
}
