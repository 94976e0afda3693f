/**
 * docker's container lifecycle commands beyond run/stop/rm, as unprivileged
 * users: create, start -a / --all, attach, rename, top, pause/unpause and
 * stats (whose cgroup v2 paths run in test/vm; here the errors a host
 * without a container cgroup gives), podman's exists, and system prune -a.
 * Each test has a state directory and image store of its own, and removes
 * its containers however it ends.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ID, ok, ps, psRow, runDetached, type Env } from '../helpers/containers';
import { importBase } from '../helpers/build';
import { rootfs, show, startNook } from '../helpers/nook';
import { runOnPty } from '../helpers/pty';
import { processesWithArgv, waitUntil } from '../helpers/procs';
import { scratchDir } from '../helpers/files';
import { need, type TestUser } from '../helpers/users';

/** A test's environment whose containers are all removed at its end, however it ends. */
function cleanEnv(user?: TestUser): Env {
  const e = env(user);
  onTestFinished(async () => {
    const r = await e.nook(['ps', '-aq', '--no-trunc']);
    const ids = r.stdout.split('\n').filter(Boolean);
    if (ids.length) await e.nook(['rm', '-f', ...ids]);
  });
  return e;
}

async function create(e: Env, flags: string[], cmd: string[]): Promise<string> {
  const id = (await ok(e, ['create', '--rootfs', rootfs(), ...flags, '--', ...cmd])).trim();
  expect(id).toMatch(ID);
  return id;
}

/** The host's cgroup layout, as detect.ts names it. */
function hostCgroupMode(): 'v2' | 'hybrid' | 'v1' {
  const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const fsAt = (p: string) => mi.filter((l) => l.split(' ')[4] === p).map((l) => l.split(' - ')[1]?.split(' ')[0]).at(-1);
  if (fsAt('/sys/fs/cgroup') === 'cgroup2') return 'v2';
  return fsAt('/sys/fs/cgroup/unified') === 'cgroup2' ? 'hybrid' : 'v1';
}

/** Why a container started without limits has no cgroup v2 of its own on this host, in nook's words. */
function whyNoCgroup(): string {
  const mode = hostCgroupMode();
  return mode === 'v2'
    ? 'it has no cgroup of its own (it was started without resource limits), and nook needs its own cgroup v2 for this'
    : `this host mounts cgroup v1 (${mode === 'hybrid' ? 'a hybrid layout: its cgroup v2 has no controllers' : 'no cgroup v2 at all'}), and nook needs the container's own cgroup v2 for this`;
}

