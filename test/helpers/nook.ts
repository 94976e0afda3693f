/**
 * Running build/nook as a test user: `runNook` for a whole run collected into
 * a result, `startNook` for runs a test interacts with (signals, streams).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { inject } from 'vitest';
import { NOOK } from './paths';
import { cleanEnv, spawnIdentity, testUsers, type TestUser } from './users';

export interface NookOptions {
  /** Who runs nook (default: testUsers().any). */
  user?: TestUser;
  /** Written to nook's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Added to the user's clean environment. */
  env?: Record<string, string>;
  /** The whole environment instead of the clean one plus `env`. */
  fullEnv?: Record<string, string>;
  /** Working directory of nook (default /tmp). */
  cwd?: string;
  /** The executable (default build/nook). */
  bin?: string;
  /** Kill nook and fail after this long (default 20 s). */
  timeoutMs?: number;
  /** Start nook as the leader of a process group of its own, like a shell's foreground job. */
  ownGroup?: boolean;
  /**
   * A 0666 tun node (test/helpers/tun.ts) bind-mounted over /dev/net/tun in a
   * private mount namespace for this nook only (the suite must be root). The
   * wrappers exec one another: the child's pid is nook's.
   */
  tun?: string;
  /** With `tun`: a file bind-mounted over /etc/resolv.conf in that mount namespace too (the host's servers as nook and pasta see them). */
  resolvConf?: string;
}

export interface NookResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function rootfs(): string {
  return inject('rootfs');
}

/** `nook run --rootfs ROOTFS FLAGS... -- CMD...` as an argument list. */
export function runArgs(flags: string[], cmd: string[]): string[] {
  return ['run', '--rootfs', rootfs(), ...flags, '--', ...cmd];
}

function spawnNook(args: string[], opts: NookOptions): ChildProcess {
  const user = opts.user ?? testUsers().any;
  const [file, argv, identity] = opts.tun
    ? [
        'unshare',
        [
          '-m', '--propagation', 'private', '--', '/bin/sh', '-c',
          'mount --bind "$0" /dev/net/tun || exit 99; [ -z "$3" ] || mount --bind "$3" /etc/resolv.conf || exit 99; u=$1 g=$2; shift 3; exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"',
          opts.tun, String(user.uid), String(user.gid), opts.resolvConf ?? '', opts.bin ?? NOOK, ...args,
        ],
        {},
      ]
    : [opts.bin ?? NOOK, args, spawnIdentity(user)];
  return spawn(file, argv, {
    ...identity,
    cwd: opts.cwd ?? '/tmp',
    env: opts.fullEnv ?? { ...cleanEnv(user), ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: opts.ownGroup ?? false,
  });
}

export class NookProcess {
  readonly child: ChildProcess;
  private out: Buffer[] = [];
  private err: Buffer[] = [];
  private listeners: (() => void)[] = [];
  private closed = false;
  /** nook's end with all its output read (stdout and stderr closed). */
  readonly exited: Promise<NookResult>;
  /** nook's process has exited (its output may still be open in processes it left behind). */
  readonly processExited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], opts: NookOptions = {}) {
    this.child = spawnNook(args, opts);
    const timeoutMs = opts.timeoutMs ?? 20_000;
    this.child.stdout!.on('data', (b: Buffer) => {
      this.out.push(b);
      this.listeners.forEach((l) => l());
    });
    this.child.stderr!.on('data', (b: Buffer) => {
      this.err.push(b);
      this.listeners.forEach((l) => l());
    });
    this.processExited = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    this.exited = new Promise<NookResult>((resolve, reject) => {
      // Fails the test rather than hanging it: nook may not exit, or something it started may keep its stdout open.
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`nook ${args.join(' ')}: no end after ${timeoutMs} ms (exit code ${this.child.exitCode}); stdout: ${this.stdout}; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.child.on('error', reject);
      // 'close': the process has exited and its output is all read.
      this.child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.closed = true;
        this.listeners.forEach((l) => l());
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, stdoutBytes: Buffer.concat(this.out) });
      });
    });
    // Reported to whoever awaits them.
    this.exited.catch(() => {});
    this.processExited.catch(() => {});
    if (opts.input !== undefined) {
      this.child.stdin!.on('error', () => {}); // nook may exit without reading it all
      this.child.stdin!.end(opts.input);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }

  /** Resolves once stdout contains `text`; rejects if nook ends first or after `timeoutMs`. */
  waitForStdout(text: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let done = false;
      const check = () => {
        if (done) return;
        if (this.stdout.includes(text)) finish();
        else if (this.closed)
          finish(new Error(`nook ended before printing ${JSON.stringify(text)}; stdout: ${this.stdout}; stderr: ${this.stderr}`));
      };
      const timer = setTimeout(
        () => finish(new Error(`no ${JSON.stringify(text)} on stdout after ${timeoutMs} ms; stdout: ${this.stdout}; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      const finish = (e?: Error) => {
        done = true;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        if (e) reject(e);
        else resolve();
      };
      this.listeners.push(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

export function startNook(args: string[], opts: NookOptions = {}): NookProcess {
  return new NookProcess(args, opts);
}

/** Runs nook with these arguments to the end. */
export function runNook(args: string[], opts: NookOptions = {}): Promise<NookResult> {
  return startNook(args, opts).exited;
}

/** Runs CMD in a sandbox over the test rootfs: `nook run --rootfs R FLAGS -- CMD`. */
export function sandbox(cmd: string[], flags: string[] = [], opts: NookOptions = {}): Promise<NookResult> {
  return runNook(runArgs(flags, cmd), opts);
}

/** Runs a shell script in a sandbox. */
export function sandboxSh(script: string, flags: string[] = [], opts: NookOptions = {}): Promise<NookResult> {
  return sandbox(['sh', '-c', script], flags, opts);
}

/** Formats a result for assertion messages. */
export function show(r: NookResult): string {
  return `exit ${r.code ?? `signal ${r.signal}`}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
