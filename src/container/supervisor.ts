/**
 * Starting a detached container: nook builds the container's plan, then
 * starts nook-supervisor (ffi/supervisor.c) in a session of its own with its
 * descriptors laid out as that program expects. The supervisor clones the
 * container and reports its pid; nook writes the id maps, moves it into its
 * cgroup, lets it go on, and reads whether the command started. Then nook
 * may exit: the supervisor outlives it, logs the output, and at the
 * container's exit execs `nook __exited ID STATUS` with the container's
 * lock still held.
 *
 * The supervisor itself is started by the launcher (src/sandbox/launcher.ts);
 * the container, cloned by the supervisor, gets the same parent steps (id
 * maps, cgroup) through runParentSteps. Every descriptor is an Fd that
 * closes once.
 */
import fs = require('node:fs');
import { encodePlan, type PlanOp } from '../../ffi/plan-format';
import { initProgram, loadNative, supervisorPath, type Native } from '../../ffi/native';
import { describeErrno, NookError } from '../errors';
import { ControlChannels, FdGroup, launch, pipe, runParentSteps, type Fd, type ParentStep } from '../sandbox/launcher';
import { cloneFailure, stepFailure } from '../sandbox/diagnose';
import { applyIdMapping, type HostIdentity } from '../sandbox/idmap';
import { buildPlan, cloneFlags, type PlanFds } from '../sandbox/plan';
import { O, SIGNAL } from '../../ffi/linux';
import { proxiedPorts, type PublishedPort, type SandboxSpec } from '../sandbox/spec';
import { boundPorts, portsArgument } from '../sandbox/port-proxy';
import { selfCommand } from '../sandbox/userns-exec';
import { checkJoinedStillThere } from '../sandbox/process';
import type { ContainerCgroup } from '../sandbox/cgroups';
import type { Lifeline } from '../sandbox/network/lifeline';
import type { ContainerDir, LogOptions } from './state';


/** The supervisor's descriptor numbers (see the comment at the top of ffi/supervisor.c). */
const FD = { stdoutW: 1, stderrW: 2, status: 3, statusChild: 4, syncRead: 5, syncWrite: 6, report: 7, stdoutR: 8, stderrR: 9, lock: 10, lifeline: 11, stdinR: 0, stdinW: 12 } as const;

export interface Started {
  pid: number;
  supervisorPid: number;
  /** The published ports as bound (a free port chosen for each hostPort 0). */
  ports?: PublishedPort[];
}

