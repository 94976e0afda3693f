/**
 * Signals by pidfd: once a child has been reaped, a signal through its
 * handle reaches nobody, not even a new process that was given its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNative, type Native } from '../../ffi/native';
import { ProcessHandle } from '../../src/sandbox/pidfd';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});

function sleeper(): ChildProcess & { pid: number } {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  started.push(c);
  return c as ChildProcess & { pid: number };
}

/** Kills and reaps `c` (Node's child_process reaps it before 'exit'). */
async function reap(c: ChildProcess): Promise<void> {
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await gone;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('ProcessHandle', () => {
  it('signals the process while it runs, and reports it gone once reaped', async () => {
    const c = sleeper();
    using h = ProcessHandle.open(loadNative(), c.pid);
    expect(h.existed).toBe(true);
    expect(h.signal(0)).toBe(true);
    await reap(c);
    expect(h.signal(15)).toBe(false);
  });

  it('a handle on a pid that does not exist signals nothing', () => {
    // Above the kernel's pid_max (at most 2^22): no process can have it.
    using h = ProcessHandle.open(loadNative(), 4_194_305);
    expect(h.existed).toBe(false);
    expect(h.signal(0)).toBe(false);
  });

  it('falls back to kill() by pid where the kernel has no pidfd_open (ENOSYS)', async () => {
    const noPidfd = { pidfdOpen: () => -38, pidfdSendSignal: () => -38 } as unknown as Native;
    const c = sleeper();
    using h = ProcessHandle.open(noPidfd, c.pid);
    expect(h.existed).toBe(true);
    const gone = new Promise((r) => c.once('exit', (_code, sig) => r(sig)));
    expect(h.signal(15)).toBe(true);
    expect(await gone).toBe('SIGTERM');
  });

  it('never hits a new process that was given the reaped child\'s pid', async (ctx) => {
    // Forcing a pid's reuse takes root (kernel.ns_last_pid), and luck on a busy machine.
    if (process.getuid!() !== 0) return ctx.skip();
    const n = loadNative();
    for (let attempt = 0; attempt < 30; attempt++) {
      const old = sleeper();
      const h = ProcessHandle.open(n, old.pid);
      await reap(old);
      fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(old.pid - 1));
      const next = sleeper();
      if (next.pid !== old.pid) {
        h.close();
        await reap(next);
        continue;
      }
      // process.kill(old.pid) would kill `next` now; the handle must not.
      expect(h.signal(9)).toBe(false);
      await new Promise((r) => setTimeout(r, 50));
      expect(alive(next.pid)).toBe(true);
      h.close();
      return;
    }
    ctx.skip();
  });
});
