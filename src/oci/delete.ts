/**
 * `delete`: removes a stopped (or never started) container: SIGKILL to a
 * created one, or with --force to a running one and everything in it, a wait
 * until its init is gone (or a zombie its parent has yet to reap), then the
 * state directory, then the poststop hooks. Plain Node: no native code.
 */
import { NookError } from '../errors';
import { removeOciCgroup } from './cgroups';
import { runHooksWarning } from './hooks';
import { containerProcesses } from './kill';
import { containerStatus, hookState, initAlive, notExist, type OciContainerRecord, type OciStateStore } from './state';
import fs = require('node:fs');
import path = require('node:path');

export async function deleteContainer(store: OciStateStore, id: string, force: boolean, warn: (m: string) => void): Promise<void> {
  let rec: OciContainerRecord;
  try {
    rec = store.read(id);
  } catch (e) {
    // A create that died half-way leaves a directory without state.json: it goes too (as runc's delete).
    const dir = store.dir(id);
    if (fs.existsSync(dir) && !fs.existsSync(path.join(dir, 'state.json'))) {
      store.remove(id);
      if (force) return;
    }
    if (force) return;
    throw e instanceof NookError ? e : notExist(id);
  }
  const status = containerStatus(store, rec);
  // runtime.md: deleting a container that is not stopped is an error (a created one too); --force kills it first.
  if (status !== 'stopped' && !force)
    throw new NookError(`cannot delete container ${id} that is not stopped: ${status}`, { hint: `stop it first (nook oci kill ${id} KILL), or use delete --force`, exitCode: 1 });
  if (status !== 'stopped') {
    for (const pid of containerProcesses(rec)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    await waitGone(rec);
  }
  if (rec.cgroup) removeOciCgroup(rec.cgroup, warn);
  store.remove(id);
  for (const w of runHooksWarning('poststop', rec.config.hooks?.poststop, hookState(rec, 'stopped', 0))) warn(w);
}

/** Until the init has ended: polled, since it is not our child (its parent reaps it). */
async function waitGone(rec: OciContainerRecord): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (initAlive(rec)) {
    if (Date.now() > deadline) throw new NookError(`container ${rec.id} did not end within 10 s of SIGKILL`, { hint: 'a process in uninterruptible sleep (D state) holds it; try again later', exitCode: 1 });
    await new Promise((r) => setTimeout(r, 5));
  }
}
