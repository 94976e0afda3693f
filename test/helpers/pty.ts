/**
 * Runs nook on a real pseudo-terminal (test/helpers/pty_run.py, Python's pty
 * support), as a user at a terminal would: for -t and -it.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { NOOK } from './paths';
import { cleanEnv, spawnIdentity, testUsers, type TestUser } from './users';

const PTY_RUN = path.join(__dirname, 'pty_run.py');

export type PtyStep = { expect: string; send: string } | { expect: string; resize: [rows: number, cols: number] };

export interface PtyOptions {
  user?: TestUser;
  /** The terminal's size when nook starts. */
  size?: [rows: number, cols: number];
  /** In order: when the output shows `expect`, type `send` (Python escapes: "\\x03" is Ctrl-C) or resize. */
  steps?: PtyStep[];
  timeoutSec?: number;
  /** Added to the user's clean environment. */
  env?: Record<string, string>;
}

export interface PtyResult {
  /** nook's exit code, or -N when signal N killed it. */
  status: number;
  /** What appeared on the terminal, with the terminal's \r\n turned back into \n. */
  output: string;
  /** Whether nook left the terminal's settings as it found them. */
  restored: boolean;
  timedOut: boolean;
  pendingExpect: string[];
  /** What is left unread in the terminal's input queue at the end (what the user's shell would read next). */
  input: string;
}

/** Runs `nook ARGS` with a pty as its stdin, stdout, stderr and controlling terminal. */
export function runOnPty(args: string[], opts: PtyOptions = {}): Promise<PtyResult> {
  const user = opts.user ?? testUsers().any;
  const py: string[] = [];
  if (opts.size) py.push('--rows', String(opts.size[0]), '--cols', String(opts.size[1]));
  for (const s of opts.steps ?? []) {
    py.push('--expect', s.expect);
    if ('send' in s) py.push('--send', s.send);
    else py.push('--resize', `${s.resize[0]}x${s.resize[1]}`);
  }
  py.push('--timeout', String(opts.timeoutSec ?? 20), '--', NOOK, ...args);
  const child = spawn('/usr/bin/python3', [PTY_RUN, ...py], {
    ...spawnIdentity(user),
    cwd: '/tmp',
    env: { ...cleanEnv(user), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code !== 0) return reject(new Error(`pty_run.py failed (${code}): ${Buffer.concat(err).toString()}${text}`));
      const r = JSON.parse(text) as { status: number; output: string; restored: boolean; timed_out: boolean; pending_expect: string[]; input: string };
      resolve({
        status: r.status,
        output: Buffer.from(r.output, 'base64').toString('utf8').replace(/\r+\n/g, '\n'),
        restored: r.restored,
        timedOut: r.timed_out,
        pendingExpect: r.pending_expect,
        input: Buffer.from(r.input, 'base64').toString('utf8'),
      });
    });
  });
}
