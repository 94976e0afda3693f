/**
 * The log of a container that nook runs in the foreground, as docker and
 * podman keep one: the command's stdout and stderr are pipes (its pty, with
 * -t) read by a small native process (`nook-supervisor --tee`, in
 * ffi/supervisor.c), which copies each read to nook's own stdout or stderr
 * at once and into the container's log in the format the supervisor writes
 * for a detached container (ffi/supervisor-log.c). No JavaScript is in the
 * data path, and runs without a log (--rm, unnamed, --log-driver none)
 * never load this module.
 */
import { spawn } from 'node:child_process';
import { supervisorPath, type Native } from '../../ffi/native';
import { NookError } from '../errors';
import { pipe, type Fd } from './fd';

export interface OutputLog {
  path: string;
  maxSize: number;
  maxFiles: number;
}

export interface Tee {
  /** Resolves once the copier has read its sources to their end (everything is on the terminal and in the log). */
  done: Promise<void>;
}

/** Without -t: the two pipes the command writes to (its ends, for the plan) and their copier. */
export function teePipes(n: Native, log: OutputLog): { stdout: Fd; stderr: Fd; tee: Tee } {
  const [outR, outW] = pipe(n, "the container's stdout pipe");
  let err: [Fd, Fd];
  try {
    err = pipe(n, "the container's stderr pipe");
  } catch (e) {
    outR.close();
    outW.close();
    throw e;
  }
  const [errR, errW] = err;
  try {
    return { stdout: outW, stderr: errW, tee: startTee('pipes', log, [outR.fd, errR.fd]) };
  } catch (e) {
    outW.close();
    errW.close();
    throw e;
  } finally {
    // The copier has its own copies: the pipes see EOF once the command's ends are closed.
    outR.close();
    errR.close();
  }
}

/** With -t: the pty master's output is the copier's (nook still writes the input and sets the window size). */
export function teePty(log: OutputLog, master: number): Tee {
  return startTee('pty', log, [master]);
}

function startTee(mode: 'pipes' | 'pty', log: OutputLog, sources: number[]): Tee {
  const child = spawn(supervisorPath(), ['--tee', mode, log.path, String(log.maxSize), String(log.maxFiles)], {
    stdio: ['ignore', 'inherit', 'inherit', ...sources],
    env: {},
  });
  let failed: Error | undefined;
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (e) => reject((failed = new NookError(`starting the copier of the container's output: ${e.message}`))));
    child.once('exit', () => resolve());
  });
  if (child.pid === undefined) {
    done.catch(() => undefined);
    throw failed ?? new NookError(`starting the copier of the container's output (${supervisorPath()}) failed`);
  }
  return { done };
}
