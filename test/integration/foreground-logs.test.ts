/**
 * A kept container run in the foreground keeps a log, as docker's and
 * podman's do: its output still reaches nook's stdout and stderr, and
 * `nook logs` (-f), `start -a` and `attach` then work as for a detached
 * one. --rm and --log-driver none keep none.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, psRow, type Env } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootfs, show, startNook } from '../helpers/nook';
import { runOnPty } from '../helpers/pty';

function testEnv(): Env {
  const e = env();
  onTestFinished(async () => {
    await e.nook(['rm', '-f', '--all']);
  });
  return e;
}

const fg = (name: string, flags: string[], cmd: string[]) => ['run', '--name', name, ...flags, '--rootfs', rootfs(), '--', ...cmd];

describe('foreground runs keep a log', () => {
  it('shows the output as before and logs stdout and stderr apart; the exit code is kept', async () => {
    const e = testEnv();
    const r = await e.nook(fg('talk', [], ['sh', '-c', 'echo hi; echo err >&2; echo two; printf last; exit 3']));
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toBe('hi\ntwo\nlast');
    expect(r.stderr).toBe('err\n');
    const logs = await e.nook(['logs', 'talk']);
    expect(logs.code, show(logs)).toBe(0);
    expect(logs.stdout).toBe('hi\ntwo\nlast');
    expect(logs.stderr).toBe('err\n');
    // Followed once it has exited: everything, then the end.
    expect(await ok(e, ['logs', '-f', 'talk'])).toBe('hi\ntwo\nlast');
    expect(await psRow(e, 'talk')).toMatchObject({ State: 'exited', ExitCode: 3 });
    const inspected = JSON.parse(await ok(e, ['inspect', 'talk'])) as { LogPath: string | null }[];
    expect(inspected[0]!.LogPath).toMatch(/container\.log$/);
  });

  it('large output reaches the terminal and the log whole', async () => {
    const e = testEnv();
    const r = await e.nook(fg('big', [], ['sh', '-c', 'seq 1 100000; seq 1 30000 >&2']));
    expect(r.code, show(r)).toBe(0);
    const want = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}\n`).join('');
    expect(r.stdout === want(100000), 'stdout whole').toBe(true);
    expect(r.stderr === want(30000), 'stderr whole').toBe(true);
    const logs = await e.nook(['logs', 'big']);
    expect(logs.stdout === want(100000), 'logged stdout whole').toBe(true);
    expect(logs.stderr === want(30000), 'logged stderr whole').toBe(true);
  });

  it('-t logs what the pty printed', async () => {
    const e = testEnv();
    const t = await runOnPty(fg('term', ['-t'], ['sh', '-c', 'test -t 1 && echo on-a-tty; echo to-err >&2; exit 5']), { user: e.user, env: e.opts.env });
    expect(t.status, t.output).toBe(5);
    expect(t.output).toBe('on-a-tty\nto-err\n');
    expect(t.restored).toBe(true);
    // One stream, as the pty's: both lines on stdout, with the pty's line ends.
    expect(await ok(e, ['logs', 'term'])).toBe('on-a-tty\r\nto-err\r\n');
  });

  it('start -a runs it again under a supervisor, and the log keeps both runs', async () => {
    const e = testEnv();
    expect(await ok(e, fg('again', [], ['sh', '-c', 'echo ran']))).toBe('ran\n');
    expect(await ok(e, ['logs', 'again'])).toBe('ran\n');
    expect(await ok(e, ['start', '-a', 'again'])).toBe('ran\n');
    expect(await ok(e, ['logs', 'again'])).toBe('ran\nran\n');
  });

  it('logs -f and attach follow it while it runs, from another nook', async () => {
    const e = testEnv();
    const gate = scratchDir(e.user, 'gate-');
    const run = startNook(fg('live', ['-v', `${gate}:/mnt/data`], ['sh', '-c', 'echo first; while [ ! -e /mnt/data/go ]; do sleep 0.05; done; echo second; exit 4']), e.opts);
    await run.waitForStdout('first\n');
    const follow = startNook(['logs', '-f', 'live'], e.opts);
    await follow.waitForStdout('first\n');
    const attach = startNook(['attach', '--no-stdin', 'live'], e.opts);
    // attach shows what comes from now on: give it time to reach the log's end before the gate opens.
    await new Promise((r) => setTimeout(r, 1000));
    fs.writeFileSync(path.join(gate, 'go'), '');
    const [r, f, a] = await Promise.all([run.exited, follow.exited, attach.exited]);
    expect(r.code, show(r)).toBe(4);
    expect(r.stdout).toBe('first\nsecond\n');
    expect(f.code, show(f)).toBe(0);
    expect(f.stdout).toBe('first\nsecond\n');
    expect(a.code, show(a)).toBe(4);
    expect(a.stdout).toBe('second\n');
  });

  it('--log-driver none and --rm keep none', async () => {
    const e = testEnv();
    expect(await ok(e, fg('quiet', ['--log-driver', 'none'], ['echo', 'shown']))).toBe('shown\n');
    const none = await e.nook(['logs', 'quiet']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('configured logging driver does not support reading');
    expect(await ok(e, fg('gone', ['--rm'], ['echo', 'shown']))).toBe('shown\n');
    expect((await e.nook(['logs', 'gone'])).stderr).toMatch(/no such container/i);
  });
});
