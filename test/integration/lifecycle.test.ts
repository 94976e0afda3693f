/**
 * Containers without a daemon, end to end as unprivileged users: run -d,
 * ps, stop, kill, wait, start, rm, --rm, --restart, names and ids, and the
 * faults (a supervisor killed with SIGKILL, a killed foreground nook, many
 * nook processes at once). Each test gets a state directory and an image
 * store of its own.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { env, ok, ps, psRow, runDetached, stateEntries } from '../helpers/containers';
import { rootfs, show, startNook } from '../helpers/nook';
import { hostMountinfo, processesWithArgv, runningProcessesOf, waitUntil } from '../helpers/procs';
import { need } from '../helpers/users';

describe('run -d, ps, stop, wait, rm', () => {
  it.for(['sub', 'nosub'] as const)('a detached container runs until stopped, and ps and wait tell the truth (user %s)', async (kind, ctx) => {
    const e = env(need(ctx, kind));
    const argv = ['sleep', kind === 'sub' ? '2111' : '2112'];
    const id = await runDetached(e, ['--name', 'web'], argv);
    // nook itself has returned; the container runs on under its supervisor.
    expect(processesWithArgv(argv)).toHaveLength(1);
    const row = await psRow(e, 'web');
    expect(row).toMatchObject({ Id: id, State: 'running', ExitCode: null });
    expect(row!.Status).toMatch(/^Up /);
    expect(row!.Pid).toBe(processesWithArgv(argv)[0].pid);
    expect((await ok(e, ['ps', '-q'])).trim()).toBe(id.slice(0, 12));
    const table = await ok(e, ['ps']);
    expect(table).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    expect(table).toContain('web');

    const t0 = Date.now();
    expect((await ok(e, ['stop', 'web'])).trim()).toBe('web');
    // sleep as PID 1 has no SIGTERM handler: it ends at once (not after the 10 s timeout), as it would outside.
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(processesWithArgv(argv)).toEqual([]);
    expect(await psRow(e, 'web')).toMatchObject({ State: 'exited', ExitCode: 143 });
    expect((await ps(e, false)).length).toBe(0);
    expect((await ok(e, ['wait', 'web'])).trim()).toBe('143');

    expect((await ok(e, ['rm', 'web'])).trim()).toBe('web');
    expect(await ps(e)).toEqual([]);
    expect(stateEntries(e)).toEqual([]);
    expect(runningProcessesOf(e.user)).toEqual([]);
  });

  it('stop waits for a SIGTERM handler, and kills with SIGKILL after -t seconds one that ignores it', async () => {
    const e = env();
    await runDetached(e, ['--name', 'trap'], ['sh', '-c', 'trap "echo bye; exit 7" TERM; while true; do sleep 0.1; done']);
    await ok(e, ['stop', 'trap']);
    expect(await psRow(e, 'trap')).toMatchObject({ State: 'exited', ExitCode: 7 });

    await runDetached(e, ['--name', 'stubborn'], ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
    const t0 = Date.now();
    await ok(e, ['stop', '-t', '1', 'stubborn']);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8_000);
    expect(await psRow(e, 'stubborn')).toMatchObject({ State: 'exited', ExitCode: 137 });
  });

  it('exit codes reach ps, wait and inspect; wait blocks until the end', async () => {
    const e = env();
    await runDetached(e, ['--name', 'quick'], ['sh', '-c', 'exit 3']);
    await runDetached(e, ['--name', 'slow'], ['sh', '-c', 'sleep 0.5; exit 5']);
    const t0 = Date.now();
    expect((await ok(e, ['wait', 'quick', 'slow'])).split('\n')).toEqual(['3', '5', '']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(await psRow(e, 'slow')).toMatchObject({ State: 'exited', ExitCode: 5 });
    const [info] = JSON.parse(await ok(e, ['inspect', 'slow'])) as { State: { Status: string; ExitCode: number; Running: boolean }; Name: string }[];
    expect(info).toMatchObject({ Name: '/slow', State: { Status: 'exited', ExitCode: 5, Running: false } });
  });

  it('kill sends a signal; rm refuses a running container without -f; rm -f kills and removes it', async () => {
    const e = env();
    const argv = ['sleep', '2131'];
    await runDetached(e, ['--name', 'k'], argv);
    const r = await e.nook(['rm', 'k']);
    expect(r.code, show(r)).toBe(1); // docker's status for this refusal (cli-flags.test.ts checks its words)
    expect(r.stderr).toContain('running');
    expect(r.stderr).toContain('rm -f');
    expect(processesWithArgv(argv)).toHaveLength(1);
    expect((await ok(e, ['kill', '-s', 'USR1', 'k'])).trim()).toBe('k');
    // sleep has no USR1 handler: it ends as it would outside a container, and the code says USR1 (128 + 10).
    expect((await ok(e, ['wait', 'k'])).trim()).toBe('138');
    expect(await psRow(e, 'k')).toMatchObject({ State: 'exited', ExitCode: 138 });

    await runDetached(e, ['--name', 'k2'], argv);
    await ok(e, ['rm', '-f', 'k2']);
    expect(processesWithArgv(argv)).toEqual([]);
    expect((await ps(e)).map((x) => x.Names[0])).toEqual(['k']);
  });

  it('names are unique until rm frees them; ids work as unique prefixes', async () => {
    const e = env();
    const id = await runDetached(e, ['--name', 'only'], ['true']);
    const dup = await e.nook(['run', '-d', '--name', 'only', '--rootfs', rootfs(), '--', 'true']);
    expect(dup.code, show(dup)).toBe(125);
    expect(dup.stderr).toContain('"only" is already in use');
    expect(dup.stderr).toContain(id.slice(0, 12));
    expect((await ok(e, ['wait', id.slice(0, 6)])).trim()).toBe('0');
    await ok(e, ['rm', id.slice(0, 10)]);
    await runDetached(e, ['--name', 'only'], ['true']);
    const missing = await e.nook(['stop', 'nosuchname']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such container: nosuchname');
    const bad = await e.nook(['run', '-d', '--name', 'bad/name', '--rootfs', rootfs(), '--', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid container name');
  });

  it('a container without --name gets a generated one', async () => {
    const e = env();
    const id = await runDetached(e, [], ['true']);
    const row = (await ps(e)).find((r) => r.Id === id)!;
    expect(row.Names[0]).toMatch(/^[a-z]+_[a-z]+(_\d+)?$/);
  });

  it('--rm removes a detached container, its state and its writable layer when it exits', async () => {
    const e = env();
    const id = await runDetached(e, ['--rm', '--name', 'gone'], ['sh', '-c', 'exit 0']);
    await waitUntil(() => !stateEntries(e).includes(id), 'the container removed', 10_000);
    expect(await ps(e)).toEqual([]);
    expect(runningProcessesOf(e.user)).toEqual([]);
  });

  it('a failing command fails run -d with its exit code and the reason', async () => {
    const e = env();
    const r = await e.nook(['run', '-d', '--name', 'nocmd', '--rootfs', rootfs(), '--', 'nosuchcommand']);
    expect(r.code, show(r)).toBe(127);
    expect(r.stderr).toContain('nosuchcommand');
    expect(await psRow(e, 'nocmd')).toMatchObject({ State: 'exited', ExitCode: 127 });
  });

  it('a sandbox step that fails before the id maps are written is reported as itself, not as a newuidmap error', async () => {
    const e = env();
    // A mount point below a file of the rootfs cannot be made, whoever owns the rootfs (the suite's user, when not root).
    const r = await e.nook(['run', '-d', '--name', 'badmount', '-v', '/tmp:/bin/busybox/nowhere', '--rootfs', rootfs(), '--', 'true']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('create mount point /bin/busybox/nowhere');
    expect(r.stderr).not.toMatch(/newuidmap|newgidmap|uid map/);
  });
});

describe('restart and start', () => {
  it('--restart on-failure:N restarts a failing command N times, counted in ps', async () => {
    const e = env();
    await runDetached(e, ['--name', 'flaky', '--restart', 'on-failure:2'], ['sh', '-c', 'echo attempt; exit 3']);
    expect((await ok(e, ['wait', 'flaky'])).trim()).toBe('3');
    expect(await psRow(e, 'flaky')).toMatchObject({ State: 'exited', ExitCode: 3, RestartCount: 2 });
    // A successful exit is not a failure: no restart.
    await runDetached(e, ['--name', 'fine', '--restart', 'on-failure:2'], ['true']);
    expect((await ok(e, ['wait', 'fine'])).trim()).toBe('0');
    expect(await psRow(e, 'fine')).toMatchObject({ RestartCount: 0 });
  });

  it('--restart without -d, or with --rm, is refused', async () => {
    const e = env();
    for (const flags of [['--restart', 'on-failure'], ['-d', '--rm', '--restart', 'on-failure'], ['-d', '--restart', 'sometimes']]) {
      const r = await e.nook(['run', ...flags, '--rootfs', rootfs(), '--', 'true']);
      expect(r.code, `${flags.join(' ')}\n${show(r)}`).toBe(125);
      expect(r.stderr).toMatch(/^Error: .*\n  hint: /);
    }
  });

  it('start runs a stopped container again, in the background', async () => {
    const e = env();
    const argv = ['sleep', '2141'];
    await runDetached(e, ['--name', 'again'], argv);
    await ok(e, ['stop', 'again']);
    expect((await ok(e, ['start', 'again'])).trim()).toBe('again');
    expect(await psRow(e, 'again')).toMatchObject({ State: 'running' });
    expect(processesWithArgv(argv)).toHaveLength(1);
    await ok(e, ['rm', '-f', 'again']);
  });

  it('a container whose record a newer nook wrote is refused with a clear error (1, as docker), and can still be removed', async () => {
    const e = env();
    const id = await runDetached(e, ['--name', 'future'], ['true']);
    await ok(e, ['wait', 'future']);
    const file = path.join(e.state, 'containers', id, 'config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    config.spec.version = 99;
    fs.writeFileSync(file, JSON.stringify(config)); // in place: the test user keeps owning it
    for (const args of [['start', 'future'], ['inspect', 'future']]) {
      const r = await e.nook(args);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr).toMatch(/container future was created by a newer nook \(record version 99\); this nook reads record version 1 only/);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
    await ok(e, ['rm', 'future']);
    expect(stateEntries(e)).toEqual([]);
  });
});

describe('named containers in the foreground', () => {
  it('--name keeps the container after exit, with its exit code; stop reaches it while it runs', async () => {
    const e = env();
    const r = await e.nook(['run', '--name', 'fg', '--rootfs', rootfs(), '--', 'sh', '-c', 'echo out; exit 4']);
    expect(r.code, show(r)).toBe(4);
    expect(r.stdout).toBe('out\n');
    expect(await psRow(e, 'fg')).toMatchObject({ State: 'exited', ExitCode: 4 });

    const fg = startNook(['run', '--name', 'fg2', '--rootfs', rootfs(), '--', 'sh', '-c', 'echo ready; exec sleep 2151'], e.opts);
    await fg.waitForStdout('ready\n');
    expect(await psRow(e, 'fg2')).toMatchObject({ State: 'running' });
    await ok(e, ['stop', 'fg2']);
    const done = await fg.exited;
    expect(done.code, show(done)).toBe(143);
    expect(await psRow(e, 'fg2')).toMatchObject({ State: 'exited', ExitCode: 143 });
  });

  it('--rm --name leaves nothing behind', async () => {
    const e = env();
    const r = await e.nook(['run', '--rm', '--name', 'tmp', '--rootfs', rootfs(), '--', 'true']);
    expect(r.code, show(r)).toBe(0);
    expect(await ps(e)).toEqual([]);
    expect(stateEntries(e)).toEqual([]);
  });
});

describe('faults', () => {
  it('SIGKILL of a supervisor: the container dies with it, ps says exited, rm cleans up', async () => {
    const e = env();
    const argv = ['sleep', '2161'];
    const id = await runDetached(e, ['--name', 'orphan'], argv);
    const sup = execFileSync('pgrep', ['-f', `nook-supervisor .*${id}`], { encoding: 'utf8' }).trim().split('\n');
    expect(sup).toHaveLength(1);
    process.kill(Number(sup[0]), 'SIGKILL');
    await waitUntil(() => processesWithArgv(argv).length === 0, 'the container gone with its supervisor');
    const row = await psRow(e, 'orphan');
    expect(row).toMatchObject({ State: 'exited', ExitCode: 137 });
    await ok(e, ['rm', 'orphan']);
    expect(stateEntries(e)).toEqual([]);
    expect(runningProcessesOf(e.user)).toEqual([]);
  });

  it('SIGKILL of a foreground nook run --name: no process is left, and ps says exited', async () => {
    const e = env();
    const fg = startNook(['run', '--name', 'victim', '--rootfs', rootfs(), '--', 'sh', '-c', 'echo ready; exec sleep 2171'], e.opts);
    await fg.waitForStdout('ready\n');
    fg.kill('SIGKILL');
    await fg.exited.catch(() => undefined);
    await waitUntil(() => processesWithArgv(['sleep', '2171']).length === 0, 'the container gone with nook');
    const row = await psRow(e, 'victim');
    expect(row, JSON.stringify(row)).toMatchObject({ State: 'exited', ExitCode: 137 });
    expect(runningProcessesOf(e.user)).toEqual([]);
  });

  it('run -d racing container prune: no internal error, and no running container vanishes', async () => {
    const e = env();
    const argv = ['sleep', '2183'];
    let running = true;
    const prunes: Promise<void>[] = [];
    // Prunes in a loop all the time the containers are created (each used to be unlocked for a moment after create).
    for (let i = 0; i < 2; i++)
      prunes.push(
        (async () => {
          while (running) {
            const r = await e.nook(['container', 'prune', '-f']);
            expect(r.code, show(r)).toBe(0);
          }
        })(),
      );
    const runs: Awaited<ReturnType<typeof e.nook>>[] = [];
    for (let round = 0; round < 3; round++)
      runs.push(...(await Promise.all(Array.from({ length: 5 }, () => e.nook(['run', '-d', '--rootfs', rootfs(), '--', ...argv])))));
    running = false;
    await Promise.all(prunes);
    for (const r of runs) {
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code, show(r)).toBe(0);
    }
    const ids = runs.map((r) => r.stdout.trim());
    const rows = await ps(e, false);
    expect(rows.map((r) => r.Id).sort()).toEqual([...ids].sort());
    expect(processesWithArgv(argv)).toHaveLength(ids.length);
    for (const id of ids) await ok(e, ['rm', '-f', id]);
    expect(stateEntries(e)).toEqual([]);
  });

  it('20 concurrent run -d and rm -f keep the state consistent and leave nothing behind', async () => {
    const e = env();
    const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const ids = await Promise.all(names.map((n) => runDetached(e, ['--name', n], ['sleep', '2181'])));
    expect(new Set(ids).size).toBe(20);
    const rows = await ps(e, false);
    expect(rows.map((r) => r.Names[0]).sort()).toEqual([...names].sort());
    expect(processesWithArgv(['sleep', '2181'])).toHaveLength(20);
    // Removals race with each other and with new runs that take the names being freed.
    const results = await Promise.all(
      names.map(async (n) => {
        const rm = await e.nook(['rm', '-f', n]);
        const again = await e.nook(['run', '-d', '--name', n, '--rootfs', rootfs(), '--', 'sleep', '2182']);
        const rm2 = await e.nook(['rm', '-f', n]);
        return [rm, again, rm2];
      }),
    );
    results.flat().forEach((r) => expect(r.code, show(r)).toBe(0));
    expect(await ps(e)).toEqual([]);
    expect(stateEntries(e)).toEqual([]);
    expect(fs.readdirSync(path.join(e.state, 'names'))).toEqual([]);
    expect(runningProcessesOf(e.user)).toEqual([]);
    expect(hostMountinfo()).not.toContain(rootfs());
  });
});
