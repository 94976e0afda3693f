/**
 * Runs a sandbox: clone() the native executor into new namespaces, write its
 * id maps, let it run the plan, then relay signals (and the terminal, with
 * -t) until the command exits. Returns nook's exit code.
 *
 * The parent and child talk over two close-on-exec channels: a pipe on which
 * the parent says "id maps written, go on", and a SEQPACKET socket on which
 * the child reports a failed step (or passes the pty master). EOF on that
 * socket means execve() succeeded.
 */
import fs = require('node:fs');
import { encodePlan, type PlanOp } from '../../ffi/plan-format';
import { loadNative, type Native } from '../../ffi/native';
import { NookError } from '../errors';
import { applyIdMapping, type HostIdentity } from './idmap';
import { buildPlan, cloneFlags } from './plan';
import { cloneFailure, stepFailure } from './diagnose';
import { FORWARDED_SIGNALS, SignalRelay, exitCodeFromWaitStatus } from './signals';
import type { SandboxSpec } from './spec';
import { mark } from '../util/timing';

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0x80000;
const O_CLOEXEC = 0x80000;
const STATUS_STEP_FAILED = 1;
const STATUS_PTY_MASTER = 2;

interface ChildReport {
  failure?: { step: number; errno: number };
  ptyMaster?: number;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** Blocks until the child has exec'd (EOF) or reported a failure. */
function readChildReport(n: Native, fd: number): ChildReport {
  const report: ChildReport = {};
  const msg = new Int32Array(4);
  const passed = new Int32Array(1);
  for (;;) {
    const r = n.readStatus(fd, msg, passed);
    if (r === 0) return report;
    if (r < 0) throw new NookError(`reading the sandbox's start-up status: errno ${-r}`);
    if (msg[0] === STATUS_PTY_MASTER && passed[0] >= 0) report.ptyMaster = passed[0];
    if (msg[0] === STATUS_STEP_FAILED) {
      report.failure = { step: msg[1], errno: msg[3] };
      return report;
    }
  }
}

function waitChild(n: Native, pid: number): Promise<number> {
  return new Promise((resolve, reject) => {
    n.waitChildAsync(pid, (err, status) => {
      if (err) reject(err);
      else if (status < 0) reject(new NookError(`waiting for the sandbox (pid ${pid}): errno ${-status}`));
      else resolve(status);
    });
  });
}

function failedStep(ops: PlanOp[], failure: { step: number; errno: number }, spec: SandboxSpec, host: HostIdentity): NookError {
  const step = ops[failure.step];
  if (!step) return new NookError(`the sandbox failed at unknown step ${failure.step}`);
  return stepFailure(step, failure.errno, spec, host.userName);
}

export async function runSandbox(spec: SandboxSpec, host: HostIdentity): Promise<number> {
  mark('spec built');
  const n = loadNative();
  mark('native loaded');
  // With a tty, window size changes go to the pty, which signals the command itself.
  const relay = new SignalRelay(spec.tty ? FORWARDED_SIGNALS.filter((s) => s !== 'SIGWINCH') : FORWARDED_SIGNALS);
  try {
    return await runWithRelay(n, spec, host, relay);
  } finally {
    relay.detach();
  }
}

async function runWithRelay(n: Native, spec: SandboxSpec, host: HostIdentity, relay: SignalRelay): Promise<number> {
  const status = new Int32Array(2);
  const sync = new Int32Array(2);
  if (n.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, status) < 0 || n.pipe2(sync, O_CLOEXEC) < 0)
    throw new NookError(`creating the sandbox's control channels: errno ${n.errno()}`);
  const [statusParent, statusChild] = status;
  const [syncRead, syncWrite] = sync;

  const ops: PlanOp[] = buildPlan(spec, { syncRead, syncWrite, statusParent, statusChild });
  const plan = encodePlan(ops, statusChild);
  mark('plan encoded');
  const pid = n.clone(n.execPlanAddress, n.childStackTop, cloneFlags(spec), plan);
  const cloneErrno = n.errno();
  closeQuietly(statusChild);
  closeQuietly(syncRead);
  if (pid < 0) {
    [statusParent, syncWrite].forEach(closeQuietly);
    throw cloneFailure(cloneErrno);
  }
  mark('cloned');
  const exited = waitChild(n, pid);

  try {
    applyIdMapping(n, pid, spec.idmap, host);
  } catch (e) {
    // The child sees EOF and exits quietly, unless a step before the wait already
    // failed (and took the child, and its /proc entry, with it): that is the real story.
    closeQuietly(syncWrite);
    const report = readChildReport(n, statusParent);
    closeQuietly(statusParent);
    await exited;
    if (report.failure) throw failedStep(ops, report.failure, spec, host);
    throw e;
  }
  mark('id maps written');
  fs.writeSync(syncWrite, 'g');
  closeQuietly(syncWrite);

  const report = readChildReport(n, statusParent);
  closeQuietly(statusParent);
  if (report.failure) {
    if (report.ptyMaster !== undefined) closeQuietly(report.ptyMaster);
    await exited;
    throw failedStep(ops, report.failure, spec, host);
  }

  mark('command started');
  relay.attach(pid);
  if (report.ptyMaster === undefined) return exitCodeFromWaitStatus(await exited, relay.killedBy);

  const { startTtySession } = await import('./tty');
  const tty = startTtySession(n, report.ptyMaster, {
    interactive: spec.interactive,
    onTypedSignal: (sig) => relay.deliverIfDropped(sig === 'SIGINT' ? 2 : 3),
  });
  try {
    const [raw] = await Promise.all([exited, tty.closed]);
    return exitCodeFromWaitStatus(raw, relay.killedBy);
  } finally {
    tty.restore();
  }
}
