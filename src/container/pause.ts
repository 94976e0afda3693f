/**
 * Pausing a running container while its files are read (`nook commit`), so
 * the layer is one moment's state. With a cgroup v2 of its own, the freezer
 * (cgroup.freeze), as docker does; otherwise SIGSTOP to each of its
 * processes: the container's init and everything below it in the process
 * tree (its pid namespace holds nothing else: orphans are reparented to its
 * init). The user owns the container's user namespace, so may signal them
 * whatever ids they run as. Resume sends SIGCONT to exactly those stopped.
 */
import fs = require('node:fs');
import path = require('node:path');
import { SIGNAL } from '../../ffi/linux';
import { processStartTime } from '../util/proc-stat';
import type { ContainerState } from './state';
import { childPids } from './processes';

export interface Paused {
  resume(): void;
}

function signal(pid: number, sig: number): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

async function freeze(cgroup: string): Promise<Paused | undefined> {
  const control = path.join(cgroup, 'cgroup.freeze');
  if (!fs.existsSync(control)) return undefined;
  // Paused by `nook pause` already: it stays so after the commit.
  if (fs.readFileSync(control, 'utf8').trim() === '1') return { resume: () => {} };
  try {
    fs.writeFileSync(control, '1');
  } catch {
    return undefined;
  }
  const thaw = () => fs.writeFileSync(control, '0');
  // Frozen once cgroup.events says so (the kernel stops the tasks asynchronously); at most a second.
  const frozen = () => {
    try {
      return /^frozen 1$/m.test(fs.readFileSync(path.join(cgroup, 'cgroup.events'), 'utf8'));
    } catch {
      return true; // the cgroup is gone: the container with it
    }
  };
  for (let i = 0; i < 200 && !frozen(); i++) await new Promise((r) => setTimeout(r, 5));
  return {
    resume: () => {
      try {
        thaw();
      } catch {
        /* the container ended meanwhile */
      }
    },
  };
}

/** Pauses the container whose init is `state.pid`; undefined when it is not running. */
export async function pauseContainer(state: ContainerState): Promise<Paused | undefined> {
  const { pid, pidStart } = state;
  if (pid === undefined || pidStart === undefined || processStartTime(pid) !== pidStart) return undefined;
  if (state.cgroup) {
    const frozen = await freeze(state.cgroup);
    if (frozen) return frozen;
  }
  // Stop from the top down, and look again until no new process appears: one forked before its
  // parent stopped is found on the next round.
  const stopped: number[] = [];
  const seen = new Set<number>();
  for (let round = 0; round < 10; round++) {
    const queue = [pid];
    let fresh = 0;
    while (queue.length) {
      const p = queue.shift()!;
      if (!seen.has(p)) {
        seen.add(p);
        fresh++;
        if (signal(p, SIGNAL.SIGSTOP)) stopped.push(p);
      }
      queue.push(...childPids(p));
    }
    if (fresh === 0) break;
  }
  return { resume: () => [...stopped].reverse().forEach((p) => signal(p, SIGNAL.SIGCONT)) };
}
