/**
 * Runs nook itself as root of a new user namespace with the user's full id
 * mapping, for work that must see ids as the container does: extracting
 * layers (files get their real owners) and deleting what such owners hold.
 * Node cannot unshare a user namespace (it is multithreaded), so the native
 * executor clones into one, waits for the id maps, and execs a fresh nook.
 *
 * The helper gets two pipes: its stdin carries requests, its fd 3 carries
 * replies (JSON lines). Its stdout and stderr are nook's own.
 */
import net = require('node:net');
import type { PlanOp } from '../../ffi/plan-format';
import { loadNative } from '../../ffi/native';
import { describeErrno, NookError } from '../errors';
import { FdGroup, launch, pipe } from './launcher';
import { applyIdMapping, type HostIdentity, type IdMapping } from './idmap';
import { CLONE, MS, PR, SIGNAL } from '../../ffi/linux';
import { exitCodeFromWaitStatus } from './signals';


/** The command line that starts this same nook: the executable, plus the script outside the single executable. */
export function selfCommand(): string[] {
  let sea = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sea = require('node:sea').isSea();
  } catch {
    /* older Node: not a single executable */
  }
  // NOOK_SELF: tests that call nook's functions in-process name the nook to start.
  const self = process.env.NOOK_SELF;
  if (self) return self.endsWith('.js') ? [process.execPath, self] : [self];
  return sea ? [process.execPath] : [process.execPath, process.argv[1]];
}

export interface UsernsHelper {
  pid: number;
  /** Write requests here (the helper's stdin). */
  requests: net.Socket;
  /** Replies from the helper's fd 3. */
  replies: net.Socket;
  /** Resolves with the helper's exit code. */
  exited: Promise<number>;
}

/**
 * Starts `nook ARGS...` as root of a new user namespace mapped by `idmap`.
 * `mountNs`: in a mount namespace of its own too, made private first so that
 * nothing it mounts (the build helper's overlays) propagates to the host.
 * `passFd`: a descriptor of nook's the helper gets as its fd 4 (the cp
 * helper's way into a running container's root, which only nook, owner of
 * the container's user namespace, may open).
 */
export async function startUsernsHelper(args: string[], idmap: IdMapping, host: HostIdentity, opts: { mountNs?: boolean; passFd?: number } = {}): Promise<UsernsHelper> {
  const n = loadNative();
  // Below 5 it could be one that the plan's own dup2s replace first.
  if (opts.passFd !== undefined && opts.passFd < 5) throw new NookError(`internal: descriptor ${opts.passFd} cannot be passed to a helper`);
  using fds = new FdGroup();
  const [reqRead, reqWrite] = pipe(n, "the helper's request pipe").map((fd) => fds.add(fd));
  const [repRead, repWrite] = pipe(n, "the helper's reply pipe").map((fd) => fds.add(fd));
  const argv = [...selfCommand(), ...args];
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  const { pid } = await launch(n, {
    flags: (CLONE.NEWUSER | (opts.mountNs ? CLONE.NEWNS : 0) | SIGNAL.SIGCHLD) >>> 0,
    plan: (ch): PlanOp[] => [
      { op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal' },
      { op: 'CLOSE', args: [ch.syncWrite], what: 'close the parent end of the sync pipe' },
      { op: 'CLOSE', args: [ch.statusParent], what: 'close the parent end of the status socket' },
      { op: 'CLOSE', args: [reqWrite.fd], what: 'close the parent end of the request pipe' },
      { op: 'CLOSE', args: [repRead.fd], what: 'close the parent end of the reply pipe' },
      { op: 'WAIT_FD', args: [ch.syncRead], what: 'wait for the id maps' },
      { op: 'CLOSE', args: [ch.syncRead], what: 'close the sync pipe' },
      ...(opts.mountNs
        ? [{ op: 'MOUNT', args: [null, '/', null, MS.REC | MS.PRIVATE, null], what: 'make the mount namespace private' } as PlanOp]
        : []),
      ...(idmap.setgroups ? [{ op: 'SETGROUPS', args: [0, { numbers: [] }], what: 'drop supplementary groups' } as PlanOp] : []),
      { op: 'SETRESGID', args: [0], what: 'become gid 0' },
      { op: 'SETRESUID', args: [0], what: 'become uid 0' },
      { op: 'PRCTL', args: [PR.SET_PDEATHSIG, SIGNAL.SIGKILL, 0, 0, 0], what: 'set the parent-death signal again' },
      { op: 'DUP2', args: [reqRead.fd, 0], what: 'attach the request pipe to stdin' },
      { op: 'DUP2', args: [repWrite.fd, 3], what: 'attach the reply pipe to fd 3' },
      { op: 'CLEAR_NONBLOCK', args: [1], what: 'make fd 1 blocking' },
      { op: 'CLEAR_NONBLOCK', args: [2], what: 'make fd 2 blocking' },
      { op: 'DUP2', args: [1, 1], what: 'make fd 1 inheritable' },
      { op: 'DUP2', args: [2, 2], what: 'make fd 2 inheritable' },
      ...(opts.passFd !== undefined ? [{ op: 'DUP2', args: [opts.passFd, 4], what: 'pass the descriptor as fd 4' } as PlanOp] : []),
      { op: 'CLOEXEC_FROM', args: [opts.passFd !== undefined ? 5 : 4], what: 'mark other descriptors close-on-exec' },
      { op: 'EXEC', args: [argv[0], { strings: argv }, { strings: env }, ''], what: `execute ${argv[0]}` },
    ],
    childFds: [reqRead, repWrite],
    steps: [{ name: 'write the id maps', run: (p) => applyIdMapping(n, p, idmap, host) }],
    failure: (ops, f) =>
      new NookError(`starting nook's helper in a user namespace: ${ops[f.step]?.what ?? 'unknown step'}: ${describeErrno(f.errno)}`),
    // No worker thread waiting in waitpid() for each helper: nook reaps it when its replies end.
    reap: 'caller',
  });
  const replies = new net.Socket({ fd: repRead.take(), readable: true, writable: false });
  return {
    pid,
    // Sockets over the pipes, not fs streams: those read and write in libuv's four worker threads,
    // and a few helpers blocked in read() would leave none for anything else (nook hung that way).
    requests: new net.Socket({ fd: reqWrite.take(), readable: false, writable: true }),
    replies,
    // The replies end when the helper exits (it holds fd 3 until then): reap it then, without a
    // worker thread waiting in waitpid() for each helper.
    exited: new Promise((resolve) => replies.once('close', () => resolve(exitCodeFromWaitStatus(n.waitChild(pid), null)))),
  };
}
