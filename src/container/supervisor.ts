/**
 * Starting a detached container: nook builds the container's plan, then
 * starts nook-supervisor (ffi/supervisor.c) in a session of its own with its
 * descriptors laid out as that program expects. The supervisor clones the
 * container and reports its pid; nook writes the id maps, moves it into its
 * cgroup, lets it go on, and reads whether the command started. Then nook
 * may exit: the supervisor outlives it, logs the output, and at the
 * container's exit execs `nook __exited ID STATUS` with the container's
 * lock still held.
 */
import fs = require('node:fs');
import { encodePlan, type PlanOp } from '../../ffi/plan-format';
import { initProgram, loadNative, supervisorPath, type Native } from '../../ffi/native';
import { NookError } from '../errors';
import { closeQuietly, controlChannels, readChildReport } from '../sandbox/child';
import { cloneFailure, stepFailure } from '../sandbox/diagnose';
import { applyIdMapping, type HostIdentity } from '../sandbox/idmap';
import { buildPlan, cloneFlags, SIGCHLD } from '../sandbox/plan';
import type { SandboxSpec } from '../sandbox/spec';
import { selfCommand } from '../sandbox/userns-exec';
import type { ContainerCgroup } from '../sandbox/cgroups';
import type { ContainerDir, LogOptions } from './state';

const O_CLOEXEC = 0x80000;
const O_RDWR = 2;

/** The supervisor's descriptor numbers (see the comment at the top of ffi/supervisor.c). */
const FD = { stdoutW: 1, stderrW: 2, status: 3, statusChild: 4, syncRead: 5, syncWrite: 6, report: 7, stdoutR: 8, stderrR: 9, lock: 10 } as const;

export interface Started {
  pid: number;
  supervisorPid: number;
}

function pipe(n: Native): [number, number] {
  const fds = new Int32Array(2);
  if (n.pipe2(fds, O_CLOEXEC) < 0) throw new NookError(`creating a pipe: errno ${n.errno()}`);
  return [fds[0], fds[1]];
}

/** Reads report lines from the supervisor ("pid N", "ok", "fail STEP OP ERRNO") one at a time. */
class ReportReader {
  private buf = '';
  constructor(private fd: number) {}

  next(): string | undefined {
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return line;
      }
      const chunk = Buffer.alloc(256);
      let got: number;
      try {
        got = fs.readSync(this.fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw e;
      }
      if (got === 0) return undefined;
      this.buf += chunk.toString('utf8', 0, got);
    }
  }
}

/**
 * The plan that turns a plain clone of nook into the supervisor: descriptors
 * moved to their numbers (through a range above every source, so that no
 * move overwrites a source still to be moved), everything else close-on-exec.
 */
function launchOps(moves: [number, number][], argv: string[]): PlanOp[] {
  const base = Math.max(...moves.map(([from]) => from), 16) + 1;
  const ops: PlanOp[] = [{ op: 'OPEN', args: ['/dev/null', O_RDWR, 0, 0], what: 'attach stdin to /dev/null' }];
  moves.forEach(([from], i) => ops.push({ op: 'DUP2', args: [from, base + i], what: `move fd ${from} aside` }));
  moves.forEach(([, to], i) => ops.push({ op: 'DUP2', args: [base + i, to], what: `move fd ${moves[i][0]} to ${to}` }));
  ops.push({ op: 'RESET_SIGNALS', args: [], what: 'reset signal dispositions' });
  ops.push({ op: 'CLOEXEC_FROM', args: [FD.lock + 1], what: 'mark other descriptors close-on-exec' });
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  ops.push({ op: 'EXEC', args: [argv[0], { strings: argv }, { strings: env }, null], what: `execute ${argv[0]}` });
  return ops;
}

export interface StartRequest {
  dir: ContainerDir;
  spec: SandboxSpec;
  host: HostIdentity;
  /** The container's lock, held by the caller; the supervisor takes over a copy. */
  lockFd: number;
  cgroup?: ContainerCgroup;
  log: LogOptions;
}

