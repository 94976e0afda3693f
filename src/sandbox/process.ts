/**
 * Runs a sandbox: clone() the native executor into new namespaces, write its
 * id maps, let it run the plan, then relay signals (and the terminal, with
 * -t) until the command exits. Returns nook's exit code.
 *
 * The launch itself (channels, parent steps, release, report) is launcher.ts.
 */
import type { PlanOp } from '../../ffi/plan-format';
import { launch, sandboxInit, type ParentStep } from './launcher';
import { processStartTime } from '../util/proc-stat';
import { initProgram, loadNative, type Native } from '../../ffi/native';
import { NookError } from '../errors';
import { applyIdMapping, type HostIdentity } from './idmap';
import { buildPlan, cloneFlags } from './plan';
import { stepFailure } from './diagnose';
import { exitCodeFromWaitStatus, withSignalRelay, type SignalRelay } from './signals';
import { proxiedPorts, type JoinedNetns, type PublishedPort, type SandboxSpec } from './spec';
import type { ForegroundProxy } from './port-proxy';
import { mark } from '../util/timing';
import { randomHex } from '../util/random';
import { createCgroup, type ContainerCgroup } from './cgroups';
import { SIGNAL } from '../../ffi/linux';
import type { OutputLog, Tee } from './output-log';
import type { Fd } from './fd';

export function failedStep(ops: PlanOp[], failure: { step: number; errno: number }, spec: SandboxSpec, host: HostIdentity): NookError {
  const step = ops[failure.step];
  if (!step) return new NookError(`the sandbox failed at unknown step ${failure.step}`);
  return stepFailure(step, failure.errno, spec, host.userName);
}

export interface RunHooks {
  /** The command runs (execve succeeded) as host pid `pid`, with its published ports as bound: a named container records them. */
  onStarted?(pid: number, ports?: PublishedPort[]): void | Promise<void>;
  /** When aborted, the sandbox is killed (SIGKILL to its init takes its whole pid namespace): an interrupted build step. */
  cancel?: AbortSignal;
  /** Keep a log of the command's output (a named foreground run): it still reaches nook's stdout and stderr (output-log.ts). */
  log?: OutputLog;
}

export async function runSandbox(spec: SandboxSpec, host: HostIdentity, hooks: RunHooks = {}): Promise<number> {
  mark('spec built');
  const n = loadNative();
  mark('native loaded');
  return withSignalRelay(spec.tty, (relay) => runWithRelay(n, spec, host, relay, hooks));
}

async function runWithRelay(n: Native, spec: SandboxSpec, host: HostIdentity, relay: SignalRelay, hooks: RunHooks): Promise<number> {
  // Limits asked for: the sandbox gets a cgroup of its own, or nook fails here, before anything started.
  const cg = spec.resources ? createCgroup(spec.resources, { manager: spec.cgroupManager, name: randomHex(6) }) : undefined;
  if (cg) mark('cgroup created');
  try {
    return reportOom(await runInCgroup(n, spec, host, relay, cg, hooks), cg);
  } finally {
    cg?.remove();
  }
}

/** After exit: a kill by the kernel's OOM killer inside the container's cgroup is said, as docker says it. */
function reportOom(code: number, cg: ContainerCgroup | undefined): number {
  if (!cg?.oomKilled()) return code;
  // A command that survived the loss of a child keeps its own status; one that was killed gets docker's 137.
  if (code !== 137) {
    process.stderr.write('nook: a process in the container was killed: out of memory (--memory limit reached)\n');
    return code;
  }
  process.stderr.write('nook: the container was killed: out of memory (--memory limit reached)\n');
  return 137;
}

async function runInCgroup(n: Native, spec: SandboxSpec, host: HostIdentity, relay: SignalRelay, cg: ContainerCgroup | undefined, hooks: RunHooks): Promise<number> {
  // A sandbox that joins another's user namespace (--network container:NAME) finds its maps written.
  const steps: ParentStep[] = spec.joinNetns ? [] : [{ name: 'write the id maps', run: (pid) => applyIdMapping(n, pid, spec.idmap, host) }];
  // Into its cgroup while it still waits for the release byte: nothing it runs escapes the limits.
  if (cg) steps.push({ name: 'join the cgroup', run: (pid) => cg.join(pid) });
  // Ports of a loopback-only sandbox are nook's proxy's, bound before the clone: one in use fails the
  // run with nothing started. A private network's helper (pasta, slirp4netns) serves its own.
  const proxied = proxiedPorts(spec);
  const proxy = proxied.length ? await (await import('./port-proxy')).startForegroundProxy(proxied) : undefined;
  // A private network's helper sets up while the id maps are written (network/helper.ts).
  // Loaded only for the private modes (start-up time of the others).
  const net = spec.network === 'pasta' || spec.network === 'slirp4netns' ? await import('./network/helper') : undefined;
  const ports = proxy?.ports ?? (net ? await net.withFreeHostPorts(spec.ports ?? []) : undefined);
  const lifeline = net?.Lifeline.open(n);
  if (net && lifeline) {
    const { start, ready } = net.helperSteps(spec.network, ports ?? [], lifeline);
    steps.unshift(start);
    steps.push(ready);
  }
  try {
    return await launchAndFollow(n, spec, host, relay, steps, hooks, proxy, () => ports);
  } finally {
    // Whatever way the command ended (or failed to start): no helper outlives it.
    lifeline?.stop();
    await proxy?.stop();
  }
}

