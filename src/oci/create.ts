/**
 * `create`: makes the container and leaves its init waiting at the start
 * barrier, then returns. Nothing of nook stays: the init is this process's
 * child until it exits, and then the nearest subreaper's (containerd's shim,
 * conmon), which reaps it. No parent-death signal ties it to nook.
 *
 * nook and the cloned executor talk over the launcher's channels (a status
 * socket for reports, a sync pipe for "go on") plus a pipe of its own for
 * the hooks that nook runs while the child waits before pivot_root.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { encodePlan, HOOK_EXIT_BASE, HOOK_SIGNAL_BASE, Op, Status, type PlanOp } from '../../ffi/plan-format';
import { loadNative, type Native } from '../../ffi/native';
import { SIGNAL } from '../../ffi/linux';
import { describeErrno, NookError } from '../errors';
import { ControlChannels, pipe, type Fd } from '../sandbox/launcher';
import { applyIdMapping, hostIdentity } from '../sandbox/idmap';
import { processStartTime } from '../util/proc-stat';
import { createOciCgroup, joinOciCgroup, removeOciCgroup, type OciCgroupRecord } from './cgroups';
import { readBundleConfig } from './config';
import { runHooks } from './hooks';
import { sendToConsoleSocket } from './process-io';
import { idMappingFor, planContainer, readHostFacts, type ContainerPlan } from './plan';
import { hookState, type OciContainerRecord, type OciStateStore } from './state';

export interface CreateRequest {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: number;
  rootless: 'auto' | 'true' | 'false';
  /** Warnings for the log (what the config asks that nook does not do). */
  warn(message: string): void;
}

export interface Created {
  record: OciContainerRecord;
  /** The init is this process's child (`run` waits for it). */
  pid: number;
}

export async function createContainer(store: OciStateStore, req: CreateRequest): Promise<Created> {
  const bundle = path.resolve(req.bundle);
  const config = readBundleConfig(bundle);
  if (!config.root?.path) throw new NookError('config.json: root.path is missing', { hint: 'name the rootfs directory, e.g. "rootfs"' });
  const rootfs = path.resolve(bundle, config.root.path);
  if (!fs.statSync(rootfs, { throwIfNoEntry: false })?.isDirectory())
    throw new NookError(`the rootfs ${rootfs} is not a directory`, { hint: 'root.path in config.json names the container\'s root filesystem, relative to the bundle' });
  if (config.process?.terminal && !req.consoleSocket)
    throw new NookError('config.json asks for a terminal (process.terminal), but no --console-socket was given', {
      hint: 'pass --console-socket PATH (a unix socket that receives the pty master), or set process.terminal to false',
    });

  const dir = store.reserve(req.id);
  try {
    const base = { ociVersion: config.ociVersion, id: req.id, bundle, annotations: config.annotations ?? {} };
    const host = readHostFacts();
    const fifo = store.fifoPath(req.id);
    const plan = planContainer({
      config, bundle, rootfs, fifoPath: fifo, host, preserveFds: req.preserveFds, rootless: req.rootless,
      // The executor writes its own pid between the two halves. The first "pid":1 is the field: what comes
      // before it (ociVersion, id, status) holds no quote of its own (both checked, status fixed).
      hookState: (status) => {
        const text = JSON.stringify({ ...hookState(base, status as 'created', 1) });
        const at = text.indexOf('"pid":1') + '"pid":'.length;
        return [text.slice(0, at), text.slice(at + 1)];
      },
    });
    const n = loadNative();
    if (n.mkfifo(fifo, 0o600) < 0) throw new NookError(`cannot make the start barrier ${fifo}: ${describeErrno(n.errno())}`, { hint: 'choose a --root on a filesystem that has FIFOs' });
    const cgroup = createOciCgroup(config, req.id, req.warn);
    let pid: number;
    try {
      pid = launchContainer(n, plan, req, base, cgroup);
    } catch (e) {
      if (cgroup) removeOciCgroup(cgroup, req.warn);
      throw e;
    }
    for (const w of plan.warnings) req.warn(w);
    const record: OciContainerRecord = {
      ...base, pid, pidStart: processStartTime(pid) ?? 0, rootfs, created: new Date().toISOString(), owner: ownerName(),
      config, ownPidNamespace: plan.ownPidNamespace, ...(cgroup && (cgroup.v1 || cgroup.v2) ? { cgroup } : {}),
    };
    try {
      store.write(record);
      if (req.pidFile) writePidFile(req.pidFile, pid);
    } catch (e) {
      // Not recorded, so nothing could ever start or delete it: the waiting init goes now.
      process.kill(pid, 'SIGKILL');
      if (cgroup) removeOciCgroup(cgroup, req.warn);
      throw e;
    }
    return { record, pid };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function ownerName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.geteuid!());
  }
}

/** Whole or not at all: a temporary file renamed into place (conmon and the shim read it as soon as create returns). */
export function writePidFile(file: string, pid: number): void {
  const target = path.resolve(file);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, String(pid));
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new NookError(`cannot write the pid file ${target}: ${(e as NodeJS.ErrnoException).code}`, { hint: 'check that its directory exists and is writable', exitCode: 1 });
  }
}

/**
 * clone → (id maps) → go → reports until the init waits at its barrier.
 * Returns the init's pid; on any failure kills what was started and throws.
 */
