/**
 * The launcher: every descriptor closed once, on every path, and a failure
 * of the child's plan or of a parent step reported as itself, with the
 * child reaped. Runs the native executor in this process (no namespaces).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../ffi/native';
import type { PlanOp } from '../../ffi/plan-format';
import { NookError } from '../../src/errors';
import { Fd, launch, type ParentStep } from '../../src/sandbox/launcher';
import type { PlanFds } from '../../src/sandbox/plan';
import { SIGNAL } from '../../ffi/linux';

const openFds = () => fs.readdirSync('/proc/self/fd').length;

function plan(argv: string[]): (fds: PlanFds) => PlanOp[] {
  return (fds) => [
    { op: 'CLOSE', args: [fds.syncWrite], what: 'close the parent end of the sync pipe' },
    { op: 'CLOSE', args: [fds.statusParent], what: 'close the parent end of the status socket' },
    { op: 'WAIT_FD', args: [fds.syncRead], what: 'wait for the release' },
    { op: 'CLOSE', args: [fds.syncRead], what: 'close the sync pipe' },
    { op: 'EXEC', args: [argv[0], { strings: argv }, { strings: ['PATH=/usr/bin:/bin'] }, ''], what: `execute ${argv[0]}` },
  ];
}

const failure = (ops: PlanOp[], f: { step: number; errno: number }) => new NookError(`${ops[f.step]?.what} failed: ${f.errno}`);

describe('Fd', () => {
  it('closes once: a second close leaves alone a file that reused the number', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-fd-'));
    const a = new Fd(fs.openSync(path.join(dir, 'a'), 'w'), 'a');
    const num = a.fd;
    a.close();
    const b = fs.openSync(path.join(dir, 'b'), 'w');
    expect(b).toBe(num); // the lowest free number: the one a had
    a.close();
    expect(() => fs.fstatSync(b)).not.toThrow();
    expect(() => a.fd).toThrow(/used after it was closed/);
    fs.closeSync(b);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('launch', () => {
  const n = loadNative();

  it('runs the parent steps in order before the release, and the command after', async () => {
    const before = openFds();
    const order: string[] = [];
    const steps: ParentStep[] = [
      { name: 'first', run: (pid) => void order.push(`first ${pid > 0}`) },
      { name: 'second', run: async () => void order.push('second') },
    ];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-launch-'));
    const marker = path.join(dir, 'ran');
    const started = await launch(n, { flags: SIGNAL.SIGCHLD, plan: plan(['/bin/sh', '-c', `echo > ${marker}`]), steps, failure });
    expect(order).toEqual(['first true', 'second']);
    expect(await started.exited).toBe(0);
    started.handle?.close();
    expect(fs.existsSync(marker)).toBe(true);
    expect(openFds()).toBe(before);
    fs.rmSync(dir, { recursive: true });
  });

  it('a failed step of the child is reported through failure(), the child reaped, every fd closed', async () => {
    const before = openFds();
    const err = await launch(n, { flags: SIGNAL.SIGCHLD, plan: plan(['/nonexistent/cmd']), failure }).catch((e) => e);
    expect(err).toBeInstanceOf(NookError);
    expect(err.message).toBe('execute /nonexistent/cmd failed: 2');
    expect(openFds()).toBe(before);
  });

  it('a failed parent step: the child gives up (EOF on the sync pipe), is reaped, and the step\'s error is thrown', async () => {
    const before = openFds();
    let child = 0;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-launch-'));
    const marker = path.join(dir, 'ran');
    const steps: ParentStep[] = [
      { name: 'record', run: (pid) => void (child = pid) },
      { name: 'break', run: () => { throw Object.assign(new Error('boom'), { code: 'EACCES' }); } },
      { name: 'never', run: () => { throw new Error('must not run'); } },
    ];
    const err = await launch(n, { flags: SIGNAL.SIGCHLD, plan: plan(['/bin/sh', '-c', `echo > ${marker}`]), steps, failure }).catch((e) => e);
    expect(err).toBeInstanceOf(NookError);
    expect(err.message).toBe(`break for the sandbox (pid ${child}) failed: EACCES`);
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(`/proc/${child}`)).toBe(false); // reaped, not a zombie
    expect(openFds()).toBe(before);
    fs.rmSync(dir, { recursive: true });
  });

  it('descriptors for the child only are closed in nook, also when the launch fails', async () => {
    const before = openFds();
    const fds = new Int32Array(2);
    expect(n.pipe2(fds, 0x80000)).toBe(0);
    const r = new Fd(fds[0], 'r');
    const w = new Fd(fds[1], 'w');
    await launch(n, { flags: SIGNAL.SIGCHLD, plan: plan(['/nonexistent/cmd']), childFds: [r, w], failure }).catch(() => undefined);
    expect(r.isOpen || w.isOpen).toBe(false);
    expect(openFds()).toBe(before);
  });
});