describe('create and start', () => {
  it.for(['sub', 'nosub'] as const)('create makes a container that exists but has not started; start runs it (user %s)', async (kind, ctx) => {
    const e = cleanEnv(need(ctx, kind));
    const argv = ['sleep', kind === 'sub' ? '2211' : '2212'];
    const id = await create(e, ['--name', 'c1'], argv);
    expect(await psRow(e, 'c1')).toMatchObject({ Id: id, State: 'created', Status: 'Created', ExitCode: null, Pid: null });
    expect(await ok(e, ['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).toBe('c1 Created\n');
    expect(await ok(e, ['ps', '-q'])).toBe('');
    expect(processesWithArgv(argv)).toEqual([]);
    const [info] = JSON.parse(await ok(e, ['inspect', 'c1'])) as { State: { Status: string; Running: boolean } }[];
    expect(info.State).toMatchObject({ Status: 'created', Running: false });

    // docker's management-command spelling works too.
    expect(await ok(e, ['container', 'start', 'c1'])).toBe('c1\n');
    const row = await psRow(e, 'c1');
    expect(row).toMatchObject({ Id: id, State: 'running' });
    expect(processesWithArgv(argv).map((p) => p.pid)).toEqual([row!.Pid]);
    // Starting a running container again: its name, nothing else, as docker.
    expect(await ok(e, ['start', 'c1'])).toBe('c1\n');
    expect(processesWithArgv(argv)).toHaveLength(1);
  });

  it('create from an image keeps its writable layer until start; --rm removes it after it exits', async () => {
    const e = cleanEnv();
    await importBase(e);
    const id = (await ok(e, ['create', '--rm', '--name', 'img', 'base:1', 'sh', '-c', 'echo from-image; exit 6'])).trim();
    expect(id).toMatch(ID);
    expect(await psRow(e, 'img')).toMatchObject({ State: 'created' });
    const r = await e.nook(['start', '-a', 'img']);
    expect(r.code, show(r)).toBe(6);
    expect(r.stdout).toBe('from-image\n');
    await waitUntil(() => !fs.existsSync(path.join(e.state, 'containers', id)), 'the --rm container to be removed');
    expect(await ps(e)).toEqual([]);
  });

  it('start -a shows this run\'s stdout and stderr and exits with the container\'s status', async () => {
    const e = cleanEnv();
    await create(e, ['--name', 'a'], ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    const first = await e.nook(['start', '-a', 'a']);
    expect(first.code, show(first)).toBe(3);
    expect(first.stdout).toBe('out\n');
    expect(first.stderr).toBe('err\n');
    expect(await psRow(e, 'a')).toMatchObject({ State: 'exited', ExitCode: 3 });
    // Again: only the new run's output, not the log's earlier lines.
    const second = await e.nook(['start', '--attach', 'a']);
    expect(second.code, show(second)).toBe(3);
    expect(second.stdout).toBe('out\n');
    expect((await ok(e, ['logs', 'a'])).split('\n')).toEqual(['out', 'out', '']);
  });

  it('start -i is -a for a container created without -i (docker\'s rule); start -a of several, and of none that exists, fail with exit 1', async () => {
    const e = cleanEnv();
    await create(e, ['--name', 'i', '-i'], ['cat']);
    await create(e, ['--name', 'out'], ['sh', '-c', 'echo said; exit 3']);
    const attached = await e.nook(['start', '--attach', '--interactive', 'out']);
    expect(attached.code, show(attached)).toBe(3);
    expect(attached.stdout).toBe('said\n');
    expect(await ok(e, ['logs', 'out'])).toBe('said\n');
    const many = await e.nook(['start', '-a', 'i', 'i']);
    expect(many.code, show(many)).toBe(1);
    expect(many.stderr).toContain('you cannot start and attach multiple containers at once');
    const none = await e.nook(['start', 'nope']);
    expect(none.code, show(none)).toBe(1);
    expect(none.stderr).toMatch(/no such container: nope/i);
  });

  it('start --all starts every container that is not running, and prints their full ids (podman)', async () => {
    const e = cleanEnv();
    const a = await create(e, ['--name', 'x'], ['sleep', '2221']);
    const b = await create(e, ['--name', 'y'], ['sleep', '2222']);
    const both = await e.nook(['start', '--all', 'x']);
    expect(both.code, show(both)).toBe(125);
    expect(both.stderr).toBe('Error: either start all containers or the container(s) provided in the arguments\n');
    const out = (await ok(e, ['start', '--all'])).split('\n').filter(Boolean).sort();
    expect(out).toEqual([a, b].sort());
    expect(processesWithArgv(['sleep', '2221'])).toHaveLength(1);
    expect(processesWithArgv(['sleep', '2222'])).toHaveLength(1);
    expect((await ps(e, false)).map((r) => r.State)).toEqual(['running', 'running']);
  });
});

describe('attach', () => {
  it.for(['sub', 'nosub'] as const)('attach prints the output from now on until the container exits, then exits with its status (user %s)', async (kind, ctx) => {
    const e = cleanEnv(need(ctx, kind));
    const id = await runDetached(e, ['--name', 'talk', '--tmpfs', '/tmp'], ['sh', '-c', 'echo before; i=0; while [ ! -e /tmp/now ]; do i=$((i+1)); echo tick $i; sleep 0.05; done; echo late; exit 4']);
    // Attached only once the first line is in the log: it must not be shown.
    const log = path.join(e.state, 'containers', id, 'container.log');
    await waitUntil(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('tick'), 'the first ticks in the log');
    const att = startNook(['attach', 'talk'], e.opts);
    await att.waitForStdout('tick');
    await ok(e, ['exec', 'talk', 'touch', '/tmp/now']);
    const r = await att.exited;
    expect(r.code, show(r)).toBe(4);
    const lines = r.stdout.split('\n');
    // From when it attached: not the first line, then ticks, then the end.
    expect(lines[0]).toMatch(/^tick \d+$/);
    expect(lines.slice(-2)).toEqual(['late', '']);
    expect(r.stdout).not.toContain('before');
    // stdin here is /dev/null and the container has no tty: no note about input.
    expect(r.stderr).toBe('');
  });

  it('attach to a stopped container fails as docker\'s; with a tty container it notes that input is not attached', async () => {
    const e = cleanEnv();
    await create(e, ['--name', 'idle'], ['true']);
    const r = await e.nook(['attach', 'idle']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('You cannot attach to a stopped container, start it first');
    const missing = await e.nook(['attach', 'nope']);
    expect(missing.code, show(missing)).toBe(1);

    await runDetached(e, ['-t', '--name', 'tty'], ['sh', '-c', 'sleep 0.5; echo done-tty']);
    const att = await e.nook(['attach', 'tty']);
    expect(att.code, show(att)).toBe(0);
    expect(att.stderr).toContain('nook: note: input is not attached: the container was not created with -i, or has a terminal (-t)');
    expect(att.stdout).toContain('done-tty');
    await runDetached(e, ['-t', '--name', 'tty2'], ['sh', '-c', 'sleep 0.5; echo done-tty2']);
    const quiet = await e.nook(['attach', '--no-stdin', 'tty2']);
    expect(quiet.code, show(quiet)).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  it('Ctrl-C at attach is passed on to the container as SIGINT', async () => {
    const e = cleanEnv();
    await runDetached(e, ['--name', 'int'], ['sh', '-c', 'trap "echo got-int; exit 9" INT; while true; do echo tick; sleep 0.05; done']);
    const att = startNook(['attach', 'int'], e.opts);
    // Output shown: nook is attached, its signal handlers in place.
    await att.waitForStdout('tick');
    att.child.kill('SIGINT');
    const r = await att.exited;
    expect(r.code, show(r)).toBe(9);
    expect(r.stdout).toContain('got-int');
    expect(await psRow(e, 'int')).toMatchObject({ State: 'exited', ExitCode: 9 });
  });
});

describe('rename', () => {
  it('rename gives a running container a new name; a name in use and a missing container fail with exit 1', async () => {
    const e = cleanEnv();
    const id = await runDetached(e, ['--name', 'old'], ['sleep', '2231']);
    await create(e, ['--name', 'other'], ['true']);
    expect(await ok(e, ['rename', 'old', 'new'])).toBe('');
    expect(await psRow(e, 'new')).toMatchObject({ Id: id, State: 'running' });
    expect(await psRow(e, 'old')).toBeUndefined();
    // The old name is free again, the new one works for every command.
    await create(e, ['--name', 'old'], ['true']);
    const taken = await e.nook(['rename', 'new', 'other']);
    expect(taken.code, show(taken)).toBe(1);
    expect(taken.stderr).toContain('the container name "other" is already in use by container');
    const missing = await e.nook(['rename', 'nope', 'x']);
    expect(missing.code, show(missing)).toBe(1);
    expect(missing.stderr).toMatch(/no such container: nope/i);
    const bad = await e.nook(['rename', 'new', '-bad']);
    expect(bad.code, show(bad)).not.toBe(0);
    expect((await ok(e, ['stop', 'new'])).trim()).toBe('new');
    expect(processesWithArgv(['sleep', '2231'])).toEqual([]);
  });
});

describe('top', () => {
  it.for(['sub', 'nosub'] as const)("top lists the container's processes with host pids, in ps -ef's columns (user %s)", async (kind, ctx) => {
    const e = cleanEnv(need(ctx, kind));
    await runDetached(e, ['--name', 't'], ['sh', '-c', 'sleep 2241 & sleep 2242; wait']);
    await waitUntil(() => processesWithArgv(['sleep', '2241']).length === 1 && processesWithArgv(['sleep', '2242']).length === 1, 'both sleeps');
    const init = (await psRow(e, 't'))!.Pid!;
    const out = await ok(e, ['top', 't']);
    const [head, ...rows] = out.trimEnd().split('\n');
    expect(head.split(/\s+/)).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    const byPid = new Map(rows.map((r) => [Number(r.split(/\s+/)[1]), r]));
    expect([...byPid.keys()].sort()).toEqual([init, processesWithArgv(['sleep', '2241'])[0].pid, processesWithArgv(['sleep', '2242'])[0].pid].sort());
    expect(byPid.get(init)).toMatch(/sh -c sleep 2241 & sleep 2242; wait$/);
    expect(byPid.get(processesWithArgv(['sleep', '2241'])[0].pid)).toMatch(/ sleep 2241$/);
    // docker's layout: columns at least 20 wide.
    expect(head).toMatch(/^UID {17}PID {17}/);
    // A process `nook exec` started joins the container's pid namespace, though its parent is outside: top lists it too.
    const exec = startNook(['exec', 't', 'sleep', '2243'], e.opts);
    await waitUntil(() => processesWithArgv(['sleep', '2243']).length === 1, 'the exec\'d sleep');
    const withExec = await ok(e, ['top', 't']);
    expect(withExec).toMatch(new RegExp(`^\\S+\\s+${processesWithArgv(['sleep', '2243'])[0].pid}\\s.* sleep 2243$`, 'm'));
    process.kill(processesWithArgv(['sleep', '2243'])[0].pid, 'SIGKILL');
    await exec.exited;
    // ps options of one's own choosing.
    const custom = await ok(e, ['top', 't', '-o', 'pid,args']);
    expect(custom.split('\n')[0].split(/\s+/)).toEqual(['PID', 'COMMAND']);
    expect(custom).toContain('sleep 2242');
    const stopped = await e.nook(['top', 'nope']);
    expect(stopped.code, show(stopped)).toBe(1);
  });
});

describe('pause, unpause and stats without a container cgroup', () => {
  it('pause and unpause say exactly why they cannot, and exit 1', async () => {
    const e = cleanEnv();
    const argv = ['sleep', '2251'];
    await runDetached(e, ['--name', 'p'], argv);
    await create(e, ['--name', 'made'], ['true']);
    const why = whyNoCgroup();
    for (const cmd of ['pause', 'unpause']) {
      const r = await e.nook([cmd, 'p']);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr.split('\n')[0]).toBe(`Error: cannot ${cmd} container p: ${why}`);
    }
    const notRunning = await e.nook(['pause', 'made']);
    expect(notRunning.code, show(notRunning)).toBe(1);
    expect(notRunning.stderr).toContain('Container made is not running');
    // Still running, not paused.
    expect(await psRow(e, 'p')).toMatchObject({ State: 'running' });
    expect((await psRow(e, 'p'))!.Status).not.toContain('Paused');
    expect(processesWithArgv(argv)[0].state).not.toBe('T');
  });

  it('stats --no-stream: an exact error for a running container without its own cgroup v2, zeros for a stopped one', async () => {
    const e = cleanEnv();
    await runDetached(e, ['--name', 's'], ['sleep', '2261']);
    const id = await create(e, ['--name', 'z'], ['true']);
    const r = await e.nook(['stats', '--no-stream', 's']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`Error: cannot show the stats of container s: ${whyNoCgroup()}`);
    const z = await ok(e, ['stats', '--no-stream', 'z']);
    expect(z.split('\n')[0]).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(z.split('\n')[1].split(/ {3,}/)).toEqual([id.slice(0, 12), 'z', '0.00%', '0B / 0B', '0.00%', '0B / 0B', '0B / 0B', '0']);
    expect(await ok(e, ['stats', '--no-stream', '--format', '{{.Name}}: {{.CPUPerc}} {{.PIDs}}', 'z'])).toBe('z: 0.00% 0\n');
    expect(JSON.parse(await ok(e, ['stats', '--no-stream', '--format', 'json', 'z']))).toMatchObject({ ID: id.slice(0, 12), Name: 'z', MemUsage: '0B / 0B' });
    const missing = await e.nook(['stats', '--no-stream', 'nope']);
    expect(missing.code, show(missing)).toBe(1);
    // Without --no-stream: the table again every second (no screen clearing when stdout is not a terminal), until Ctrl-C.
    const stream = startNook(['stats', '--format', '{{.Name}} {{.PIDs}}', 'z'], e.opts);
    await waitUntil(() => stream.stdout.split('\n').length > 2, 'two tables', 10_000);
    stream.child.kill('SIGINT');
    const streamed = await stream.exited;
    expect(streamed.stdout.startsWith('z 0\nz 0\n'), streamed.stdout).toBe(true);
    expect(streamed.stdout).not.toContain('\x1b');
  });
});

describe('exists and system prune -a', () => {
  it('container exists and image exists: exit 0 or 1, no output', async () => {
    const e = cleanEnv();
    const id = await create(e, ['--name', 'here'], ['true']);
    await importBase(e);
    for (const [args, code] of [
      [['container', 'exists', 'here'], 0],
      [['container', 'exists', id.slice(0, 12)], 0],
      [['container', 'exists', 'gone'], 1],
      [['image', 'exists', 'base:1'], 0],
      [['image', 'exists', 'base:2'], 1],
      [['image', 'exists', 'nothing/here'], 1],
    ] as const) {
      const r = await e.nook([...args]);
      expect(r.code, `${args.join(' ')}\n${show(r)}`).toBe(code);
      expect(r.stdout + r.stderr).toBe('');
    }
  });

  it('system prune keeps tagged images; -a removes every image no container uses; a terminal is asked first', async () => {
    const e = cleanEnv();
    await importBase(e);
    // A second image, with another id: the same files, another message.
    const dir = scratchDir(e.user, 'other-');
    const tar = path.join(dir, 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs(), '--numeric-owner', '-cf', tar, '.']);
    fs.chmodSync(tar, 0o644);
    await ok(e, ['import', '--message', 'another', tar, 'other:1']);
    const otherId = (await ok(e, ['image', 'inspect', '-f', '{{.Id}}', 'other:1'])).trim();
    expect(otherId).toMatch(/^sha256:/);
    await ok(e, ['run', '-d', '--name', 'user', 'base:1', 'sleep', '2271']);
    await create(e, ['--name', 'stopped'], ['true']);

    const plain = await ok(e, ['system', 'prune']);
    expect(plain).toContain('Deleted Containers:');
    expect(await psRow(e, 'stopped')).toBeUndefined();
    expect((await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n').sort()).toEqual(['', 'base:1', 'other:1']);

    // On a terminal without -f: docker's warning, and "n" keeps everything.
    const asked = await runOnPty(['system', 'prune', '-a'], { user: e.user, env: e.opts.env, steps: [{ expect: '[y/N] ', send: 'n\\n' }] });
    expect(asked.status, asked.output).toBe(0);
    expect(asked.output).toContain('WARNING! This will remove:\n  - all stopped containers\n  - all images without at least one container associated to them\n');
    expect(await ok(e, ['image', 'exists', 'other:1'])).toBe('');

    const all = await ok(e, ['system', 'prune', '-a']);
    expect(all).toContain(`Deleted Images:\ndeleted: ${otherId}\n`);
    expect(await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('base:1\n');
    expect(await psRow(e, 'user')).toMatchObject({ State: 'running' });
  });
});
