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
import { Fd, launch, waitChild } from './launcher';
import { ProcessHandle } from './pidfd';
import { loadNative, type Native } from '../../ffi/native';
import { NookError } from '../errors';
import type { HostIdentity } from './idmap';
import { SIGNAL } from '../../ffi/linux';
import { buildJoinPlan, JOINED_NAMESPACES, type NamespaceFd } from './join-plan';
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
  const started = await launch(n, {
    flags: SIGNAL.SIGCHLD,
    plan: (fds) => buildJoinPlan(spec, namespaces.map((ns) => ({ ...ns, fd: ns.fd.fd })), fds),
    childFds: namespaces.map((ns) => ns.fd),
    steps: target.cgroupPath ? [{ name: "join the container's cgroup", run: (pid) => joinCgroup(target, pid) }] : [],
    failure: (ops, f) => failedStep(ops, f, spec, host),
  });
  // The executor forked the command into the container's pid namespace and ended.
  started.handle?.close();
  await started.exited;
  const pid = started.forkedPid;
  if (!pid) {
    started.ptyMaster?.close();
    throw new NookError(`joining container ${target.name}: the executor ended without starting the command`);
  }
  // Its pidfd before waiting for it: until then its pid is not given to anyone else.
  relay.attach(ProcessHandle.open(n, pid), { init: false });
  const exited = waitChild(n, pid);
  return followCommand(n, spec, relay, exited, started.ptyMaster?.take());
}

/**
 * The namespace files of the container's init, except those nook already
 * shares (setns() into one's own user namespace fails). The init's start
 * time is checked after opening: a reused pid would be someone else's.
 */
function openNamespaces(target: JoinTarget): (Omit<NamespaceFd, 'fd'> & { fd: Fd })[] {
  const opened: (Omit<NamespaceFd, 'fd'> & { fd: Fd })[] = [];
  try {
    for (const { name, type } of JOINED_NAMESPACES) {
      const file = `/proc/${target.pid}/ns/${name}`;
      const theirs = fs.statSync(file);
      const ours = fs.statSync(`/proc/self/ns/${name}`);
      if (theirs.ino === ours.ino && theirs.dev === ours.dev) continue;
      opened.push({ name, type, fd: new Fd(fs.openSync(file, 'r'), file) });
    }
    if (target.pidStart !== undefined && processStartTime(target.pid) !== target.pidStart) throw Object.assign(new Error('reused pid'), { code: 'ESRCH' });
    return opened;
  } catch (e) {
    opened.forEach((ns) => ns.fd.close());
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
