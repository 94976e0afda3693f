/**
 * The one way nook starts a cloned executor: clone() it with a plan, run an
 * ordered list of parent-side steps on the child while it waits (id maps,
 * cgroup placement; later a network helper, OCI hooks), release it with one
 * byte, and read whether its plan ran to execve().
 *
 * The parent and child talk over two close-on-exec channels: a pipe on which
 * the parent says "go on" (the release byte), and a SEQPACKET socket on which
 * the child reports a failed step ({step, errno}), passes the pty master, or
 * says which pid it forked (`nook exec`). EOF on that socket means execve()
 * succeeded, or that the child gave up because the parent closed the pipe.
 *
 * Every descriptor is an Fd object that closes exactly once, whatever path
 * the launch takes: a number closed twice may be a file another open() has
 * reused in the meantime.
 */
import fs = require('node:fs');
import { encodePlan, Status, type PlanOp } from '../../ffi/plan-format';
import type { Native } from '../../ffi/native';
import { describeErrno, NookError } from '../errors';
import { cloneFailure } from './diagnose';
import type { PlanFds } from './plan';
import { mark } from '../util/timing';
import { ProcessHandle } from './pidfd';
import { Fd, FdGroup, pipe } from './fd';
import { ERRNO, SOCKET } from '../../ffi/linux';

export { Fd, FdGroup, pipe };


/** The two control channels between nook and one cloned executor. */
export class ControlChannels implements Disposable {
  private constructor(
    /** Where the parent reads the child's report. */
    readonly statusParent: Fd,
    /** The child's end: it reports here, and its hang-up tells the child that nook died. */
    readonly statusChild: Fd,
    /** The child waits on this for the release byte. */
    readonly syncRead: Fd,
    /** The parent writes the release byte here, or closes it to make the child give up. */
    readonly syncWrite: Fd,
  ) {}

  static open(n: Native): ControlChannels {
    const status = new Int32Array(2);
    if (n.socketpair(SOCKET.AF_UNIX, SOCKET.SOCK_SEQPACKET | SOCKET.SOCK_CLOEXEC, 0, status) < 0)
      throw new NookError(`creating the sandbox's status socket: errno ${n.errno()}`);
    const statusParent = new Fd(status[0], 'the status socket (parent end)');
    const statusChild = new Fd(status[1], 'the status socket (child end)');
    let sync: [Fd, Fd];
    try {
      sync = pipe(n, 'the sync pipe');
    } catch (e) {
      statusParent.close();
      statusChild.close();
      throw e;
    }
    return new ControlChannels(statusParent, statusChild, sync[0], sync[1]);
  }

  /** The numbers the plan uses (the child inherits them as they are). */
  get planFds(): PlanFds {
    return { statusParent: this.statusParent.fd, statusChild: this.statusChild.fd, syncRead: this.syncRead.fd, syncWrite: this.syncWrite.fd };
  }

  /** After the clone: only the child keeps its ends, so that EOFs mean what they say. */
  closeChildEnds(): void {
    this.statusChild.close();
    this.syncRead.close();
  }

  /** The release byte: the child goes on with its plan. */
  release(): void {
    try {
      fs.writeSync(this.syncWrite.fd, 'g');
    } catch (e) {
      // EPIPE: the child already ended (a step before its wait failed); its report says why.
      if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
    } finally {
      this.syncWrite.close();
    }
  }

