/**
 * The lifecycle commands' podman flags and the behaviour podman's system
 * tests check where docker agrees or is silent, as unprivileged users:
 * stop --ignore/--timeout/-t 0 and its warning, rm -f of a missing
 * container, kill's signal parsing, wait on a never-started container and
 * --condition, start --filter/--all, ps --sort/--external/status=stopped,
 * logs --since/--until and several containers, the global --noout, and
 * start -a of a container first run in the foreground.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, runDetached, type Env } from '../helpers/containers';
import { rootfs, show } from '../helpers/nook';

function testEnv(): Env {
  const e = env();
  onTestFinished(async () => {
    await e.nook(['rm', '-f', '--all']);
  });
  return e;
}

const lines = (out: string) => out.split('\n').filter(Boolean);

async function create(e: Env, flags: string[], cmd: string[]): Promise<string> {
  return (await ok(e, ['create', '--rootfs', rootfs(), ...flags, '--', ...cmd])).trim();
}

/** Waits until the container's log holds `text`. */
async function logged(e: Env, name: string, text: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await e.nook(['logs', name])).stdout.includes(text)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}" in the log of ${name}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TRAP_TERM = (what: string) => ['sh', '-c', `trap 'echo ${what}' TERM; echo READY; while :; do sleep 0.1; done`];

describe('stop, rm, kill, wait', () => {
  it("start of a container whose command is missing exits 1, as docker's start (run says 127)", async () => {
    const e = testEnv();
    await create(e, ['--name', 'nocmd'], ['/no/such/command']);
    const r = await e.nook(['start', 'nocmd']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/^Error: \/no\/such\/command: no such file or directory/);
  });

  it('stop -t 0 kills at once (137); a stop signal that does not end it in time: SIGKILL and a warning; --timeout; --ignore', async () => {
    const e = testEnv();
    await runDetached(e, ['--name', 'quick'], TRAP_TERM('term'));
    await logged(e, 'quick', 'READY');
    const t0 = Date.now();
    expect(await ok(e, ['stop', '-t', '0', 'quick'])).toBe('quick\n');
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await ok(e, ['inspect', '--format', '{{.State.ExitCode}}', 'quick'])).toBe('137\n');
    expect(await ok(e, ['logs', 'quick'])).toBe('READY\n'); // no SIGTERM first

    await runDetached(e, ['--name', 'stubborn'], TRAP_TERM('ignoring'));
    await logged(e, 'stubborn', 'READY');
    const r = await e.nook(['stop', '--timeout', '1', 'stubborn']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('stubborn\n');
    expect(r.stderr).toContain('StopSignal SIGTERM failed to stop container stubborn in 1 seconds, resorting to SIGKILL');
    expect(await ok(e, ['logs', 'stubborn'])).toBe('READY\nignoring\n');
    expect(await ok(e, ['inspect', '--format', '{{.State.ExitCode}}', 'stubborn'])).toBe('137\n');

    const missing = await e.nook(['stop', 'nosuch']);
    expect(missing.code, show(missing)).toBe(1);
    expect(missing.stderr).toContain('No such container: nosuch');
    expect(await ok(e, ['stop', '--ignore', 'nosuch', 'quick'])).toBe('quick\n');
  });

  it("rm -f passes over a container that does not exist (docker's), and so does rm --ignore (podman's)", async () => {
    const e = testEnv();
    await create(e, ['--name', 'there'], ['true']);
    const plain = await e.nook(['rm', 'bogus']);
    expect(plain.code, show(plain)).toBe(1);
    expect(plain.stderr).toContain('No such container: bogus');
    const forced = await e.nook(['rm', '-f', 'bogus']);
    expect(forced.code, show(forced)).toBe(0);
    expect(forced.stdout + forced.stderr).toBe('');
    expect(await ok(e, ['rm', '--ignore', 'bogus', 'there'])).toBe('there\n');
  });

  it("kill: bad signals are flag errors (125) in podman's words; -s takes a value that starts with a dash", async () => {
    const e = testEnv();
    for (const [s, msg] of [
      ['0', 'invalid signal: 0'],
      ['SIGBADSIG', 'invalid signal: SIGBADSIG'],
      ['-SIG', 'invalid signal: SIG'],
      ['65', 'valid signals are 1 through 64'],
      ['-65', 'valid signals are 1 through 64'],
    ]) {
      const r = await e.nook(['kill', '-s', s, 'nosuch']);
      expect(r.code, `${s}\n${show(r)}`).toBe(125);
      expect(r.stderr).toBe(`Error: ${msg}\n`);
    }
    await runDetached(e, ['--name', 'sig'], ['sh', '-c', "trap 'echo got: 10' USR1; trap 'echo got: 1' HUP; echo READY; while :; do sleep 0.1; done"]);
    await logged(e, 'sig', 'READY');
    expect(await ok(e, ['kill', '-s', '-USR1', 'sig'])).toBe('sig\n');
    await logged(e, 'sig', 'got: 10');
    expect(await ok(e, ['kill', '-s', '-1', 'sig'])).toBe('sig\n');
    await logged(e, 'sig', 'got: 1\n');
  });

  it("wait: a container that never ran at once, with 0 (docker's not-running); several; --condition running prints -1", async () => {
    const e = testEnv();
    await create(e, ['--name', 'never'], ['sh', '-c', 'exit 3']);
    const t0 = Date.now();
    expect(await ok(e, ['wait', 'never'])).toBe('0\n');
    expect(Date.now() - t0).toBeLessThan(5_000);
    await runDetached(e, ['--name', 'three'], ['sh', '-c', 'exit 3']);
    expect(await ok(e, ['wait', '--condition', 'exited', '--condition=stopped', 'three', 'never'])).toBe('3\n0\n');
    await runDetached(e, ['--name', 'up'], ['sleep', '3301']);
    expect(await ok(e, ['wait', '--condition', 'running', 'up'])).toBe('-1\n');
    const bad = await e.nook(['wait', '--condition', 'sideways', 'up']);
    expect(bad.code, show(bad)).toBe(125);
    expect(bad.stderr).toContain('invalid condition "sideways"');
    await ok(e, ['kill', 'up']);
  });
});