/** Starts the container under a new supervisor; resolves once its command runs (or throws why it did not). */
export function startSupervised(req: StartRequest): Started {
  const { dir, spec, host } = req;
  const n = loadNative();
  const container = controlChannels(n);
  const launch = controlChannels(n);
  const [reportR, reportW] = pipe(n);
  const [outR, outW] = pipe(n);
  const [errR, errW] = pipe(n);

  // The container's plan, with the descriptor numbers it will have in the supervisor.
  const fds = { syncRead: FD.syncRead, syncWrite: FD.syncWrite, statusParent: FD.status, statusChild: FD.statusChild };
  const ops = buildPlan(spec, fds, { initImage: spec.init ? initProgram() : undefined });
  fs.writeFileSync(dir.p('plan'), encodePlan(ops, FD.statusChild), { mode: 0o600 });

  const exitCommand = [...selfCommand(), '__exited', dir.id];
  const argv = [supervisorPath(), dir.p('plan'), String(cloneFlags(spec)), dir.p('container.log'), String(req.log.maxSize), String(req.log.maxFiles), '--', ...exitCommand];
  const moves: [number, number][] = [
    [outW, FD.stdoutW], [errW, FD.stderrW], [container.statusParent, FD.status], [container.statusChild, FD.statusChild],
    [container.syncRead, FD.syncRead], [container.syncWrite, FD.syncWrite], [reportW, FD.report], [outR, FD.stdoutR],
    [errR, FD.stderrR], [req.lockFd, FD.lock],
  ];
  const lops = launchOps(moves, argv);
  const supervisorPid = n.clone(n.execPlanAddress, n.childStackTop, SIGCHLD, encodePlan(lops, launch.statusChild));
  const cloneErrno = n.errno();
  // Only the supervisor keeps these: the pipes' EOFs must mean what they say.
  [launch.statusChild, launch.syncRead, launch.syncWrite, outW, errW, outR, errR, reportW, container.statusParent, container.statusChild, container.syncRead].forEach(closeQuietly);
  if (supervisorPid < 0) {
    [launch.statusParent, reportR, container.syncWrite].forEach(closeQuietly);
    throw cloneFailure(cloneErrno);
  }
  const launched = readChildReport(n, launch.statusParent);
  closeQuietly(launch.statusParent);
  if (launched.failure) {
    [reportR, container.syncWrite].forEach(closeQuietly);
    n.waitChild(supervisorPid);
    const step = lops[launched.failure.step];
    throw new NookError(`starting the container's supervisor: ${step?.what ?? 'a step'} failed (errno ${launched.failure.errno})`);
  }

  const report = new ReportReader(reportR);
  try {
    const first = report.next();
    const m = first && /^pid (\d+)$/.exec(first);
    if (!m) throw supervisorFailure(first, ops, spec, host);
    const pid = Number(m[1]);
    try {
      applyIdMapping(n, pid, spec.idmap, host);
      req.cgroup?.join(pid);
    } catch (e) {
      // A step before the wait may have failed and taken the child (and its
      // /proc entry) with it: then the supervisor's report is the real story.
      closeQuietly(container.syncWrite);
      const next = report.next();
      if (next?.startsWith('fail ')) throw supervisorFailure(next, ops, spec, host);
      throw e;
    }
    fs.writeSync(container.syncWrite, 'g');
    closeQuietly(container.syncWrite);
    const second = report.next();
    if (second !== 'ok') throw supervisorFailure(second, ops, spec, host);
    return { pid, supervisorPid };
  } finally {
    closeQuietly(container.syncWrite);
    closeQuietly(reportR);
  }
}

function supervisorFailure(line: string | undefined, ops: PlanOp[], spec: SandboxSpec, host: HostIdentity): NookError {
  const m = line && /^fail (-?\d+) (\d+) (\d+)$/.exec(line);
  if (!m) return new NookError('the container\'s supervisor ended before the container started', { hint: 'run the container in the foreground (without -d) to see what fails' });
  const [step, errno] = [Number(m[1]), Number(m[3])];
  if (step < 0) return step === -1 && errno ? cloneFailure(errno) : new NookError(`the supervisor could not start the container (errno ${errno})`);
  const op = ops[step];
  return op ? stepFailure(op, errno, spec, host.userName) : new NookError(`the container failed at unknown step ${step}`);
}

