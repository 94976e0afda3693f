/**
 * The plan for `nook exec`: a process that joins a running sandbox instead of
 * making one. The cloned executor joins the container's namespaces (user
 * first: it grants the capabilities the others need), then forks once more,
 * because setns() into a pid namespace only places children there. That
 * child runs the same process steps as `nook run` (stdio, ids, capabilities,
 * seccomp, execve). Pure, like plan.ts, so unit tests can read it.
 */
import type { PlanOp } from '../../ffi/plan-format';
import { CLONE, PR, SIGNAL } from '../../ffi/linux';
import { processOps, type ProcessSpec } from './plan';

/** The namespaces of a sandbox, in the order they are joined, with their /proc/PID/ns names. */
export const JOINED_NAMESPACES: readonly { name: string; type: number }[] = [
  { name: 'user', type: CLONE.NEWUSER },
  { name: 'ipc', type: CLONE.NEWIPC },
  { name: 'uts', type: CLONE.NEWUTS },
  { name: 'net', type: CLONE.NEWNET },
  { name: 'cgroup', type: CLONE.NEWCGROUP },
  { name: 'pid', type: CLONE.NEWPID },
  // Last: it changes the root and working directory to the container's.
  { name: 'mnt', type: CLONE.NEWNS },
];

/** An open /proc/PID/ns/NAME file of the target. */
export interface NamespaceFd {
  name: string;
  type: number;
  fd: number;
}

export interface JoinFds {
  syncRead: number;
  syncWrite: number;
  statusParent: number;
  statusChild: number;
}

export function buildJoinPlan(spec: ProcessSpec, namespaces: readonly NamespaceFd[], fds: JoinFds): PlanOp[] {
  const ops: PlanOp[] = [
    // A copy of nook is about to enter the container: nothing there may ptrace it or read its memory.
    { op: 'PRCTL', args: [PR.SET_DUMPABLE, 0, 0, 0, 0], what: 'make the process non-dumpable' },
    { op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal' },
    { op: 'CLOSE', args: [fds.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [fds.statusParent], what: 'close the parent end of the status socket' },
    // nook moves this process into the container's cgroup, then says go: the command's process inherits it.
    { op: 'WAIT_FD', args: [fds.syncRead], what: "wait to be moved into the container's cgroup" },
    { op: 'CLOSE', args: [fds.syncRead], what: 'close the sync pipe' },
  ];
  for (const ns of namespaces) {
    ops.push({ op: 'SETNS', args: [ns.fd, ns.type], what: `join the container's ${ns.name} namespace` });
    ops.push({ op: 'CLOSE', args: [ns.fd], what: `close the ${ns.name} namespace file` });
  }
  ops.push({ op: 'FORK', args: [], what: "start a process in the container's pid namespace" });
  // fork() cleared it; the new process's parent is nook itself (CLONE_PARENT).
  ops.push({ op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal' });
  ops.push(...processOps({ ...spec, init: false }, fds.statusChild, { createCwd: false }));
  return ops;
}
