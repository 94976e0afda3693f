/**
 * `nook attach CONTAINER`: the output of a running detached container from
 * now on, until it exits, then its exit status, as docker attach. A container
 * created with -i (without -t) reads its stdin from a pipe its supervisor
 * holds (ffi/supervisor.c): attach streams nook's stdin into the supervisor's
 * attach.sock, one client at a time. Others' stdin is /dev/null (with -t, the
 * pty's input is not attached): nook says so rather than read keys that would
 * go nowhere. Ctrl-C (SIGINT) and SIGTERM are passed on to the container, as
 * docker's --sig-proxy does.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { signalContainer, untilReleased } from '../container/control';
import { keepsLog, printLogs } from '../container/logs';
import { liveState } from '../container/status';
import { ContainerStore, parseExitRecord, type ContainerDir } from '../container/state';
import { decodeSpec } from '../container/spec-codec';
import { asStatusOne, parseCommand } from './container-refs';

export const NO_STDIN_NOTE =
  "nook: note: input is not attached: the container was not created with -i, or has a terminal (-t), whose input nook does not attach; output only, Ctrl-C is passed on as SIGINT\n";

/** Whether the container's supervisor holds its stdin (created with -i, without -t) and listens for a client. */
export function takesInput(dir: ContainerDir): boolean {
  try {
    return fs.statSync(dir.p('attach.sock')).isSocket();
  } catch {
    return false;
  }
}

/**
 * Streams nook's stdin to the container's (its supervisor's attach.sock),
 * when it has one; nook's EOF ends the stream (the supervisor then closes the
 * container's stdin if docker's StdinOnce says so). The socket's path may be
 * longer than a unix address holds: it is reached through a descriptor of
 * the container's directory.
 */
async function attachStdin(dir: ContainerDir): Promise<void> {
  if (!takesInput(dir)) return;
  const net = require('node:net') as typeof import('node:net');
  const dirFd = fs.openSync(dir.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  await new Promise<void>((resolve) => {
    const sock = net.connect({ path: `/proc/self/fd/${dirFd}/attach.sock` });
    const done = () => {
      try {
        fs.closeSync(dirFd);
      } catch {
        // closed already
      }
      resolve();
    };
    sock.on('error', () => {
      // Refused (a supervisor that went away) or reset (the container closed its stdin): output only.
      process.stdin.unpipe(sock);
      done();
    });
    sock.on('connect', () => {
      process.stdin.pipe(sock);
      done();
    });
  });
}

/**
 * Prints the container's output from now on until it exits, and returns its
 * exit status. `start` runs once following has begun (so nothing written in
 * between is missed): `nook start -a` starts the container there.
 */
export async function attachOutput(
  store: ContainerStore,
  dir: ContainerDir,
  opts: { start?: () => Promise<unknown>; sigProxy: boolean; streams?: { stdout: boolean; stderr: boolean }; stdin?: boolean },
): Promise<number> {
  // The exit record, opened first: read through this descriptor, it holds the status even when --rm removed the container.
  const exitFd = fs.openSync(dir.p('exitcode'), 'r');
  let finished: () => void = () => {};
  const until = new Promise<void>((resolve) => (finished = resolve));
  const proxied: [NodeJS.Signals, number][] = opts.sigProxy ? [['SIGINT', 2], ['SIGTERM', 15]] : [];
  const handlers = proxied.map(([name, num]) => {
    const h = () => void signalContainer(store, dir, num, { stopping: true }).catch(() => {});
    process.on(name, h);
    return [name, h] as const;
  });
  try {
    // Following has read to the end of the log before printLogs first awaits: what comes after is this run's.
    const printing = printLogs(dir.dir, { tail: 0, timestamps: false, follow: true, until, streams: opts.streams });
    try {
      await opts.start?.();
    } finally {
      void untilReleased(dir).then(() => finished());
    }
    if (opts.stdin) await attachStdin(dir);
    await printing;
    const buf = Buffer.alloc(128);
    const n = fs.readSync(exitFd, buf, 0, buf.length, 0);
    return parseExitRecord(buf.toString('utf8', 0, n))?.code ?? liveState(dir).exitCode ?? 137;
  } finally {
    for (const [name, h] of handlers) process.off(name, h);
    fs.closeSync(exitFd);
  }
}

/** Whether the container was made with -t (its record says; an unreadable record counts as no). */
function hasTty(dir: ContainerDir): boolean {
  try {
    return decodeSpec(dir.config().spec, 'container').tty;
  } catch {
    return false;
  }
}

export async function attachCommand(argv: string[]): Promise<number> {
  const p = parseCommand(
    argv,
    [
      { name: 'no-stdin', type: 'boolean', help: 'do not attach stdin' },
      { name: 'sig-proxy', type: 'boolean', tristate: true, help: 'pass SIGINT and SIGTERM on to the container (default true)' },
    ],
    'attach',
    '[FLAGS] CONTAINER',
    "Shows a running container's output from now on until it exits, and exits\nwith its status. Input is attached to a container created with -i (not -t):\nyour EOF closes its stdin if it was made by create -i (docker's StdinOnce),\nnot if by run -d -i.",
  );
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new NookError('nook attach takes exactly one container', { exitCode: 1, hint: 'e.g. nook attach web' });
  const ref = p.positionals[0];
  const store = ContainerStore.open();
  let dir: ContainerDir;
  try {
    dir = store.resolve(ref);
  } catch (e) {
    throw e instanceof NookError ? asStatusOne(e) : e;
  }
  const s = liveState(dir);
  if (s.display !== 'running' && s.display !== 'restarting')
    throw new NookError('You cannot attach to a stopped container, start it first', { exitCode: 1, hint: `nook start -a ${ref}` });
  // A foreground run's output is followed from its log, as a detached one's; one without a log can't be.
  if (!dir.config().detached && !keepsLog(dir))
    throw new NookError(`container ${ref} runs in the foreground: its output goes to the terminal of the nook that runs it`, { exitCode: 1 });
  const stdin = !p.flags['no-stdin'];
  if (stdin && !takesInput(dir) && (hasTty(dir) || process.stdin.isTTY)) fs.writeSync(2, NO_STDIN_NOTE);
  return attachOutput(store, dir, { sigProxy: p.flags['sig-proxy'] !== false, stdin });
}
