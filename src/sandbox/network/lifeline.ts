/**
 * What ties a network helper's life to its container's: a close-on-exec
 * pipe whose write end only the helper's owner holds: nook for a foreground
 * run; for a detached container, the supervisor (ffi/supervisor.c keeps it
 * as fd 11, close-on-exec, so it closes when the supervisor execs the exit
 * command or dies, SIGKILL included). When the last copy of the write end
 * closes, the helper goes:
 * - slirp4netns gets the read end as --exit-fd and quits on its own;
 * - pasta (Debian 12's quits only when a bind-mounted netns file is
 *   deleted) runs under a watchdog shell that holds the read end: it runs
 *   pasta's set-up, reads the daemon's pid, and kills it at EOF (even when
 *   the owner died during the set-up).
 */
import { spawn } from 'node:child_process';
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
   * Runs a daemonizing helper (pasta) under a watchdog shell, which is its
   * parent: it runs `argv` to its exit (the helper's set-up), reports
   * "pid N" (the daemon's, from `pidFile`) or "fail CODE", then blocks on
   * the lifeline and kills the daemon at EOF. Being the parent, it also
   * covers the set-up itself: should the owner die meanwhile, the daemon is
   * killed as soon as it exists. In a session of its own, so a terminal's
   * ^C does not take it before nook.
   */
  async runWatched(argv: string[], pidFile: string): Promise<{ pid?: number; code?: number; stderr: string }> {
    // SIGPIPE ignored once the helper has run (an ignored signal would be its too: pasta then fails
    // to install its handlers): with nook gone, the report must not kill the shell before it kills the daemon.
    const script = 'p=$1; shift; "$@"; c=$?; trap "" PIPE; [ $c = 0 ] || { echo "fail $c"; exit 0; }; read pid < "$p" || exit 0; echo "pid $pid"; while read _l; do :; done; kill -KILL "$pid" 2>/dev/null';
    const dog = spawn('/bin/sh', ['-c', script, 'sh', pidFile, ...argv], {
      stdio: [this.read.fd, 'pipe', 'pipe'],
      detached: true,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    this.watchdogPid = dog.pid;
    this.read.close();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    dog.stderr!.on('data', (b: Buffer) => err.push(b));
    const line = await new Promise<string>((resolve, reject) => {
      dog.on('error', reject);
      dog.stdout!.on('data', (b: Buffer) => {
        out.push(b);
        const text = Buffer.concat(out).toString('utf8');
        if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
      });
      dog.on('exit', () => resolve(Buffer.concat(out).toString('utf8').trim()));
    });
    // A failed helper has exited, and the shell with it: its last words may still be in the pipe.
    if (!line.startsWith('pid ') && !dog.stderr!.closed) await new Promise((resolve) => dog.stderr!.once('close', resolve));
    const stderr = Buffer.concat(err).toString('utf8');
    dog.unref();
    for (const s of [dog.stdout, dog.stderr]) (s as unknown as { destroy(): void }).destroy();
    const m = /^(pid|fail) (\d+)$/.exec(line);
    if (m?.[1] === 'pid') {
      this.helperPid = Number(m[2]);
      return { pid: this.helperPid, stderr };
    }
    return { code: m ? Number(m[2]) : undefined, stderr };
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
