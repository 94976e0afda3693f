/**
 * `exec`: another process in a running container. The executor joins the
 * init's namespaces (user first: it grants the rights the others need; mount
 * last: it changes the root to the container's), forks into the pid
 * namespace (the fork is this process's child by CLONE_PARENT, and the
 * subreaper's once nook leaves), and runs the same process steps as the
 * container's init, under the container's seccomp filter.
 */
import fs = require('node:fs');
import { encodePlan, Status, type PlanOp } from '../../ffi/plan-format';
import { loadNative, type Native } from '../../ffi/native';
import { PR } from '../../ffi/linux';
import { describeErrno, NookError } from '../errors';
import { ControlChannels, waitChild, Fd } from '../sandbox/launcher';
import { JOINED_NAMESPACES } from '../sandbox/join-plan';
import { exitCodeFromWaitStatus } from '../sandbox/signals';
import { processStartTime } from '../util/proc-stat';
import { joinOciCgroup, type OciCgroupRecord } from './cgroups';
import type { OciProcess } from './config';
import { execLookupError, writePidFile } from './create';
import { ociProcessOps, readHostFacts } from './plan';
import { relaySignals, sendToConsoleSocket } from './process-io';
import { containerStatus, type OciContainerRecord, type OciStateStore } from './state';

export interface ExecRequest {
  id: string;
  process: OciProcess;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: number;
  warn(message: string): void;
}

const RELAYED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

export async function execInContainer(store: OciStateStore, req: ExecRequest): Promise<number> {
  const rec = store.read(req.id);
  if (containerStatus(store, rec) === 'stopped') throw new NookError('cannot exec in a stopped container', { hint: `container ${req.id} has exited`, exitCode: 1 });
  if (!req.process.args?.length) throw new NookError('exec needs a command', { hint: `nook oci exec ${req.id} COMMAND [ARG...], or --process FILE`, exitCode: 1 });
  if (req.process.terminal && !req.consoleSocket)
    throw new NookError('exec with a terminal needs --console-socket', { hint: 'pass --console-socket PATH, or run without --tty', exitCode: 1 });
  const n = loadNative();
  const namespaces = openNamespaces(rec);
  try {
    let setgroupsWorks = true;
    try {
      setgroupsWorks = fs.readFileSync(`/proc/${rec.pid}/setgroups`, 'utf8').trim() === 'allow';
    } catch {
      /* gone: the join fails below and says so */
    }
    const warnings: string[] = [];
    const host = readHostFacts();
    const processOps = ociProcessOps(req.process, { config: rec.config, host, setgroupsWorks, warnings, preserveFds: req.preserveFds, createCwd: false });
    warnings.forEach((w) => req.warn(w));
    const pid = launchExec(n, namespaces, processOps, req, rec.cgroup);
    if (req.pidFile) writePidFile(req.pidFile, pid);
    if (req.detach) return 0;
    const stopRelay = relaySignals(pid, RELAYED);
    const status = await waitChild(n, pid);
    stopRelay();
    return exitCodeFromWaitStatus(status, null);
  } finally {
    namespaces.forEach((ns) => ns.fd.close());
  }
}

interface OpenNamespace {
  name: string;
  type: number;
  fd: Fd;
}

/** The init's namespace files that differ from ours (setns() into one's own user namespace fails), checked against a reused pid. */
function openNamespaces(rec: OciContainerRecord): OpenNamespace[] {
  const opened: OpenNamespace[] = [];
  try {
    for (const { name, type } of JOINED_NAMESPACES) {
      const file = `/proc/${rec.pid}/ns/${name}`;
      const theirs = fs.statSync(file);
      const ours = fs.statSync(`/proc/self/ns/${name}`);
      if (theirs.ino === ours.ino && theirs.dev === ours.dev) continue;
      opened.push({ name, type, fd: new Fd(fs.openSync(file, 'r'), file) });
    }
    if (processStartTime(rec.pid) !== rec.pidStart) throw Object.assign(new Error('reused pid'), { code: 'ESRCH' });
    return opened;
  } catch (e) {
    opened.forEach((ns) => ns.fd.close());
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new NookError('container not running', { hint: `container ${rec.id} exited just now`, exitCode: 1 });
    throw new NookError(`cannot open the namespaces of container ${rec.id} (pid ${rec.pid}): ${code ?? String(e)}`, { hint: 'exec joins containers of your own user only', exitCode: 1 });
  }
}

