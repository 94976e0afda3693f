/**
 * A running container's own cgroup v2, for `nook pause`/`unpause` (its
 * freezer, as docker's) and `nook stats` (its counters). A container has
 * one only when it was started with resource limits on a cgroup v2 host;
 * otherwise these commands fail saying which of the two is missing.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { detectLayout } from '../sandbox/cgroups/detect';
import type { ContainerState } from './state';

/** The host's cgroup layout, as nook sees it. */
function hostMode(): string {
  try {
    return detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8')).mode;
  } catch {
    return 'none';
  }
}

/**
 * The container's cgroup directory, or a NookError (exit 1) saying why
 * there is none: `what` is the action, e.g. "pause container web".
 */
export function ownCgroup(state: ContainerState, what: string, mode = hostMode()): string {
  if (state.cgroup && fs.existsSync(path.join(state.cgroup, 'cgroup.freeze'))) return state.cgroup;
  if (mode === 'hybrid' || mode === 'v1')
    throw new NookError(
      `cannot ${what}: this host mounts cgroup v1 (${mode === 'hybrid' ? 'a hybrid layout: its cgroup v2 has no controllers' : 'no cgroup v2 at all'}), and nook needs the container's own cgroup v2 for this`,
      { exitCode: 1, hint: 'a host booted with cgroup v2 (systemd.unified_cgroup_hierarchy=1) gives containers started with limits a cgroup of their own' },
    );
  if (mode === 'none') throw new NookError(`cannot ${what}: this host has no cgroup file system mounted`, { exitCode: 1 });
  throw new NookError(`cannot ${what}: it has no cgroup of its own (it was started without resource limits), and nook needs its own cgroup v2 for this`, {
    exitCode: 1,
    hint: 'containers started with a limit (e.g. --pids-limit, --memory or --cpus) get a cgroup of their own',
  });
}

/** Whether the container's cgroup is frozen (asked to be: cgroup.freeze holds 1). */
export function isFrozen(cgroup: string | undefined): boolean {
  if (!cgroup) return false;
  try {
    return fs.readFileSync(path.join(cgroup, 'cgroup.freeze'), 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Freezes or thaws the cgroup and waits (at most 5 s) until cgroup.events
 * says the kernel has done it: tasks stop asynchronously.
 */
export async function setFrozen(cgroup: string, frozen: boolean): Promise<void> {
  fs.writeFileSync(path.join(cgroup, 'cgroup.freeze'), frozen ? '1' : '0');
  const want = `frozen ${frozen ? 1 : 0}`;
  for (let i = 0; i < 500; i++) {
    let events = '';
    try {
      events = fs.readFileSync(path.join(cgroup, 'cgroup.events'), 'utf8');
    } catch {
      return; // the cgroup is gone: the container with it
    }
    if (events.split('\n').includes(want)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new NookError(`the kernel did not ${frozen ? 'freeze' : 'thaw'} ${cgroup} within 5 seconds`, { exitCode: 1 });
}
