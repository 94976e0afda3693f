/**
 * Pausing a container's processes for `nook commit` (src/container/pause.ts):
 * every process of the tree below its init is stopped, and resumed after.
 * A real process tree stands in for the container (its init and children).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { pauseContainer } from '../../src/container/pause';
import { processStartTime } from '../../src/util/proc-stat';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** The single-letter state of a process (R, S, T...). */
const state = (pid: number) => /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];

function tree(pid: number): number[] {
  const out = [pid];
  for (const t of fs.readdirSync(`/proc/${pid}/task`))
    for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) out.push(...tree(Number(c)));
  return out;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('pauseContainer', () => {
  it('stops the init and every process below it, and resumes exactly them', async () => {
    // An "init" with children and a grandchild, all sleeping.
    const init = spawn('sh', ['-c', 'sleep 100 & (sleep 100 & wait) & wait'], { detached: true, stdio: 'ignore' });
    started.push(init.pid!);
    await until(() => tree(init.pid!).length >= 4);
    const pids = tree(init.pid!);
    const paused = await pauseContainer({ status: 'running', restartCount: 0, pid: init.pid!, pidStart: processStartTime(init.pid!) });
    expect(paused).toBeDefined();
    await until(() => pids.every((p) => state(p) === 'T'));
    paused!.resume();
    await until(() => pids.every((p) => state(p) !== 'T'));
  });

  it('does nothing for a process that is not the recorded one (pid reused)', async () => {
    const init = spawn('sleep', ['100'], { detached: true, stdio: 'ignore' });
    started.push(init.pid!);
    expect(await pauseContainer({ status: 'running', restartCount: 0, pid: init.pid!, pidStart: processStartTime(init.pid!)! + 1 })).toBeUndefined();
    expect(state(init.pid!)).not.toBe('T');
  });
});
