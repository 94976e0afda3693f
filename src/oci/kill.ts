/**
 * `kill`: a signal to the container's init, or with --all to every process
 * of the container (those in its pid namespace, else the init's
 * descendants). The init is checked by pid and start time first, so a
 * reused pid never gets the signal. Plain Node: no native code is loaded.
 */
import fs = require('node:fs');
import os = require('node:os');
import { NookError } from '../errors';
import { childPids } from '../container/processes';
import { ociCgroupPids } from './cgroups';
import { containerStatus, type OciContainerRecord, type OciStateStore } from './state';

/** "KILL", "SIGKILL", "9" → 9. */
export function parseSignal(text: string | undefined): number {
  if (text === undefined || text === '') return os.constants.signals.SIGTERM;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
    const n = (os.constants.signals as Record<string, number>)[name];
    if (n !== undefined) return n;
  }
  throw new NookError(`unknown signal "${text}"`, { hint: 'e.g. TERM, SIGKILL or 9', exitCode: 1 });
}

function nsOf(pid: number, ns: string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
}

/** Every process of the container, the init first. */
export function containerProcesses(rec: OciContainerRecord): number[] {
  const pidns = rec.ownPidNamespace ? nsOf(rec.pid, 'pid') : undefined;
  if (pidns) {
    const pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
    return [rec.pid, ...pids.filter((p) => p !== rec.pid && nsOf(p, 'pid') === pidns)];
  }
  const out = [rec.pid];
  if (rec.cgroup) for (const p of ociCgroupPids(rec.cgroup)) if (p !== rec.pid) out.push(p);
  for (let i = 0; i < out.length; i++) for (const c of childPids(out[i])) if (!out.includes(c)) out.push(c);
  return out;
}

export function killContainer(store: OciStateStore, id: string, signal: number, all: boolean): void {
  const rec = store.read(id);
  if (containerStatus(store, rec) === 'stopped') throw new NookError('container not running', { hint: `its init (pid ${rec.pid}) has exited`, exitCode: 1 });
  const targets = all ? containerProcesses(rec) : [rec.pid];
  for (const pid of targets) {
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH' || pid === rec.pid && !all)
        throw new NookError(`cannot signal pid ${pid}: ${(e as NodeJS.ErrnoException).code}`, { exitCode: 1 });
    }
  }
}
