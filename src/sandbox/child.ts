/**
 * The parent's side of a cloned executor: the two close-on-exec control
 * channels (a pipe on which the parent says "id maps written, go on", and a
 * SEQPACKET socket on which the child reports a failed step or passes the
 * pty master), reading the child's report, and waiting for it to exit.
 * Shared by the sandbox itself and by nook's helpers in a user namespace.
 */
import fs = require('node:fs');
import type { Native } from '../../ffi/native';
import { NookError } from '../errors';

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0x80000;
const O_CLOEXEC = 0x80000;
const STATUS_STEP_FAILED = 1;
const STATUS_PTY_MASTER = 2;
const STATUS_FORKED = 3;

export interface ControlChannels {
  statusParent: number;
  statusChild: number;
  syncRead: number;
  syncWrite: number;
}

export interface ChildReport {
  failure?: { step: number; errno: number };
  ptyMaster?: number;
  /** `nook exec`: the host pid of the process forked inside the container's pid namespace. */
  forkedPid?: number;
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

export function controlChannels(n: Native): ControlChannels {
  const status = new Int32Array(2);
  const sync = new Int32Array(2);
  if (n.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, status) < 0 || n.pipe2(sync, O_CLOEXEC) < 0)
    throw new NookError(`creating the sandbox's control channels: errno ${n.errno()}`);
  return { statusParent: status[0], statusChild: status[1], syncRead: sync[0], syncWrite: sync[1] };
}

/** Blocks until the child has exec'd (EOF) or reported a failure. */
export function readChildReport(n: Native, fd: number): ChildReport {
  const report: ChildReport = {};
  const msg = new Int32Array(4);
  const passed = new Int32Array(1);
  for (;;) {
    const r = n.readStatus(fd, msg, passed);
    if (r === 0) return report;
    if (r < 0) throw new NookError(`reading the sandbox's start-up status: errno ${-r}`);
    if (msg[0] === STATUS_PTY_MASTER && passed[0] >= 0) report.ptyMaster = passed[0];
    if (msg[0] === STATUS_FORKED) report.forkedPid = msg[3];
    if (msg[0] === STATUS_STEP_FAILED) {
      report.failure = { step: msg[1], errno: msg[3] };
      return report;
    }
  }
}

/** Resolves with the raw wait status once `pid` exits (waited for in a worker thread). */
export function waitChild(n: Native, pid: number): Promise<number> {
  return new Promise((resolve, reject) => {
    n.waitChildAsync(pid, (err, status) => {
      if (err) reject(err);
      else if (status < 0) reject(new NookError(`waiting for the sandbox (pid ${pid}): errno ${-status}`));
      else resolve(status);
    });
  });
}
