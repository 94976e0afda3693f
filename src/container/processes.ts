/**
 * The host pids of a running container's processes, for `nook top`: its
 * init and every process in init's pid namespace. A process whose
 * namespace link nook may read (its own uid's) is matched by that link;
 * the others (a container user mapped to a subordinate uid) are found as
 * descendants of the matched ones, which covers both what init forked and
 * what `nook exec` started there (exec's process joins the namespace, but
 * its parent is the nook outside).
 */
import fs = require('node:fs');
import { processStartTime } from '../util/proc-stat';
import type { ContainerState } from './state';

function nsOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Children of `pid` (all its threads'), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** The container's processes' host pids, init first; undefined when it is not running. */
export function containerPids(state: ContainerState): number[] | undefined {
  const { pid, pidStart } = state;
  if (pid === undefined || pidStart === undefined || processStartTime(pid) !== pidStart) return undefined;
  const ns = nsOf(pid);
  const roots = [pid];
  if (ns) {
    for (const e of fs.readdirSync('/proc')) {
      const p = Number(e);
      if (Number.isInteger(p) && p !== pid && nsOf(p) === ns) roots.push(p);
    }
  }
  const found = new Set<number>();
  const queue = [...roots];
  while (queue.length) {
    const p = queue.shift()!;
    if (found.has(p)) continue;
    found.add(p);
    queue.push(...childPids(p));
  }
  return [...found];
}