/** Reads report lines from the supervisor ("pid N", "ok", "fail STEP OP ERRNO") one at a time. */
class ReportReader {
  private buf = '';
  constructor(private fd: Fd) {}

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
        got = fs.readSync(this.fd.fd, chunk);
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
 * The plan that turns a plain clone of nook into the supervisor: wait for
 * the release byte, then descriptors moved to their numbers (through a range
 * above every source, so that no move overwrites a source still to be moved),
 * everything else close-on-exec.
 */
function launchOps(ch: PlanFds, moves: [number, number][], argv: string[]): PlanOp[] {
  const base = Math.max(...moves.map(([from]) => from), ...Object.values(ch), 16) + 1;
  const ops: PlanOp[] = [
    { op: 'CLOSE', args: [ch.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [ch.statusParent], what: 'close the parent end of the status socket' },
    { op: 'WAIT_FD', args: [ch.syncRead], what: 'wait for nook' },
    { op: 'CLOSE', args: [ch.syncRead], what: 'close the sync pipe' },
    { op: 'OPEN', args: ['/dev/null', O.RDWR, 0, 0], what: 'attach stdin to /dev/null' },
  ];
  moves.forEach(([from], i) => ops.push({ op: 'DUP2', args: [from, base + i], what: `move fd ${from} aside` }));
  moves.forEach(([, to], i) => ops.push({ op: 'DUP2', args: [base + i, to], what: `move fd ${moves[i][0]} to ${to}` }));
  ops.push({ op: 'RESET_SIGNALS', args: [], what: 'reset signal dispositions' });
  ops.push({ op: 'CLOEXEC_FROM', args: [Math.max(...moves.map(([, to]) => to)) + 1], what: 'mark other descriptors close-on-exec' });
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
  /** With spec.interactive: a client's EOF closes the container's stdin (docker's StdinOnce). */
  stdinOnce?: boolean;
  /** --timeout: seconds after its command started that the supervisor SIGKILLs it. */
  timeout?: number;
}

/**
 * Starts the container under a new supervisor; resolves once its command
 * runs (or throws why it did not). Every descriptor here is an Fd that
 * closes once, on every path.
 */
export async function startSupervised(req: StartRequest): Promise<Started> {
  const { spec } = req;
  const n = loadNative();
  // A private network's helper lives while the supervisor holds the lifeline (its fd 11), not this nook, which exits now.
  const net = spec.network === 'pasta' || spec.network === 'slirp4netns' ? await import('../sandbox/network/helper') : undefined;
  const lifeline = net?.Lifeline.open(n);
  try {
    const network = lifeline && net ? { lifeline, helper: net, ports: await net.withFreeHostPorts(spec.ports ?? []) } : undefined;
    return await supervise(req, n, network);
  } catch (e) {
    lifeline?.stop();
    throw e;
  } finally {
    lifeline?.release();
  }
}

/** A private network's helper: its lifeline, its module, and the ports it is to publish (free ones chosen). */
type NetworkStart = { lifeline: Lifeline; helper: typeof import('../sandbox/network/helper'); ports: PublishedPort[] };

async function supervise(req: StartRequest, n: Native, network: NetworkStart | undefined): Promise<Started> {
  const { dir, spec, host } = req;
  using fds = new FdGroup();
  // The container's channels: the supervisor clones the container, nook releases it.
  using container = ControlChannels.open(n);
  const [reportR, reportW] = pipe(n, "the supervisor's report pipe").map((fd) => fds.add(fd));
  const [outR, outW] = pipe(n, "the container's stdout").map((fd) => fds.add(fd));
  const [errR, errW] = pipe(n, "the container's stderr").map((fd) => fds.add(fd));
  // -i: the container's stdin, a pipe whose write end the supervisor holds for `attach` (its attach.sock).
  const stdin = spec.interactive ? pipe(n, "the container's stdin").map((fd) => fds.add(fd)) : undefined;

  // The container's plan, with the descriptor numbers it will have in the supervisor.
  const planFds = { syncRead: FD.syncRead, syncWrite: FD.syncWrite, statusParent: FD.status, statusChild: FD.statusChild };
  const ops = buildPlan(spec, planFds, { initImage: spec.init ? initProgram() : undefined });
  fs.writeFileSync(dir.p('plan'), encodePlan(ops, FD.statusChild), { mode: 0o600 });

  const exitCommand = [...selfCommand(), '__exited', dir.id];
  const argv = [supervisorPath(), dir.p('plan'), String(cloneFlags(spec)), req.log.none ? '' : dir.p('container.log'), String(req.log.maxSize), String(req.log.maxFiles), portsArgument(proxiedPorts(spec)), ...(stdin ? [req.stdinOnce ? '--stdin-once' : '--stdin'] : []), ...(req.timeout ? ['--timeout', String(req.timeout)] : []), '--', ...exitCommand];
  const supervisor = await launch(n, {
    flags: SIGNAL.SIGCHLD,
    plan: (ch) =>
      launchOps(
        ch,
        [
          [outW.fd, FD.stdoutW], [errW.fd, FD.stderrW], [container.statusParent.fd, FD.status], [container.statusChild.fd, FD.statusChild],
          [container.syncRead.fd, FD.syncRead], [container.syncWrite.fd, FD.syncWrite], [reportW.fd, FD.report], [outR.fd, FD.stdoutR],
          [errR.fd, FD.stderrR], [req.lockFd, FD.lock],
          ...(network ? [[network.lifeline.write.fd, FD.lifeline] as [number, number]] : []),
          ...(stdin ? ([[stdin[0].fd, FD.stdinR], [stdin[1].fd, FD.stdinW]] as [number, number][]) : []),
        ],
        argv,
      ),
    // Only the supervisor keeps these: the pipes' EOFs must mean what they say. nook keeps the
    // container's sync write end (to release it) and the report pipe's read end.
    childFds: [outW, errW, outR, errR, reportW, container.statusParent, container.statusChild, container.syncRead, ...(stdin ?? [])],
    failure: (lops, f) => new NookError(`starting the container's supervisor: ${lops[f.step]?.what ?? 'a step'}: ${describeErrno(f.errno)}`),
    // The supervisor outlives nook; on a failed start nook reaps it at once.
    reap: 'caller',
  });

  const report = new ReportReader(reportR);
  let first = report.next();
  const portLines: string[] = [];
  for (; first?.startsWith('port'); first = report.next()) portLines.push(first);
  const proxied = proxiedPorts(spec);
  let ports = proxied.length ? boundPorts(proxied, portLines) : undefined;
  const m = first && /^pid (\d+)$/.exec(first);
  if (!m) throw supervisorFailure(first, ops, spec, host);
  let pid = Number(m[1]);
  // A container that joins another's user namespace (--network container:NAME) finds its maps written.
  const steps: ParentStep[] = spec.joinNetns ? [] : [{ name: 'write the id maps', run: (p) => applyIdMapping(n, p, spec.idmap, host) }];
  const cgroup = req.cgroup;
  if (cgroup) steps.push({ name: 'join the cgroup', run: (p) => cgroup.join(p) });
  // A private network's helper sets up while the id maps are written (network/helper.ts).
  if (network) {
    const { start, ready } = network.helper.helperSteps(spec.network, network.ports, network.lifeline);
    steps.unshift(start);
    steps.push(ready);
    ports = network.ports;
  }
  try {
    await runParentSteps(steps, pid);
  } catch (e) {
    // A step before the wait may have failed and taken the child (and its
    // /proc entry) with it: then the supervisor's report is the real story.
    container.syncWrite.close();
    const next = report.next();
    if (next?.startsWith('fail ')) throw supervisorFailure(next, ops, spec, host);
    throw e;
  }
  container.release();
  let second = report.next();
  // The executor forked the container's init after joining another container's namespaces.
  const forked = second && /^forked (\d+)$/.exec(second);
  if (forked) {
    pid = Number(forked[1]);
    second = report.next();
  }
  if (second !== 'ok') throw supervisorFailure(second, ops, spec, host);
  try {
    if (spec.joinNetns) checkJoinedStillThere(spec.joinNetns);
  } catch (e) {
    process.kill(pid, 'SIGKILL');
    throw e;
  }
  return { pid, supervisorPid: supervisor.pid, ports };
}

function supervisorFailure(line: string | undefined, ops: PlanOp[], spec: SandboxSpec, host: HostIdentity): NookError {
  const m = line && /^fail (-?\d+) (\d+) (\d+)$/.exec(line);
  if (!m) return new NookError('the container\'s supervisor ended before the container started', { hint: 'run the container in the foreground (without -d) to see what fails' });
  const [step, errno] = [Number(m[1]), Number(m[3])];
  if (step === -2) return new NookError(`starting the port proxy in the container's network namespace: ${describeErrno(errno)}`);
  if (step < 0) return step === -1 && errno ? cloneFailure(errno) : new NookError(`the supervisor could not start the container (errno ${errno})`);
  const op = ops[step];
  return op ? stepFailure(op, errno, spec, host.userName) : new NookError(`the container failed at unknown step ${step}`);
}

