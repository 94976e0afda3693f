/**
 * Signals for the sandboxed command, which is PID 1 of its pid namespace.
 *
 * The kernel drops a signal sent to a namespace's init when init has no
 * handler for it, which is why Ctrl-C does nothing to many commands under
 * docker or podman. nook reads the command's caught and ignored signal masks
 * from /proc: a signal it handles or ignores is delivered as is; one whose
 * default action would terminate it is turned into SIGKILL, and nook still
 * exits 128+N for the original signal N, as the bare command would.
 */
import fs = require('node:fs');
import os = require('node:os');
import type { ProcessHandle } from './pidfd';

const SIG = os.constants.signals;

/** The signals nook relays to the command. */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** Signals whose default action does not end the process. */
const DEFAULT_NOT_FATAL = new Set<number>([SIG.SIGCHLD, SIG.SIGCONT, SIG.SIGURG, SIG.SIGWINCH, SIG.SIGSTOP, SIG.SIGTSTP, SIG.SIGTTIN, SIG.SIGTTOU]);

export function defaultIsFatal(sig: number): boolean {
  return !DEFAULT_NOT_FATAL.has(sig);
}

export interface SignalMasks {
  caught: bigint;
  ignored: bigint;
}

export function parseSignalMasks(statusText: string): SignalMasks {
  const field = (name: string) => {
    const m = statusText.match(new RegExp(`^${name}:\\s*([0-9a-fA-F]+)`, 'm'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  };
  return { caught: field('SigCgt'), ignored: field('SigIgn') };
}

export function readSignalMasks(pid: number): SignalMasks | null {
  try {
    return parseSignalMasks(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return null;
  }
}

/** What to send to an init process with these masks so that it reacts to `sig` as a normal process would. */
export function signalForInit(sig: number, masks: SignalMasks): number {
  const bit = 1n << BigInt(sig - 1);
  if (masks.caught & bit || masks.ignored & bit) return sig;
  return defaultIsFatal(sig) ? SIG.SIGKILL : sig;
}

/**
 * Relays signals that nook receives to the sandbox's init. Installed before
 * the clone so that nothing is lost (or kills nook) during set-up; signals
 * that arrive before the command runs are queued.
 */
/**
 * Runs `fn` with a relay of nook's signals that is detached afterwards. With
 * a tty, window size changes go to the pty, which signals the command itself.
 */
export async function withSignalRelay<T>(tty: boolean, fn: (relay: SignalRelay) => Promise<T>): Promise<T> {
  const relay = new SignalRelay(tty ? FORWARDED_SIGNALS.filter((s) => s !== 'SIGWINCH') : FORWARDED_SIGNALS);
  try {
    return await fn(relay);
  } finally {
    relay.detach();
  }
}

export class SignalRelay {
  /** The command, by a pidfd taken before it could be reaped: a signal never reaches a reused pid. */
  private target: ProcessHandle | undefined;
  /** Whether the target is PID 1 of its namespace, which drops signals it has no handler for. */
  private isInit = true;
  private pending: number[] = [];
  private handlers: [string, () => void][] = [];
  /** The signal that made nook kill the command, for the exit code. */
  killedBy: number | null = null;

  constructor(relayed: readonly ForwardedSignal[]) {
    for (const name of relayed) {
      const h = () => this.deliver(SIG[name]);
      process.on(name, h);
      this.handlers.push([name, h]);
    }
  }

  /** The command is running: deliver what was queued and relay from now on. The relay owns `target` and closes it at detach(). */
  attach(target: ProcessHandle, opts: { init: boolean } = { init: true }): void {
    this.target = target;
    this.isInit = opts.init;
    for (const sig of this.pending.splice(0)) this.deliver(sig);
  }

  deliver(sig: number): void {
    const target = this.target;
    if (!target) {
      this.pending.push(sig);
      return;
    }
    const masks = readSignalMasks(target.pid);
    if (!masks) return; // already gone
    const actual = this.isInit ? signalForInit(sig, masks) : sig;
    if (target.signal(actual) && actual === SIG.SIGKILL && this.killedBy === null) this.killedBy = sig;
  }

  /**
   * A signal the kernel already sent to init itself (typed on its terminal):
   * act only when the kernel will drop it, so a handler never runs twice.
   */
  deliverIfDropped(sig: number): void {
    if (!this.target || !this.isInit) return;
    const masks = readSignalMasks(this.target.pid);
    if (!masks || signalForInit(sig, masks) !== SIG.SIGKILL) return;
    this.deliver(sig);
  }

  detach(): void {
    for (const [name, h] of this.handlers) process.removeListener(name, h);
    this.handlers = [];
    this.target?.close();
    this.target = undefined;
  }
}

/** nook's exit code for a raw wait status, as the bare command's shell would report it. */
export function exitCodeFromWaitStatus(status: number, killedBy: number | null): number {
  const termSig = status & 0x7f;
  if (termSig === 0) return (status >> 8) & 0xff;
  if (termSig === SIG.SIGKILL && killedBy !== null) return 128 + killedBy;
  return 128 + termSig;
}