async function launchAndFollow(
  n: Native,
  spec: SandboxSpec,
  host: HostIdentity,
  relay: SignalRelay,
  steps: ParentStep[],
  hooks: RunHooks,
  proxy: ForegroundProxy | undefined,
  boundPorts: () => PublishedPort[] | undefined,
): Promise<number> {
  // A logged run without -t writes into two pipes, whose copier is started before the clone (its start-up overlaps the launch).
  let tee: Tee | undefined;
  let runSpec = spec;
  const childFds: Fd[] = [];
  if (hooks.log && !spec.tty) {
    const piped = (await import('./output-log')).teePipes(n, hooks.log);
    tee = piped.tee;
    childFds.push(piped.stdout, piped.stderr);
    runSpec = { ...spec, outputFd: piped.stdout.fd, errorFd: piped.stderr.fd };
  }
  try {
    return await launchAndFollowTee(n, runSpec, host, relay, steps, hooks, proxy, boundPorts, childFds);
  } finally {
    // Every output copied (the command's ends are closed once it is gone, or when the launch failed) before nook goes on.
    await tee?.done;
  }
}

async function launchAndFollowTee(
  n: Native,
  spec: SandboxSpec,
  host: HostIdentity,
  relay: SignalRelay,
  steps: ParentStep[],
  hooks: RunHooks,
  proxy: ForegroundProxy | undefined,
  boundPorts: () => PublishedPort[] | undefined,
  childFds: Fd[],
): Promise<number> {
  const started = await launch(n, {
    flags: cloneFlags(spec),
    plan: (fds) => {
      const ops = buildPlan(spec, fds, { initImage: spec.init ? initProgram() : undefined, preserveFds: spec.preserveFds });
      mark('plan built');
      return ops;
    },
    steps,
    childFds,
    failure: (ops, f) => failedStep(ops, f, spec, host),
  });
  mark('command started');
  // With -t, the pty's output goes to the copier (nook keeps the master for the input and the window size).
  const master = started.ptyMaster?.take();
  const ptyTee = hooks.log && master !== undefined ? (await import('./output-log')).teePty(hooks.log, master) : undefined;
  const init = await sandboxInit(n, started);
  relay.attach(init.handle);
  const kill = () => init.handle.signal(SIGNAL.SIGKILL);
  hooks.cancel?.addEventListener('abort', kill, { once: true });
  try {
    if (hooks.cancel?.aborted) kill();
    try {
      if (spec.joinNetns) checkJoinedStillThere(spec.joinNetns);
      await proxy?.attach(init.pid);
    } catch (e) {
      kill();
      await init.exited;
      throw e;
    }
    await hooks.onStarted?.(init.pid, boundPorts());
    return await followCommand(n, spec, relay, init.exited, master, ptyTee?.done);
  } finally {
    hooks.cancel?.removeEventListener('abort', kill);
  }
}

/**
 * After joining another sandbox's namespaces by its pid: that pid still
 * names the same process (not one that reused it meanwhile, whose
 * namespaces the executor would have joined).
 */
export function checkJoinedStillThere(j: JoinedNetns): void {
  if (j.pidStart !== undefined && processStartTime(j.pid) !== j.pidStart)
    throw new NookError(`container ${j.name} exited while this one was joining its network`, { hint: `start it again (nook start ${j.name}), then run this one` });
}

/** The command runs: relay the terminal (with -t) until it exits, and turn its wait status into nook's exit code. */
export async function followCommand(
  n: Native,
  spec: Pick<SandboxSpec, 'interactive'>,
  relay: SignalRelay,
  exited: Promise<number>,
  ptyMaster: number | undefined,
  /** With -t and a log: the pty's output is copied by another, and this resolves when it is all copied. */
  ptyOutput?: Promise<void>,
): Promise<number> {
  if (ptyMaster === undefined) return exitCodeFromWaitStatus(await exited, relay.killedBy);

  const { startTtySession } = await import('./tty');
  const tty = startTtySession(n, ptyMaster, {
    interactive: spec.interactive,
    output: ptyOutput,
    onTypedSignal: (sig) => relay.deliverIfDropped(sig === 'SIGINT' ? 2 : 3),
  });
  try {
    const [raw] = await Promise.all([exited, tty.closed]);
    return exitCodeFromWaitStatus(raw, relay.killedBy);
  } finally {
    tty.restore();
  }
}
