/**
 * Signalling a process by a pidfd, as runc and crun do: the pidfd is taken
 * while the process is known to be the right one, and from then on names it
 * alone. After it has been reaped, a signal fails with ESRCH instead of
 * reaching a process that was given the same pid. Where the kernel has no
 * pidfd_open (before Linux 5.3), nook falls back to kill() by pid.
 */
import type { Native } from '../../ffi/native';
import { describeErrno, NookError } from '../errors';
import { Fd } from './fd';
import { ERRNO } from '../../ffi/linux';

const { ENOSYS, ESRCH } = ERRNO;

export class ProcessHandle implements Disposable {
  private constructor(
    readonly pid: number,
    private readonly n: Native,
    /** undefined: no pidfd support, signals go by pid; null: the process was gone when opened. */
    private readonly pidfd: Fd | undefined | null,
  ) {}

  /** A handle on `pid` as it is now; a process that no longer exists gives a handle whose signals say so. */
  static open(n: Native, pid: number): ProcessHandle {
    const r = n.pidfdOpen(pid);
    if (r >= 0) return new ProcessHandle(pid, n, new Fd(r, `the pidfd of process ${pid}`));
    if (r === -ENOSYS) return new ProcessHandle(pid, n, undefined);
    if (r === -ESRCH) return new ProcessHandle(pid, n, null);
    throw new NookError(`pidfd_open(${pid}): ${describeErrno(-r)}`);
  }

  /** Whether the handle names a process that still existed when it was opened. */
  get existed(): boolean {
    return this.pidfd !== null;
  }

  /** Sends `sig`; false when the process has ended (or was reaped) meanwhile. */
  signal(sig: number): boolean {
    if (this.pidfd === null || (this.pidfd && !this.pidfd.isOpen)) return false;
    if (this.pidfd === undefined) {
      try {
        process.kill(this.pid, sig);
        return true;
      } catch {
        return false;
      }
    }
    const r = this.n.pidfdSendSignal(this.pidfd.fd, sig);
    if (r === 0) return true;
    if (r === -ESRCH) return false;
    throw new NookError(`signalling process ${this.pid}: ${describeErrno(-r)}`);
  }

  close(): void {
    this.pidfd?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
