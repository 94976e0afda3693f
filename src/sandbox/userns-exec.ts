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
import fs = require('node:fs');
import net = require('node:net');
import { encodePlan, type PlanOp } from '../../ffi/plan-format';
import { loadNative } from '../../ffi/native';
import { NookError } from '../errors';
import { closeQuietly, controlChannels, readChildReport } from './child';
import { cloneFailure } from './diagnose';
import { applyIdMapping, type HostIdentity, type IdMapping } from './idmap';
import { CLONE, SIGCHLD } from './plan';
import { exitCodeFromWaitStatus } from './signals';

const O_CLOEXEC = 0x80000;
const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;

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

function pipe(n: ReturnType<typeof loadNative>): [number, number] {
  const fds = new Int32Array(2);
  if (n.pipe2(fds, O_CLOEXEC) < 0) throw new NookError(`creating a pipe: errno ${n.errno()}`);
  return [fds[0], fds[1]];
}

/** Starts `nook ARGS...` as root of a new user namespace mapped by `idmap`. */
export function startUsernsHelper(args: string[], idmap: IdMapping, host: HostIdentity): UsernsHelper {
  const n = loadNative();
  const ch = controlChannels(n);
  const [reqRead, reqWrite] = pipe(n);
  const [repRead, repWrite] = pipe(n);
  const argv = [...selfCommand(), ...args];
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  const ops: PlanOp[] = [
    { op: 'PRCTL', args: [PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0], what: 'set the parent-death signal' },
    { op: 'CLOSE', args: [ch.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [ch.statusParent], what: 'close the parent end of the status socket' },
    { op: 'CLOSE', args: [reqWrite], what: 'close the parent end of the request pipe' },
    { op: 'CLOSE', args: [repRead], what: 'close the parent end of the reply pipe' },
    { op: 'WAIT_FD', args: [ch.syncRead], what: 'wait for the id maps' },
    { op: 'CLOSE', args: [ch.syncRead], what: 'close the sync pipe' },
    ...(idmap.setgroups ? [{ op: 'SETGROUPS', args: [0, { numbers: [] }], what: 'drop supplementary groups' } as PlanOp] : []),
    { op: 'SETRESGID', args: [0], what: 'become gid 0' },
    { op: 'SETRESUID', args: [0], what: 'become uid 0' },
    { op: 'PRCTL', args: [PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0], what: 'set the parent-death signal again' },
    { op: 'DUP2', args: [reqRead, 0], what: 'attach the request pipe to stdin' },
    { op: 'DUP2', args: [repWrite, 3], what: 'attach the reply pipe to fd 3' },
    { op: 'CLEAR_NONBLOCK', args: [1], what: 'make fd 1 blocking' },
    { op: 'CLEAR_NONBLOCK', args: [2], what: 'make fd 2 blocking' },
    { op: 'DUP2', args: [1, 1], what: 'make fd 1 inheritable' },
    { op: 'DUP2', args: [2, 2], what: 'make fd 2 inheritable' },
    { op: 'CLOEXEC_FROM', args: [4], what: 'mark other descriptors close-on-exec' },
    { op: 'EXEC', args: [argv[0], { strings: argv }, { strings: env }, ''], what: `execute ${argv[0]}` },
  ];
  const pid = n.clone(n.execPlanAddress, n.childStackTop, (CLONE.NEWUSER | SIGCHLD) >>> 0, encodePlan(ops, ch.statusChild));
  const cloneErrno = n.errno();
  [ch.statusChild, ch.syncRead, reqRead, repWrite].forEach(closeQuietly);
  if (pid < 0) {
    [ch.statusParent, ch.syncWrite, reqWrite, repRead].forEach(closeQuietly);
    throw cloneFailure(cloneErrno);
  }
  try {
    applyIdMapping(n, pid, idmap, host);
    fs.writeSync(ch.syncWrite, 'g');
  } catch (e) {
    // The child sees EOF on the sync pipe and exits: reap it.
    [ch.syncWrite, ch.statusParent, reqWrite, repRead].forEach(closeQuietly);
    n.waitChild(pid);
    throw e;
  }
  closeQuietly(ch.syncWrite);
  const report = readChildReport(n, ch.statusParent);
  closeQuietly(ch.statusParent);
  if (report.failure) {
    [reqWrite, repRead].forEach(closeQuietly);
    n.waitChild(pid);
    const step = ops[report.failure.step];
    throw new NookError(`starting nook's helper in a user namespace: ${step?.what ?? 'unknown step'} failed (errno ${report.failure.errno})`);
  }
  const replies = new net.Socket({ fd: repRead, readable: true, writable: false });
  return {
    pid,
    // Sockets over the pipes, not fs streams: those read and write in libuv's four worker threads,
    // and a few helpers blocked in read() would leave none for anything else (nook hung that way).
    requests: new net.Socket({ fd: reqWrite, readable: false, writable: true }),
    replies,
    // The replies end when the helper exits (it holds fd 3 until then): reap it then, without a
    // worker thread waiting in waitpid() for each helper.
    exited: new Promise((resolve) => replies.once('close', () => resolve(exitCodeFromWaitStatus(n.waitChild(pid), null)))),
  };
}