function launchExec(n: Native, namespaces: OpenNamespace[], processOps: PlanOp[], req: ExecRequest, cgroup: OciCgroupRecord | undefined): number {
  using channels = ControlChannels.open(n);
  const f = channels.planFds;
  const ops: PlanOp[] = [
    // A copy of nook is about to enter the container: nothing there may ptrace it or read its memory.
    { op: 'PRCTL', args: [PR.SET_DUMPABLE, 0, 0, 0, 0], what: 'make the process non-dumpable' },
    { op: 'CLOSE', args: [f.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [f.statusParent], what: 'close the parent end of the status socket' },
    { op: 'WAIT_FD', args: [f.syncRead], what: 'wait for the go' },
    { op: 'CLOSE', args: [f.syncRead], what: 'close the sync pipe' },
  ];
  for (const ns of namespaces) {
    ops.push({ op: 'SETNS', args: [ns.fd.fd, ns.type], what: `join the container's ${ns.name} namespace` });
    ops.push({ op: 'CLOSE', args: [ns.fd.fd], what: `close the ${ns.name} namespace file` });
  }
  ops.push({ op: 'FORK', args: [], what: "start a process in the container's pid namespace" });
  ops.push(...processOps);
  const executor = n.clone(n.execPlanAddress, n.childStackTop, 17 /* SIGCHLD */, encodePlan(ops, channels.statusChild.fd));
  const cloneErrno = n.errno();
  channels.closeChildEnds();
  namespaces.forEach((ns) => ns.fd.close());
  if (executor < 0) throw new NookError(`cannot start the process: clone() failed: ${describeErrno(cloneErrno)}`, { exitCode: 1 });
  let forked = 0;
  let executorReaped = false;
  const reapExecutor = () => {
    if (!executorReaped) n.waitChild(executor);
    executorReaped = true;
  };
  try {
    // Into the container's cgroup before it joins anything (as runc): what it forks is counted there too.
    if (cgroup) joinOciCgroup(cgroup, executor, req.warn);
    channels.release();
    const msg = new Int32Array(4);
    const passed = new Int32Array(1);
    for (;;) {
      const r = n.readStatus(channels.statusParent.fd, msg, passed);
      if (r < 0) throw new NookError(`reading the process's start-up status: ${describeErrno(-r)}`, { exitCode: 1 });
      if (r === 0) {
        reapExecutor();
        if (!forked) throw new NookError('the process ended before it started', { exitCode: 1 });
        return forked;
      }
      if (msg[0] === Status.STEP_FAILED) {
        const op = ops[msg[1]];
        if (op?.op === 'CHECK_EXEC') throw execLookupError(String(op.args[0]), msg[3]);
        throw new NookError(`cannot exec in container ${req.id}: ${op?.what ?? `step ${msg[1]}`}: ${describeErrno(msg[3])}`, { exitCode: 1 });
      }
      if (msg[0] === Status.FORKED) {
        forked = msg[3];
        reapExecutor();
      } else if (msg[0] === Status.PTY_MASTER && passed[0] >= 0) {
        sendToConsoleSocket(n, req.consoleSocket!, passed[0]);
      }
    }
  } catch (e) {
    if (forked) {
      try {
        process.kill(forked, 'SIGKILL');
      } catch {
        /* gone */
      }
      n.waitChild(forked);
    }
    reapExecutor();
    throw e;
  }
}
