/**
 * `nook exec`: runs a process inside a running sandbox. nook opens the
 * container init's namespace files, clones the native executor (no new
 * namespaces), moves it into the container's cgroup, and lets it run the join
 * plan (join-plan.ts): setns() into each namespace, then a fork into the pid
 * namespace whose child is nook's own (CLONE_PARENT). nook learns that pid
 * over the status socket, then waits for it and relays signals and the
 * terminal as `nook run` does.
 */
import fs = require('node:fs');
import { closeQuietly, controlChannels, readChildReport, waitChild } from './child';
import { encodePlan } from '../../ffi/plan-format';
import { loadNative, type Native } from '../../ffi/native';
import { NookError } from '../errors';
import type { HostIdentity } from './idmap';
import { SIGCHLD } from './plan';
import { buildJoinPlan, JOINED_NAMESPACES, type NamespaceFd } from './join-plan';
import { cloneFailure } from './diagnose';
import { failedStep, followCommand } from './process';
import { withSignalRelay, type SignalRelay } from './signals';
import type { SandboxSpec } from './spec';
import { processStartTime } from '../util/proc-stat';

export interface JoinTarget {
  /** Host pid of the container's init, and its start time (against a reused pid). */
  pid: number;
  pidStart?: number;
  /** The container's cgroup, when it has one of its own. */
  cgroupPath?: string;
  /** For messages: how the user names the container. */
  name: string;
}

/** Runs `spec`'s process (argv, env, user, cwd, security...) in the target; returns nook's exit code. */
export async function joinSandbox(target: JoinTarget, spec: SandboxSpec, host: HostIdentity): Promise<number> {
  const n = loadNative();
  return withSignalRelay(spec.tty, (relay) => join(n, target, spec, host, relay));
}

async function join(n: Native, target: JoinTarget, spec: SandboxSpec, host: HostIdentity, relay: SignalRelay): Promise<number> {
  const namespaces = openNamespaces(target);
  const channels = controlChannels(n);
  const { statusParent, statusChild, syncRead, syncWrite } = channels;
  const ops = buildJoinPlan(spec, namespaces, channels);
  const mid = n.clone(n.execPlanAddress, n.childStackTop, SIGCHLD, encodePlan(ops, statusChild));
  const cloneErrno = n.errno();
  [statusChild, syncRead, ...namespaces.map((ns) => ns.fd)].forEach(closeQuietly);
  if (mid < 0) {
    [statusParent, syncWrite].forEach(closeQuietly);
    throw cloneFailure(cloneErrno);
  }
  const midExited = waitChild(n, mid);
  try {
    if (target.cgroupPath) joinCgroup(target, mid);
  } catch (e) {
    [syncWrite, statusParent].forEach(closeQuietly); // the executor sees EOF and exits quietly
    await midExited;
    throw e;
  }
  fs.writeSync(syncWrite, 'g');
  closeQuietly(syncWrite);

  const report = readChildReport(n, statusParent);
  closeQuietly(statusParent);
  await midExited;
  const pid = report.forkedPid;
  const exited = pid ? waitChild(n, pid) : undefined;
  if (report.failure) {
    if (report.ptyMaster !== undefined) closeQuietly(report.ptyMaster);
    await exited;
    throw failedStep(ops, report.failure, spec, host);
  }
  if (!pid || !exited) throw new NookError(`joining container ${target.name}: the executor ended without starting the command`);
  relay.attach(pid, { init: false });
  return followCommand(n, spec, relay, exited, report.ptyMaster);
}

/**
 * The namespace files of the container's init, except those nook already
 * shares (setns() into one's own user namespace fails). The init's start
 * time is checked after opening: a reused pid would be someone else's.
 */
function openNamespaces(target: JoinTarget): NamespaceFd[] {
  const opened: NamespaceFd[] = [];
  try {
    for (const { name, type } of JOINED_NAMESPACES) {
      const file = `/proc/${target.pid}/ns/${name}`;
      const theirs = fs.statSync(file);
      const ours = fs.statSync(`/proc/self/ns/${name}`);
      if (theirs.ino === ours.ino && theirs.dev === ours.dev) continue;
      opened.push({ name, type, fd: fs.openSync(file, 'r') });
    }
    if (target.pidStart !== undefined && processStartTime(target.pid) !== target.pidStart) throw Object.assign(new Error('reused pid'), { code: 'ESRCH' });
    return opened;
  } catch (e) {
    opened.forEach((ns) => closeQuietly(ns.fd));
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH')
      throw new NookError(`container ${target.name} is not running (it exited just now)`, { hint: `see its end with: nook ps -a` });
    throw new NookError(`opening the namespaces of container ${target.name} (pid ${target.pid}): ${code ?? String(e)}`, {
      hint: 'nook exec joins containers of your own user only',
    });
  }
}


function joinCgroup(target: JoinTarget, pid: number): void {
  try {
    fs.writeFileSync(`${target.cgroupPath}/cgroup.procs`, String(pid));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NookError(`joining the cgroup of container ${target.name} (${target.cgroupPath}): ${code}`, {
      hint: code === 'ENOENT' ? 'the container has just exited' : 'the cgroup must be delegated to you, as when the container started',
    });
  }
}
