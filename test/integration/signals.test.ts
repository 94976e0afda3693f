/**
 * Signals sent to nook reach the command (PID 1 of its namespace), as if it
 * were run bare: a command without a handler dies and nook exits 128+N; a
 * command with a handler runs it. Nothing of the sandbox outlives nook.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runArgs, show, startNook } from '../helpers/nook';
import { runningProcessesOf, processesWithArgv, waitUntil } from '../helpers/procs';
import { need, testUsers, type TestUser } from '../helpers/users';

let nextSleep = 1100;
/** A `sleep` command line no other test uses, so that it can be found in /proc. */
function uniqueSleep(): string[] {
  return ['sleep', String(nextSleep++)];
}

/** Processes a test may leave behind when nook is broken: killed after each test, by pid. */
const leftovers: string[][] = [];
afterEach(() => {
  for (const argv of leftovers.splice(0))
    for (const p of processesWithArgv(argv)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
});

/** Starts `nook run ... sleep N` and resolves once the sleep runs in the sandbox. */
async function startSleeping(flags: string[] = [], user: TestUser = testUsers().any) {
  const argv = uniqueSleep();
  leftovers.push(argv);
  const nook = startNook(runArgs(flags, argv), { user });
  await waitUntil(() => processesWithArgv(argv).length === 1, `${argv.join(' ')} to run in the sandbox`);
  return { nook, argv };
}

function expectNothingLeft(argv: string[], user: TestUser): void {
  expect(processesWithArgv(argv)).toEqual([]);
  if (user.kind !== 'root') expect(runningProcessesOf(user)).toEqual([]);
}

describe('signals to nook, command without a handler', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
    ['SIGUSR1', 138],
    ['SIGQUIT', 131],
    ['SIGUSR2', 140],
  ] as const)('%s ends it promptly, nook exits %i, nothing is left', async (sig, code) => {
    const user = testUsers().any;
    const { nook, argv } = await startSleeping([], user);
    const sent = Date.now();
    nook.kill(sig);
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(code);
    expect(Date.now() - sent).toBeLessThan(3000);
    expectNothingLeft(argv, user);
  });

  it.for([
    ['a command running as another uid (-u 1000)', 'sub', ['-u', '1000']],
    ['a user without subordinate ids', 'nosub', []],
    ['real root', 'root', []],
  ] as const)('SIGTERM works for %s', async ([, kind, flags], ctx) => {
    const user = need(ctx, kind);
    const { nook, argv } = await startSleeping([...flags], user);
    nook.kill('SIGTERM');
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(143);
    expectNothingLeft(argv, user);
  });

  it('the whole sandbox goes, background processes included', async () => {
    const user = testUsers().any;
    const [a, b] = [uniqueSleep(), uniqueSleep()];
    leftovers.push(a, b);
    const nook = startNook(runArgs([], ['sh', '-c', `${a.join(' ')} & ${b.join(' ')} & echo ready; wait`]), { user });
    await nook.waitForStdout('ready\n');
    await waitUntil(() => processesWithArgv(a).length === 1 && processesWithArgv(b).length === 1, 'both sleeps to run');
    nook.kill('SIGTERM');
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(143);
    expectNothingLeft(a, user);
    expectNothingLeft(b, user);
  });
});

describe('signals to nook, command with a handler', () => {
  it.each(['TERM', 'USR2', 'QUIT', 'INT', 'HUP', 'USR1'] as const)('SIG%s runs the command\'s trap, nook exits with its status', async (name) => {
    const user = testUsers().any;
    const script = `trap "echo got ${name}; exit 7" ${name}; echo ready; while :; do sleep 0.1; done`;
    const nook = startNook(runArgs([], ['sh', '-c', script]), { user });
    await nook.waitForStdout('ready\n');
    nook.kill(`SIG${name}`);
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(7);
    expect(r.stdout).toBe(`ready\ngot ${name}\n`);
    if (user.kind !== 'root') expect(runningProcessesOf(user)).toEqual([]);
  });

  it('Ctrl-C on a terminal (SIGINT to the whole foreground group) runs the trap once', async () => {
    // A shell's foreground job is a process group; the terminal signals all of it.
    // A second delivery (one from the terminal, one relayed by nook) would land within the half second.
    const script = 'n=0; trap \'n=$((n+1)); echo got INT $n\' INT; echo ready; while [ $n -lt 1 ]; do sleep 0.1; done; sleep 0.5; echo total $n';
    const nook = startNook(runArgs([], ['sh', '-c', script]), { ownGroup: true });
    await nook.waitForStdout('ready\n');
    process.kill(-nook.child.pid!, 'SIGINT');
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('ready\ngot INT 1\ntotal 1\n');
  });

  it('a signal the command ignores does not end it', async () => {
    const script = 'trap "" TERM; trap "echo got USR1; exit 3" USR1; echo ready; while :; do sleep 0.1; done';
    const nook = startNook(runArgs([], ['sh', '-c', script]));
    await nook.waitForStdout('ready\n');
    nook.kill('SIGTERM');
    nook.kill('SIGUSR1');
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toBe('ready\ngot USR1\n');
  });
});

describe('when nook itself is killed', () => {
  it('SIGKILL to nook takes the sandbox with it', async () => {
    const { nook, argv } = await startSleeping();
    nook.kill('SIGKILL');
    await nook.processExited;
    await waitUntil(() => processesWithArgv(argv).length === 0, `${argv.join(' ')} to die with nook`, 3000);
  });

  it('SIGKILL to nook takes the sandbox with it, also when the command runs as another uid (-u 1000)', async (ctx) => {
    const user = need(ctx, 'sub');
    const { nook, argv } = await startSleeping(['-u', '1000'], user);
    nook.kill('SIGKILL');
    await nook.processExited;
    await waitUntil(() => processesWithArgv(argv).length === 0, `${argv.join(' ')} (uid 1000 inside) to die with nook`, 3000);
  });
});