  close(): void {
    for (const fd of [this.statusParent, this.statusChild, this.syncRead, this.syncWrite]) fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export interface StepFailure {
  /** Index of the failed op in the plan. */
  step: number;
  errno: number;
}

export interface ChildReport {
  failure?: StepFailure;
  ptyMaster?: Fd;
  /** `nook exec`: the host pid of the process forked inside the container's pid namespace. */
  forkedPid?: number;
}

/** Blocks until the child has exec'd (EOF) or reported a failure. */
export function readChildReport(n: Native, fd: Fd): ChildReport {
  const report: ChildReport = {};
  const msg = new Int32Array(4);
  const passed = new Int32Array(1);
  for (;;) {
    const r = n.readStatus(fd.fd, msg, passed);
    if (r === 0) return report;
    if (r < 0) {
      report.ptyMaster?.close();
      throw new NookError(`reading the sandbox's start-up status: errno ${-r}`);
    }
    if (msg[0] === Status.PTY_MASTER && passed[0] >= 0) {
      report.ptyMaster?.close();
      report.ptyMaster = new Fd(passed[0], 'the pty master');
    }
    if (msg[0] === Status.FORKED) report.forkedPid = msg[3];
    if (msg[0] === Status.STEP_FAILED) {
      report.failure = { step: msg[1], errno: msg[3] };
      return report;
    }
  }
}

/** Children being waited for, by pid: each entry reaps its child if it has ended. */
const watched = new Map<number, () => void>();
/** A signal listener does not keep Node's event loop alive: this timer does, while a child is watched. */
let keepAlive: NodeJS.Timeout | undefined;

/**
 * Installs nook's SIGCHLD listener and its keep-alive timer, once. launch()
 * calls it before clone(): their first-use costs (~2 ms) are then not paid
 * while the new child waits for its id maps.
 */
export function armChildWatch(): void {
  if (keepAlive) return;
  keepAlive = setInterval(() => undefined, 0x7fffffff).unref();
  process.on('SIGCHLD', () => {
    for (const check of [...watched.values()]) check();
  });
}

/**
 * Resolves with the raw wait status once `pid` exits: reaped on SIGCHLD
 * (and once right away, should it have ended already), so no thread is
 * needed. Only nook reaps its own children by pid, and libuv's handler
 * reaps only the pids it spawned, so nobody takes this one from us.
 */
export function waitChild(n: Native, pid: number): Promise<number> {
  armChildWatch();
  return new Promise((resolve, reject) => {
    const check = () => {
      const status = n.tryWaitChild(pid);
      if (status === -ERRNO.EAGAIN) return;
      watched.delete(pid);
      if (!watched.size) keepAlive?.unref();
      if (status < 0) reject(new NookError(`waiting for the sandbox (pid ${pid}): ${describeErrno(-status)}`));
      else resolve(status);
    };
    watched.set(pid, check);
    keepAlive?.ref();
    check();
  });
}

/** Something the parent does to the child between the clone and the release byte. */
export interface ParentStep {
  /** For messages: "write the id maps", "join the cgroup". */
  name: string;
  run(pid: number): void | Promise<void>;
}

/**
 * Runs `steps` in order on the waiting child `pid`. A step that fails with a
 * NookError has said what went wrong; anything else is wrapped, naming the step.
 */
export async function runParentSteps(steps: readonly ParentStep[], pid: number): Promise<void> {
  for (const step of steps) {
    try {
      await step.run(pid);
    } catch (e) {
      if (e instanceof NookError) throw e;
      const code = (e as NodeJS.ErrnoException)?.code;
      throw new NookError(`${step.name} for the sandbox (pid ${pid}) failed${code ? `: ${code}` : ''}`, { cause: e });
    }
  }
}

export interface LaunchRequest {
  /** clone() flags: namespaces and the exit signal. */
  flags: number;
  /** Builds the plan with the channels' descriptor numbers. */
  plan(fds: PlanFds): PlanOp[];
  /** In order, between the clone and the release byte. */
  steps?: readonly ParentStep[];
  /** Descriptors for the child only: closed in nook right after the clone (also when it fails). */
  childFds?: readonly Fd[];
  /** The error for a step of the plan that failed in the child. */
  failure(ops: PlanOp[], f: StepFailure): NookError;
  /**
   * Who reaps the child. 'thread' (default): a worker thread waits, and
   * `exited` resolves with its wait status. 'caller': nook reaps it itself
   * when the launch fails, and the caller does once it succeeded (nook's
   * store helpers: a worker thread each would starve libuv's small pool).
   */
  reap?: 'thread' | 'caller';
}

export interface Launched {
  pid: number;
  ops: PlanOp[];
  /** With reap 'thread': the child's raw wait status. */
  exited?: Promise<number>;
  /** With reap 'thread': the child by pidfd, taken before it could be reaped (now the caller's to close). */
  handle?: ProcessHandle;
  /** With a terminal: the pty master, now the caller's. */
  ptyMaster?: Fd;
  forkedPid?: number;
}

/**
 * clone() → parent steps → release → report. Throws a NookError when any
 * part fails, after the child has been reaped (or is being reaped) and every
 * descriptor closed.
 */
export async function launch(n: Native, req: LaunchRequest): Promise<Launched> {
  using childFds = new FdGroup();
  for (const fd of req.childFds ?? []) childFds.add(fd);
  using channels = ControlChannels.open(n);
  const ops = req.plan(channels.planFds);
  if (req.reap !== 'caller') armChildWatch();
  const pid = n.clone(n.execPlanAddress, n.childStackTop, req.flags, encodePlan(ops, channels.statusChild.fd));
  const cloneErrno = n.errno();
  channels.closeChildEnds();
  childFds.close();
  if (pid < 0) throw cloneFailure(cloneErrno);
  mark('cloned');

  // The pidfd first: until nook waits for the child, its pid cannot be given to anyone else.
  // (Should that fail, the channels close on the way out: the child sees EOF and ends.)
  const handle = req.reap === 'caller' ? undefined : ProcessHandle.open(n, pid);
  const exited = req.reap === 'caller' ? undefined : waitChild(n, pid);
  /** On failure: the child ends on its own (EOF on the sync pipe, or its failed step); reap it before saying why. */
  const reaped = async () => {
    if (exited) await exited.catch(() => undefined);
    else n.waitChild(pid);
  };
  try {
    try {
      await runParentSteps(req.steps ?? [], pid);
    } catch (e) {
      // The child sees EOF and exits quietly, unless a step before the wait already
      // failed (and took the child, and its /proc entry, with it): that is the real story.
      channels.syncWrite.close();
      let report: ChildReport = {};
      try {
        report = readChildReport(n, channels.statusParent);
      } catch {
        /* unreadable: the step's own error is all there is to say */
      }
      report.ptyMaster?.close();
      await reaped();
      if (report.failure) throw req.failure(ops, report.failure);
      throw e;
    }
    mark('parent steps done');
    channels.release();

    const report = readChildReport(n, channels.statusParent);
    if (report.failure) {
      report.ptyMaster?.close();
      await reaped();
      // `nook exec`: the process forked into the container failed before execve(); it is nook's child too.
      if (report.forkedPid) await (exited ? waitChild(n, report.forkedPid).catch(() => undefined) : n.waitChild(report.forkedPid));
      throw req.failure(ops, report.failure);
    }
    return { pid, ops, exited, handle, ptyMaster: report.ptyMaster, forkedPid: report.forkedPid };
  } catch (e) {
    handle?.close();
    throw e;
  }
}

/** The sandbox's init: the process to signal, wait for and report. */
export interface SandboxInit {
  pid: number;
  handle: ProcessHandle;
  exited: Promise<number>;
}

/**
 * The init of a launched sandbox (reap 'thread'): the executor itself, or,
 * when its plan forked into namespaces it made after joining another
 * sandbox's (--network container:NAME), the forked child, which is nook's own
 * (CLONE_PARENT) while the executor has ended.
 */
export async function sandboxInit(n: Native, started: Launched): Promise<SandboxInit> {
  if (!started.forkedPid) return { pid: started.pid, handle: started.handle!, exited: started.exited! };
  started.handle?.close();
  await started.exited;
  // Its pidfd before waiting for it: until then its pid is not given to anyone else.
  const handle = ProcessHandle.open(n, started.forkedPid);
  return { pid: started.forkedPid, handle, exited: waitChild(n, started.forkedPid) };
}