function launchContainer(
  n: Native, plan: ContainerPlan, req: CreateRequest, base: { ociVersion: string; id: string; bundle: string; annotations: Record<string, string> }, cgroup: OciCgroupRecord | undefined,
): number {
  using channels = ControlChannels.open(n);
  const [hookRead, hookWrite] = pipe(n, 'the hook pipe');
  using _hooks = { [Symbol.dispose]: () => [hookRead, hookWrite].forEach((f) => f.close()) };
  const fds = { ...channels.planFds, hookRead: hookRead.fd, hookWrite: hookWrite.fd };
  const ops = plan.ops(fds);
  const executor = n.clone(n.execPlanAddress, n.childStackTop, plan.cloneFlags, encodePlan(ops, channels.statusChild.fd));
  const cloneErrno = n.errno();
  channels.closeChildEnds();
  hookRead.close();
  if (executor < 0) throw new NookError(`cannot start the container: clone() failed: ${describeErrno(cloneErrno)}`, { hint: cloneHint(cloneErrno) });

  let init = executor;
  let executorReaped = false;
  const reapExecutor = () => {
    if (!executorReaped) n.waitChild(executor);
    executorReaped = true;
  };
  try {
    const msg = new Int32Array(4);
    const passed = new Int32Array(1);
    /** The next report; null at EOF (the child ended). */
    const next = (): number | null => {
      const r = n.readStatus(channels.statusParent.fd, msg, passed);
      if (r === 0) return null;
      if (r < 0) throw new NookError(`reading the container's start-up status: ${describeErrno(-r)}`);
      return msg[0];
    };
    const failed = () => stepError(ops, msg[1], msg[3]);
    const early = () => new NookError('the container\'s init ended before it was created', { hint: 'run again with --log FILE for details', exitCode: 1 });
    if (plan.userns) {
      if (plan.mapsAfterUnshare) {
        const k = next();
        if (k === Status.STEP_FAILED) throw failed();
        if (k !== Status.UNSHARED) throw early();
      }
      applyIdMapping(n, executor, idMappingFor(plan.userns, { uid: process.geteuid!(), gid: process.getegid!() }), hostIdentity());
    }
    // Into its cgroup before it runs anything of the container's: whatever it forks is counted there.
    if (cgroup) joinOciCgroup(cgroup, executor, req.warn);
    channels.release();
    for (;;) {
      const kind = next();
      if (kind === null) throw early();
      if (kind === Status.STEP_FAILED) throw failed();
      if (kind === Status.FORKED) {
        init = msg[3];
        reapExecutor();
      } else if (kind === Status.PTY_MASTER && passed[0] >= 0) {
        sendToConsoleSocket(n, req.consoleSocket!, passed[0]);
      } else if (kind === Status.HOOKS) {
        // runtime-tools checks "created" here (the spec's example of a hook's state).
        const state = hookState(base, 'created', init);
        runHooks('createRuntime', plan.config.hooks?.createRuntime, state);
        fs.writeSync(hookWrite.fd, 'g');
        hookWrite.close();
      } else if (kind === Status.CREATED) {
        return init;
      }
    }
  } catch (e) {
    // The child (and whatever it forked) goes; the init is our child in every case (CLONE_PARENT).
    try {
      process.kill(init, SIGNAL.SIGKILL);
    } catch {
      /* already gone */
    }
    if (init !== executor) n.waitChild(init);
    reapExecutor();
    throw e;
  }
}

/**
 * The program of process.args[0] cannot be run: worded as runc's (podman turns "no such file or
 * directory" and "executable file not found" into exit 127, "permission denied" into 126).
 */
export function execLookupError(file: string, errno: number): NookError {
  const reason = errno === 2 ? (file.includes('/') ? 'no such file or directory' : 'executable file not found in $PATH: no such file or directory') : errno === 13 ? 'permission denied' : describeErrno(errno);
  return new NookError(`cannot execute "${file}" in the container: ${reason}`, { hint: 'process.args[0] must name a program in the container\'s rootfs (or on its PATH)', exitCode: 1 });
}

function cloneHint(errno: number): string {
  if (errno === 1 || errno === 28 || errno === 22) return 'this kernel refused the namespaces: check that unprivileged user namespaces are enabled (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces)';
  return 'check the namespaces in config.json';
}

function stepError(ops: PlanOp[], step: number, errno: number): NookError {
  const op = ops[step];
  const what = op?.what ?? `step ${step}`;
  if (op?.op === 'RUN_HOOK' && errno >= HOOK_EXIT_BASE) {
    const detail = errno >= HOOK_SIGNAL_BASE ? `was killed by signal ${errno - HOOK_SIGNAL_BASE}` : `failed with exit status ${errno - HOOK_EXIT_BASE}`;
    return new NookError(`${what.replace(/^run /, '')} ${detail}`, { hint: 'fix the hook, or remove it from config.json', exitCode: 1 });
  }
  if (op?.op === 'RUN_HOOK' && errno === 110) return new NookError(`${what.replace(/^run /, '')} timed out`, { hint: 'raise its "timeout" in config.json', exitCode: 1 });
  if (op && Op[op.op] === Op.CHECK_EXEC) return execLookupError(String(op.args[0]), errno);
  return new NookError(`cannot create the container: ${what}: ${describeErrno(errno)}`, { hint: 'check config.json (see the step named above)', exitCode: 1 });
}

export type { Fd };
