/**
 * What `create`, `exec` and `run` do alike with the process they start: hand
 * its pty master to the caller's console socket, and pass on the signals
 * nook gets while it waits for the process.
 */
import fs = require('node:fs');
import type { Native } from '../../ffi/native';
import { describeErrno, NookError } from '../errors';

/** Sends the pty master to `socket` (runc's --console-socket, by SCM_RIGHTS) and closes nook's copy. */
export function sendToConsoleSocket(n: Native, socket: string, master: number): void {
  try {
    const r = n.sendFdToSocket(socket, master, '/dev/ptmx');
    if (r < 0) throw new NookError(`cannot send the terminal to the console socket ${socket}: ${describeErrno(-r)}`, { hint: 'the socket must be listening (a unix stream socket)', exitCode: 1 });
  } finally {
    fs.closeSync(master);
  }
}

/** Relays `signals` that nook gets to `pid` until the returned function is called. */
export function relaySignals(pid: number, signals: readonly NodeJS.Signals[]): () => void {
  const relay = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* ended meanwhile */
    }
  };
  for (const s of signals) process.on(s, relay);
  return () => {
    for (const s of signals) process.off(s, relay);
  };
}
