/**
 * What ties a network helper's life to its container's: a close-on-exec
 * pipe whose write end only the helper's owner holds: nook for a foreground
 * run; for a detached container, the supervisor (ffi/supervisor.c keeps it
 * as fd 11, close-on-exec, so it closes when the supervisor execs the exit
 * command or dies, SIGKILL included). When the last copy of the write end
 * closes, the helper goes:
 * - slirp4netns gets the read end as --exit-fd and quits on its own;
 * - pasta (Debian 12's quits only when a bind-mounted netns file is
 *   deleted) gets a watchdog: a shell blocked reading the read end; it is
 *   told pasta's pid, and kills it at EOF.
 */
import { spawn } from 'node:child_process';
import fs = require('node:fs');
import type { Native } from '../../../ffi/native';
import { pipe, type Fd } from '../fd';

export class Lifeline {
  private watchdogPid?: number;
  private helperPid?: number;
  private stopped = false;

  private constructor(
    /** The helper's (or its watchdog's) end. */
    readonly read: Fd,
    /** The owner's end: the helper lives while a copy of it is open. */
    readonly write: Fd,
  ) {}

  static open(n: Native): Lifeline {
    const [read, write] = pipe(n, "the network helper's lifeline");
    return new Lifeline(read, write);
  }

  /**
   * Hands pasta's daemon `pid` to a watchdog that kills it at EOF. In a
   * session of its own, so a terminal's ^C does not take it before nook.
   */
  watch(pid: number): void {
    this.helperPid = pid;
    const dog = spawn('/bin/sh', ['-c', 'read pid && read _eof; kill -KILL "$pid" 2>/dev/null'], {
      stdio: [this.read.fd, 'ignore', 'ignore'],
      detached: true,
      env: {},
    });
    dog.on('error', () => undefined);
    dog.unref();
    this.watchdogPid = dog.pid;
    fs.writeSync(this.write.fd, `${pid}\n`);
    this.read.close();
  }

  /** A helper that watches the read end itself (slirp4netns's --exit-fd), now started as `pid`. */
  adopt(pid: number | undefined): void {
    this.helperPid = pid;
    this.read.close();
  }

  /** Nook's own copy goes (a detached container's supervisor holds one now). */
  release(): void {
    this.read.close();
    this.write.close();
  }

  /** The owner is done with the helper: stop it now (the watchdog first: the helper's pid may be reused once it is gone). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const pid of [this.watchdogPid, this.helperPid])
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    this.release();
  }
}