describe('start and ps', () => {
  it('start --filter (with names, and with --all): restart-policy= and ps filters; a bad policy is a flag error', async () => {
    const e = testEnv();
    const zero = await runDetached(e, [], ['true']);
    const one = await runDetached(e, [], ['false']);
    expect(await ok(e, ['wait', zero, one])).toBe('0\n1\n');
    expect(await ok(e, ['start', '--filter', 'restart-policy=always', zero])).toBe('');
    expect(await ok(e, ['start', '--filter', 'restart-policy=none', zero])).toBe(`${zero}\n`);
    await ok(e, ['wait', zero]);
    expect(await ok(e, ['start', '--all', '--filter', 'exited=1'])).toBe(`${one}\n`);
    const bad = await e.nook(['start', '--filter', 'restart-policy=fakepolicy', zero]);
    expect(bad.code, show(bad)).toBe(125);
    expect(bad.stderr).toBe('Error: fakepolicy invalid restart policy\n');
  });

  it('ps --sort names/created, --external (all: nook has no containers of other tools), status=stopped (exited)', async () => {
    const e = testEnv();
    await runDetached(e, ['--name', 'b-run'], ['sleep', '3302']);
    await runDetached(e, ['--name', 'c-ok'], ['true']);
    await runDetached(e, ['--name', 'a-fail'], ['false']);
    await ok(e, ['wait', 'c-ok', 'a-fail']);
    expect(lines(await ok(e, ['ps', '-a', '--sort', 'names', '--format', '{{.Names}}']))).toEqual(['a-fail', 'b-run', 'c-ok']);
    expect(lines(await ok(e, ['ps', '-a', '--sort', 'created', '--format', '{{.Names}}']))).toEqual(['b-run', 'c-ok', 'a-fail']);
    expect(lines(await ok(e, ['ps', '--filter', 'status=stopped', '--sort', 'names', '--format', '{{.Names}}']))).toEqual(['a-fail', 'c-ok']);
    expect(lines(await ok(e, ['ps', '--external', '--format', '{{.Names}}']))).toHaveLength(3);
    expect((await e.nook(['ps', '--sort', 'colour'])).code).toBe(125);
    await ok(e, ['kill', 'b-run']);
  });
});

describe('logs', () => {
  it('--since and --until (dates, Unix seconds, durations); several containers, each line after its short id', async () => {
    const e = testEnv();
    const a = await runDetached(e, ['--name', 'la'], ['sh', '-c', 'echo one; sleep 1.5; echo two']);
    await ok(e, ['wait', 'la']);
    const stamped = lines(await ok(e, ['logs', '-t', 'la']));
    expect(stamped).toHaveLength(2);
    const second = stamped[1].split(' ')[0];
    expect(await ok(e, ['logs', '--since', second, 'la'])).toBe('two\n');
    expect(await ok(e, ['logs', '--until', stamped[0].split(' ')[0], 'la'])).toBe('one\n');
    expect(await ok(e, ['logs', '--since', '1000', 'la'])).toBe('one\ntwo\n');
    expect(await ok(e, ['logs', '--until', '1000', 'la'])).toBe('');
    expect(await ok(e, ['logs', '--since', '10m', 'la'])).toBe('one\ntwo\n');
    const bad = await e.nook(['logs', '--since', 'yesterday', 'la']);
    expect(bad.code, show(bad)).toBe(125);
    expect(bad.stderr).toContain('invalid value for --since: "yesterday"');

    const b = await runDetached(e, ['--name', 'lb'], ['sh', '-c', 'sleep 0.7; echo three']);
    // Followed together: each line as it comes, after its container's short id.
    expect(await ok(e, ['logs', '-f', 'la', 'lb'])).toBe(`${a.slice(0, 12)} one\n${a.slice(0, 12)} two\n${b.slice(0, 12)} three\n`);
    expect(await ok(e, ['logs', 'lb', 'la'])).toBe(`${b.slice(0, 12)} three\n${a.slice(0, 12)} one\n${a.slice(0, 12)} two\n`);
  });

  it('start -a of a container first run in the foreground shows this run; the log keeps both', async () => {
    const e = testEnv();
    await ok(e, ['run', '--name', 'fg', '--rootfs', rootfs(), '--', 'sh', '-c', 'echo ran']);
    expect(await ok(e, ['start', '-a', 'fg'])).toBe('ran\n');
    expect(await ok(e, ['logs', 'fg'])).toBe('ran\nran\n');
  });
});

describe('global flags', () => {
  it("--noout (podman's) prints nothing on stdout; errors still go to stderr", async () => {
    const e = testEnv();
    await runDetached(e, ['--name', 'quiet'], ['sleep', '3303']);
    const r = await e.nook(['--noout', 'stop', '-t', '0', 'quiet']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('');
    const err = await e.nook(['--noout', 'stop', 'nosuch']);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('No such container: nosuch');
  });
});
