/**
 * Turns a SandboxSpec into the list of steps the native executor runs in the
 * cloned child. Pure: no I/O beyond what mounts.ts reads to resolve paths, so
 * unit tests can check a plan step by step.
 */
import fs = require('node:fs');
import type { PlanOp } from '../../ffi/plan-format';
import { containerMounts } from './default-mounts';
import { compileMounts, resolveOp, type MountEntry } from './mounts';
import { ownNetns, type SandboxSpec } from './spec';
import { CLONE, O, PR, SIGNAL } from '../../ffi/linux';

export function cloneFlags(spec: SandboxSpec): number {
  // Joining another sandbox's namespaces: the executor makes its own ones there (joinPreamble).
  if (spec.joinNetns) return SIGNAL.SIGCHLD >>> 0;
  let flags = CLONE.NEWUSER | CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC;
  // With a cgroup of its own, the child unshares its cgroup namespace once it has been moved
  // there (see buildPlan), so that its cgroup is the namespace's root.
  if (!spec.resources) flags |= CLONE.NEWCGROUP;
  if (ownNetns(spec.network)) flags |= CLONE.NEWNET;
  return (flags | SIGNAL.SIGCHLD) >>> 0;
}

/** The value of PATH in an environment list, or docker's default. */
export function searchPath(env: string[]): string {
  const entry = env.find((e) => e.startsWith('PATH='));
  return entry ? entry.slice(5) : DEFAULT_PATH;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PlanFds {
  /** Read end of the pipe the parent writes one byte to once the id maps are in place. */
  syncRead: number;
  /** Write end of that pipe: the child closes its copy so it sees EOF if the parent dies. */
  syncWrite: number;
  /** The parent's end of the status socket, closed in the child. */
  statusParent: number;
  /** The child's end, where it reports; it hangs up when the parent dies. */
  statusChild: number;
}

export interface PlanOptions {
  /** The --init program (ffi/native.ts initProgram()), needed with spec.init. */
  initImage?: Buffer;
  /** The mount list: docker's layout for the spec (default-mounts.ts) unless given (an OCI bundle's). */
  mounts?: readonly MountEntry[];
  /**
   * The sandbox dies with the process that cloned it (nook, or the supervisor), and gives up if that
   * process is gone before the command starts. Default true; a runtime whose `create` returns while
   * the container waits to be started turns it off.
   */
  tiedToParent?: boolean;
  /** Descriptors 3..3+N-1 reach the command (an OCI runtime's --preserve-fds, socket activation); none by default. */
  preserveFds?: number;
}

export function buildPlan(spec: SandboxSpec, fds: PlanFds, opts: PlanOptions = {}): PlanOp[] {
  const tied = opts.tiedToParent ?? true;
  const mounts = compileMounts(spec, opts.mounts ?? containerMounts(spec));
  const ops: PlanOp[] = spec.joinNetns
    ? [...joinPreamble(spec, fds, tied), ...mounts.beforeIdMaps, ...mounts.afterIdMaps]
    : [
    // If nook dies, so does the sandbox (and with it its whole pid namespace).
    ...(tied ? [{ op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal' } as PlanOp] : []),
    { op: 'CLOSE', args: [fds.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [fds.statusParent], what: 'close the parent end of the status socket' },
    ...mounts.beforeIdMaps,
    { op: 'WAIT_FD', args: [fds.syncRead], what: 'wait for the id maps' },
    { op: 'CLOSE', args: [fds.syncRead], what: 'close the sync pipe' },
    // Until it execs the command, this process is a copy of nook (its memory, its descriptors):
    // nothing may ptrace it or open its /proc files. Not before the id maps are written (that
    // takes nook writing to its /proc files); execve() makes the command dumpable again.
    { op: 'PRCTL', args: [PR.SET_DUMPABLE, 0, 0, 0, 0], what: 'make the process non-dumpable' },
    // nook has moved us into our cgroup by now (before writing the sync byte).
    ...(spec.resources ? [{ op: 'UNSHARE', args: [CLONE.NEWCGROUP], what: 'enter a cgroup namespace of its own' } as PlanOp] : []),
    ...mounts.afterIdMaps,
  ];
  ops.push({ op: 'SETHOSTNAME', args: [spec.hostname], what: `set the hostname to ${spec.hostname}` });
  if (ownNetns(spec.network)) ops.push({ op: 'IFUP', args: ['lo'], what: 'bring up the loopback interface' });

  ops.push(...processOps(spec, fds.statusChild, { createCwd: true, initImage: opts.initImage, tiedToParent: tied, preserveFds: opts.preserveFds }));
  return ops;
}

/**
 * The start of a sandbox that shares another's network (--network
 * container:NAME). An unprivileged process may join a network namespace
 * only from inside the user namespace that owns it, and setns() into a user
 * namespace takes a single-threaded caller: so the executor, cloned with no
 * new namespaces, waits to be moved into its cgroup, joins the other
 * sandbox's user and network namespaces (opened by pid here, in the child,
 * so no descriptor has to travel through a supervisor), makes its own mount,
 * uts, ipc, pid and cgroup namespaces there, and forks: unshare(CLONE_NEWPID)
 * places only children in the new pid namespace. The fork's child, nook's
 * (or the supervisor's) own by CLONE_PARENT, becomes the sandbox's init and
 * runs the rest of the plan; no id maps are written (that user namespace
 * has its maps).
 */
function joinPreamble(spec: SandboxSpec, fds: PlanFds, tied: boolean): PlanOp[] {
  const j = spec.joinNetns!;
  // Two numbers above every descriptor the plan uses: OPEN puts the namespace files there.
  const userFd = Math.max(fds.syncRead, fds.syncWrite, fds.statusParent, fds.statusChild, spec.outputFd ?? 2, spec.errorFd ?? 2, 2) + 1;
  const netFd = userFd + 1;
  const deathSignal: PlanOp = { op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal' };
  return [
    ...(tied ? [deathSignal] : []),
    { op: 'CLOSE', args: [fds.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [fds.statusParent], what: 'close the parent end of the status socket' },
    { op: 'WAIT_FD', args: [fds.syncRead], what: 'wait to be moved into its cgroup' },
    { op: 'CLOSE', args: [fds.syncRead], what: 'close the sync pipe' },
    // A copy of nook is about to enter another container's user namespace: nothing there may ptrace it.
    { op: 'PRCTL', args: [PR.SET_DUMPABLE, 0, 0, 0, 0], what: 'make the process non-dumpable' },
    { op: 'OPEN', args: [`/proc/${j.pid}/ns/user`, O.RDONLY, 0, userFd], what: `open the user namespace of container ${j.name}` },
    { op: 'OPEN', args: [`/proc/${j.pid}/ns/net`, O.RDONLY, 0, netFd], what: `open the network namespace of container ${j.name}` },
    { op: 'SETNS', args: [userFd, CLONE.NEWUSER], what: `join the user namespace of container ${j.name}` },
    { op: 'SETNS', args: [netFd, CLONE.NEWNET], what: `join the network namespace of container ${j.name}` },
    { op: 'CLOSE', args: [userFd], what: 'close the user namespace file' },
    { op: 'CLOSE', args: [netFd], what: 'close the network namespace file' },
    {
      op: 'UNSHARE',
      args: [CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWPID | CLONE.NEWCGROUP],
      what: 'make its own mount, uts, ipc, pid and cgroup namespaces',
    },
    { op: 'FORK', args: [], what: 'start the init of its pid namespace' },
    // fork() cleared it; the new process's parent is the one that cloned the executor (CLONE_PARENT).
    ...(tied ? [{ ...deathSignal, what: 'set the parent-death signal again' }] : []),
  ];
}

/** What a process runs with: the part of a sandbox that `nook exec` shares with `nook run`. */
export type ProcessSpec = Pick<
  SandboxSpec,
  'argv' | 'env' | 'cwd' | 'user' | 'tty' | 'ttySize' | 'interactive' | 'outputFd' | 'errorFd' | 'ulimits' | 'security' | 'idmap' | 'init'
>;

/**
 * From stdio to execve(): working directory, limits, capabilities, ids,
 * seccomp. `statusChild` is the status socket, whose hang-up says that nook died.
 */
export function processOps(
  spec: ProcessSpec,
  statusChild: number,
  opts: { createCwd: boolean; initImage?: Buffer; tiedToParent?: boolean; preserveFds?: number },
): PlanOp[] {
  const ops: PlanOp[] = [...stdioOps(spec)];
  // --init: the init program goes into a sealed memfd now, before any seccomp filter (a profile
  // may refuse memfd_create); INIT below runs it as PID 1 once it has forked the command.
  if (spec.init) {
    if (!opts.initImage) throw new Error('--init: the plan needs the init program');
    ops.push({ op: 'INIT_IMAGE', args: [{ bytes: opts.initImage }, opts.initImage.length], what: 'load the init program into a sealed memfd' });
  }
  // A container's working directory is made when missing (as docker does); exec's must exist.
  // Resolved inside the container's / (now the process's root), with no magic links followed.
  ops.push({ op: 'SET_ROOT', args: ['/'], what: "open the container's /" });
  ops.push(
    opts.createCwd
      ? resolveOp(spec.cwd, 'CREATE_DIR', `create the working directory ${spec.cwd}`)
      : resolveOp(spec.cwd, 'EXISTING', `find the working directory ${spec.cwd}`),
  );
  ops.push({ op: 'CHDIR_AT', args: [], what: `change to the working directory ${spec.cwd}` });

  for (const l of spec.ulimits)
    ops.push({ op: 'SETRLIMIT', args: [l.resource, l.soft, l.hard], what: `set the ${l.name} limit to ${fmtLimit(l.soft)}:${fmtLimit(l.hard)}` });

  const { uid, gid, groups } = spec.user;
  const sec = spec.security;
  // The bounding set limits what any later execve() can give; ambient capabilities would survive
  // one for a non-root user. Both are set while we still have every capability (CAP_SETPCAP).
  ops.push({ op: 'CAP_BOUND', args: [sec.caps], what: 'drop capabilities from the bounding set' });
  ops.push({ op: 'PRCTL', args: [PR.CAP_AMBIENT, PR.CAP_AMBIENT_CLEAR_ALL, 0, 0, 0], what: 'clear the ambient capabilities' });
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which a switch to another
  // user takes away: then the filter goes on now, and also covers the steps below (as runc does).
  if (sec.seccomp && !sec.noNewPrivs) ops.push(seccompOp(sec.seccomp));
  if (spec.idmap.setgroups && !spec.user.keepGroups)
    ops.push({ op: 'SETGROUPS', args: [groups.length, { numbers: groups }], what: `set supplementary groups [${groups.join(',')}]` });
  ops.push({ op: 'SETRESGID', args: [gid], what: `switch to gid ${gid}` });
  ops.push({ op: 'SETRESUID', args: [uid], what: `switch to uid ${uid}` });
  // Changing ids clears the parent-death signal: set it again, and catch a parent that died meanwhile.
  if (opts.tiedToParent ?? true) {
    ops.push({ op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal again' });
    ops.push({ op: 'EXIT_IF_HUP', args: [statusChild], what: 'check that nook is still there' });
  }

  ops.push({ op: 'RESET_SIGNALS', args: [], what: 'reset signal dispositions' });
  // Nothing of nook's (event loop fds, the status socket) may reach the command.
  ops.push({ op: 'CLOEXEC_FROM', args: [3 + (opts.preserveFds ?? 0)], what: 'mark inherited descriptors close-on-exec' });
  // Node marks the descriptors it inherited close-on-exec: the preserved ones are made inheritable again.
  for (let fd = 3; fd < 3 + (opts.preserveFds ?? 0); fd++) ops.push({ op: 'DUP2', args: [fd, fd], what: `make fd ${fd} inheritable` });
  ops.push({ op: 'UMASK', args: [0o022], what: 'set the umask' });
  ops.push(...securityOps(spec));
  // --init: this process forks the command and becomes PID 1 by executing the init program, with
  // the container's environment only (nothing of nook's). With -t the command gets the pty's
  // foreground (init's controlling terminal); without, init has no controlling terminal.
  if (spec.init) ops.push({ op: 'INIT', args: [{ strings: spec.env }, spec.tty ? 1 : 0], what: 'start the init process' });
  ops.push({
    op: 'EXEC',
    args: [spec.argv[0], { strings: spec.argv }, { strings: spec.env }, searchPath(spec.env)],
    what: `execute ${spec.argv[0]}`,
  });
  return ops;
}

const fmtLimit = (n: number) => (n < 0 ? 'unlimited' : String(n));

/**
 * The last steps before execve(): no_new_privs, the seccomp filter, then the
 * capability sets. The filter applies to everything after it, so it comes as
 * late as it can (without no_new_privs it came before the id switch).
 */
function securityOps(spec: ProcessSpec): PlanOp[] {
  const sec = spec.security;
  const ops: PlanOp[] = [];
  if (sec.noNewPrivs) ops.push({ op: 'PRCTL', args: [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0], what: 'set no_new_privs' });
  if (sec.seccomp && sec.noNewPrivs) ops.push(seccompOp(sec.seccomp));
  // Root inside keeps the set; for another user, execve() grants nothing anyway (as in docker).
  const caps = spec.user.uid === 0 ? sec.caps & knownCapsMask() : 0n;
  ops.push({ op: 'CAPSET', args: [caps, caps, 0n], what: 'set the capabilities' });
  return ops;
}

function seccompOp(filter: Buffer): PlanOp {
  return { op: 'SECCOMP', args: [{ bytes: filter }, filter.length / 8, 0], what: 'install the seccomp filter' };
}

let knownCaps: bigint | undefined;

/** Capabilities this kernel has: capset() refuses bits past /proc/sys/kernel/cap_last_cap. */
function knownCapsMask(): bigint {
  if (knownCaps === undefined) {
    let last = 40;
    try {
      last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    } catch {
      /* keep 40 (CAP_CHECKPOINT_RESTORE, Linux 5.9) */
    }
    knownCaps = (1n << BigInt(last + 1)) - 1n;
  }
  return knownCaps;
}

/**
 * The command's stdin/stdout/stderr. Without a tty they are nook's own,
 * passed straight through (no copying), but made blocking and inheritable
 * again: Node may have left them O_NONBLOCK or close-on-exec.
 *
 * In every mode the command gets a session of its own. nook's may have the
 * user's terminal as its controlling terminal, and a process of that session
 * could type into it (TIOCSTI: keystrokes the user's shell runs after nook
 * exits), take its foreground or be stopped by it; and a process of nook's
 * process group could kill(0, ...) the other processes of the user's shell
 * job. From another session the terminal is only a file: -i still reads it
 * (no SIGTTIN outside its session), and typed Ctrl-C goes to nook's group
 * alone, whence nook relays it once. With -t the PTY step does the setsid().
 */
function stdioOps(spec: ProcessSpec): PlanOp[] {
  const ops: PlanOp[] = [];
  if (spec.tty) {
    ops.push({
      op: 'PTY',
      // The slave keeps devpts's group (tty, gid 5, when mapped); its owner becomes the user.
      args: ['/dev/ptmx', spec.user.uid, -1, spec.ttySize?.rows ?? 0, spec.ttySize?.cols ?? 0],
      what: 'allocate a pseudo-terminal from /dev/ptmx',
    });
    return ops;
  }
  if (!spec.interactive) ops.push({ op: 'OPEN', args: ['/dev/null', O.RDONLY, 0, 0], what: 'attach stdin to /dev/null' });
  ops.push({ op: 'SETSID', args: [], what: "start a session of its own, away from the user's terminal" });
  if (spec.outputFd !== undefined)
    for (const fd of [1, 2]) ops.push({ op: 'DUP2', args: [fd === 2 ? (spec.errorFd ?? spec.outputFd) : spec.outputFd, fd], what: `send fd ${fd} to the output given` });
  for (const fd of [0, 1, 2]) {
    ops.push({ op: 'CLEAR_NONBLOCK', args: [fd], what: `make fd ${fd} blocking` });
    ops.push({ op: 'DUP2', args: [fd, fd], what: `make fd ${fd} inheritable` });
  }
  return ops;
}
