/**
 * podman's `unshare`: a host command run as root of a new user namespace
 * with nook's id mapping (root inside is the user, 1.. the subordinate ids),
 * in a private mount namespace, so that files a container's users own on the
 * host (a volume's, a bind's after :U) can be read, chowned and removed with
 * the ids the container sees. Its stdin, stdout and stderr are nook's.
 */
import os = require('node:os');
import { loadNative } from '../../ffi/native';
import type { PlanOp } from '../../ffi/plan-format';
import { CLONE, MS, SIGNAL } from '../../ffi/linux';
import { describeErrno, NookError } from '../errors';
import { findExecutable } from '../util/which';
import { applyIdMapping, computeIdMapping, type HostIdentity } from './idmap';
import { launch } from './launcher';
import { exitCodeFromWaitStatus } from './signals';

/** Runs argv (PATH searched) unshared; resolves with its exit code (128+N when killed by signal N). */
export async function runUnshared(argv: string[], host: HostIdentity): Promise<number> {
  const cmd = argv[0].includes('/') ? argv[0] : findExecutable(argv[0]);
  if (!cmd) throw new NookError(`${argv[0]}: executable file not found in $PATH`, { exitCode: 127 });
  const idmap = computeIdMapping(host, { keepId: false });
  const n = loadNative();
  // podman's markers, which tools that know podman's unshare check.
  const env = Object.entries({ ...process.env, _CONTAINERS_USERNS_CONFIGURED: 'done', _CONTAINERS_ROOTLESS_UID: String(host.uid) }).map(([k, v]) => `${k}=${v}`);
  const { exited, handle } = await launch(n, {
    flags: (CLONE.NEWUSER | CLONE.NEWNS | SIGNAL.SIGCHLD) >>> 0,
    plan: (ch): PlanOp[] => [
      { op: 'CLOSE', args: [ch.syncWrite], what: 'close the parent end of the sync pipe' },
      { op: 'CLOSE', args: [ch.statusParent], what: 'close the parent end of the status socket' },
      { op: 'WAIT_FD', args: [ch.syncRead], what: 'wait for the id maps' },
      { op: 'CLOSE', args: [ch.syncRead], what: 'close the sync pipe' },
      { op: 'MOUNT', args: [null, '/', null, MS.REC | MS.PRIVATE, null], what: 'make the mount namespace private' },
      ...(idmap.setgroups ? [{ op: 'SETGROUPS', args: [0, { numbers: [] }], what: 'drop supplementary groups' } as PlanOp] : []),
      { op: 'SETRESGID', args: [0], what: 'become gid 0' },
      { op: 'SETRESUID', args: [0], what: 'become uid 0' },
      ...[0, 1, 2].flatMap((fd): PlanOp[] => [
        { op: 'CLEAR_NONBLOCK', args: [fd], what: `make fd ${fd} blocking` },
        { op: 'DUP2', args: [fd, fd], what: `make fd ${fd} inheritable` },
      ]),
      { op: 'CLOEXEC_FROM', args: [3], what: 'mark other descriptors close-on-exec' },
      { op: 'EXEC', args: [cmd, { strings: argv }, { strings: env }, ''], what: `execute ${cmd}` },
    ],
    steps: [{ name: 'write the id maps', run: (p) => applyIdMapping(n, p, idmap, host) }],
    failure: (ops, f) => {
      const op = ops[f.step];
      if (op?.op === 'EXEC') return new NookError(`${argv[0]}: cannot execute: ${describeErrno(f.errno)}`, { exitCode: 126 });
      return new NookError(`nook unshare: ${op?.what ?? 'unknown step'}: ${describeErrno(f.errno)}`, { exitCode: 125 });
    },
  });
  // As system(3): the terminal's ^C and ^\ reach the command (same process group), nook waits on
  // for it rather than dying under an interactive shell; a SIGTERM or SIGHUP sent to nook is passed on.
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => void handle?.signal(os.constants.signals[sig]);
  const handlers: [NodeJS.Signals, (sig: NodeJS.Signals) => void][] = [['SIGINT', ignore], ['SIGQUIT', ignore], ['SIGTERM', forward], ['SIGHUP', forward]];
  for (const [sig, fn] of handlers) process.on(sig, fn);
  try {
    return exitCodeFromWaitStatus(await exited!, null);
  } finally {
    for (const [sig, fn] of handlers) process.off(sig, fn);
    handle?.close();
  }
}
