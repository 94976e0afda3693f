/**
 * build/nook-runc against the OCI runtime spec (runtime.md, config.md,
 * config-linux.md) and runc's command line: one test per requirement nook
 * claims, each asserting what a real container process (or the host, for
 * the runtime's side) sees. Bundles are runc's `spec --rootless` template
 * (test/helpers/oci-bundle.ts) over the busybox rootfs, run as the
 * unprivileged test users, each test with its own --root.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { show } from '../helpers/nook';
import { NOOK } from '../helpers/paths';
import { alive, consoleSocket, fileText, OciRuntime, rootfsFile, rootlessSpec, statusField, until, userRootfs, type Spec } from '../helpers/oci-bundle';
import { need, testUsers, type TestUser } from '../helpers/users';

function runtime(user: TestUser = testUsers().any): OciRuntime {
  const rt = new OciRuntime(user);
  onTestFinished(() => rt.cleanup());
  return rt;
}

/** A bind of a host directory the test user owns on /mnt/data. */
function withData(rt: OciRuntime, spec: Spec): string {
  const data = rt.dir(`data-${Math.random().toString(36).slice(2, 8)}`);
  spec.mounts.push({ destination: '/mnt/data', type: 'bind', source: data, options: ['rbind'] });
  return data;
}

/** `run` of `args` in a container from the rootless template, edited by `edit`; must exit 0; its stdout. */
async function inside(rt: OciRuntime, args: string[], edit: (s: Spec) => void = () => {}): Promise<string> {
  const spec = rootlessSpec(rt.user, args);
  edit(spec);
  const r = await rt.run(`c${Math.random().toString(36).slice(2, 8)}`, spec);
  expect(r.code, show(r)).toBe(0);
  return r.stdout;
}

const shIn = (rt: OciRuntime, script: string, edit?: (s: Spec) => void) => inside(rt, ['sh', '-c', script], edit);

/** Live processes executing `exe` (a host path). */
function processesOf(exe: string): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/exe`) === exe && alive(pid);
    } catch {
      return false;
    }
  });
}

/** The init's pid once its state says it has ended. */
async function waitStopped(rt: OciRuntime, id: string, pid: number): Promise<void> {
  await until(`container ${id} (pid ${pid}) to end`, () => !alive(pid));
  expect((await rt.state(id)).status).toBe('stopped');
}

describe('lifecycle (runtime.md)', () => {
  it('create stops before the user program; start runs it; state follows; delete removes the container', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'echo ran > /mnt/data/out; exec sleep 1000']);
    spec.annotations = { 'org.example.key': 'value' };
    const data = withData(rt, spec);
    const pidFile = path.join(rt.work, 'init.pid');
    const bundle = rt.bundle(spec);
    const created = await rt.runc(['create', '--bundle', bundle, '--pid-file', pidFile, 'c1']);
    expect(created.code, show(created)).toBe(0);

    const st = await rt.state('c1');
    expect(st).toMatchObject({ id: 'c1', status: 'created', bundle, ociVersion: '1.0.2-dev', rootfs: spec.root.path, annotations: { 'org.example.key': 'value' } });
    expect(st.pid).toBeGreaterThan(0);
    expect(alive(st.pid), 'the created init is alive').toBe(true);
    expect(fs.readFileSync(pidFile, 'utf8').trim()).toBe(String(st.pid));
    // The user program has not been executed: it would have written the file at once.
    expect(fs.existsSync(path.join(data, 'out'))).toBe(false);
    expect(fs.readlinkSync(`/proc/${st.pid}/exe`)).not.toMatch(/busybox/);
    // Nothing of nook stays but the waiting init itself: no other process runs this build's executable.
    expect(processesOf(fs.realpathSync(NOOK))).toEqual([st.pid]);

    await rt.ok(['start', 'c1']);
    expect(await until('the program to write', () => fileText(path.join(data, 'out')))).toBe('ran\n');
    const running = await rt.state('c1');
    expect(running).toMatchObject({ status: 'running', pid: st.pid });
    expect(fs.readlinkSync(`/proc/${st.pid}/exe`)).toMatch(/busybox$/);

    await rt.ok(['kill', 'c1', 'KILL']);
    await waitStopped(rt, 'c1', st.pid);
    await rt.ok(['delete', 'c1']);
    const gone = await rt.runc(['state', 'c1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('container "c1" does not exist');
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });

  it('the state is "stopped" once the program exits by itself, and delete then needs no --force', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['true']));
    const { pid } = await rt.state('c1');
    await rt.ok(['start', 'c1']);
    await waitStopped(rt, 'c1', pid);
    await rt.ok(['delete', 'c1']);
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });

  it('run waits for the program, exits with its status and removes the container', async () => {
    const rt = runtime();
    const r = await rt.run('c1', rootlessSpec(rt.user, ['sh', '-c', 'echo out; echo err >&2; exit 3']));
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(await rt.ok(['list', '-q'])).toBe('');
  });

  it('run relays the signals it gets to the container\'s process', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'trap "echo got-term; exit 9" TERM; echo > /mnt/data/ready; while :; do sleep 1 & wait $!; done']);
    const data = withData(rt, spec);
    let runPid = 0;
    const run = rt.run('c1', spec, { onSpawn: (pid) => (runPid = pid) });
    await until('the trap to be set', () => fs.existsSync(path.join(data, 'ready')));
    process.kill(runPid, 'SIGTERM');
    const r = await run;
    expect(r.code, show(r)).toBe(9);
    expect(r.stdout).toBe('got-term\n');
  });

  it('run -d returns with the container running', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sleep', '1000']);
    const r = await rt.runc(['run', '-d', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(0);
    const st = await rt.state('c1');
    expect(st.status).toBe('running');
    // start returns once the init is released; its execve follows.
    await until('the init to execute sleep', () => fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8') === 'sleep\u00001000\u0000');
  });

  it('list shows every container with its status; -q only the ids', async () => {
    const rt = runtime();
    await rt.create('a1', rootlessSpec(rt.user, ['sleep', '1000']));
    await rt.create('b2', rootlessSpec(rt.user, ['sleep', '1000']));
    await rt.ok(['start', 'b2']);
    const list = JSON.parse(await rt.ok(['list', '--format', 'json'])) as { id: string; status: string; pid: number }[];
    expect(list.map((c) => [c.id, c.status])).toEqual([['a1', 'created'], ['b2', 'running']]);
    expect(await rt.ok(['list', '-q'])).toBe('a1\nb2\n');
  });

  it('ps --format json lists the container\'s processes as host pids', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'sleep 1001 & echo $! > /mnt/data/child; wait']);
    const data = withData(rt, spec);
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    const { pid } = await rt.state('c1');
    await until('the child to start', () => fileText(path.join(data, 'child')));
    const pids = JSON.parse(await rt.ok(['ps', '--format', 'json', 'c1'])) as number[];
    expect(pids).toContain(pid);
    expect(pids).toHaveLength(2);
    const child = pids.find((p) => p !== pid)!;
    // $! is known once forked; the child executes sleep right after.
    await until('the child to execute sleep', () => fs.readFileSync(`/proc/${child}/cmdline`, 'utf8') === 'sleep\u00001001\u0000');
  });
});

describe('bundle (bundle.md, config.md "root")', () => {
  it('root.path relative to the bundle', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['cat', '/etc/rootfs-marker'], 'rootfs');
    const bundle = rt.bundle(spec);
    execFileSync('cp', ['-a', userRootfs(rt.user), path.join(bundle, 'rootfs')]);
    const r = await rt.runc(['run', '--bundle', bundle, 'c1']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('this is the test rootfs\n');
  });

  it('the bundle defaults to the current directory', async () => {
    const rt = runtime();
    const bundle = rt.bundle(rootlessSpec(rt.user, ['sleep', '1000']));
    const r = await rt.runc(['create', 'c1'], { cwd: bundle });
    expect(r.code, show(r)).toBe(0);
    expect((await rt.state('c1')).bundle).toBe(bundle);
  });

  it.each([
    ['no ociVersion', (s: Spec) => delete s.ociVersion, 'ociVersion'],
    ['a relative cwd', (s: Spec) => (s.process.cwd = 'tmp'), 'process.cwd'],
    ['a mount destination that is not absolute', (s: Spec) => s.mounts.push({ destination: 'mnt', type: 'tmpfs', source: 'tmpfs' }), 'mounts['],
    ['an unknown capability', (s: Spec) => s.process.capabilities.bounding.push('CAP_NO_SUCH'), 'CAP_NO_SUCH'],
    ['an ociVersion of another major version', (s: Spec) => (s.ociVersion = '2.0.0'), 'ociVersion'],
  ])('a config with %s is refused by create, naming the field', async (_what, edit, field) => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    edit(spec);
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain(field);
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });
});

describe('errors (runc\'s messages, exit status 1)', () => {
  it.each(['state', 'start', 'kill', 'delete'])('%s of an unknown id: container "x" does not exist', async (cmd) => {
    const rt = runtime();
    const r = await rt.runc([cmd, 'x']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('container "x" does not exist');
  });

  it('kill of a stopped container: container not running', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['true']));
    const { pid } = await rt.state('c1');
    await rt.ok(['start', 'c1']);
    await waitStopped(rt, 'c1', pid);
    const r = await rt.runc(['kill', 'c1', 'KILL']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('container not running');
  });

  it('create of an existing id fails and leaves the first container as it was', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    const before = await rt.state('c1');
    const r = await rt.runc(['create', '--bundle', rt.bundle(rootlessSpec(rt.user, ['true'])), 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('already exists');
    expect(await rt.state('c1')).toEqual(before);
    expect(alive(before.pid)).toBe(true);
  });

  it('start of a running container fails', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    await rt.ok(['start', 'c1']);
    const r = await rt.runc(['start', 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('cannot start an already running container');
  });

  it('delete of a running container fails without --force and kills it with --force', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    await rt.ok(['start', 'c1']);
    const { pid } = await rt.state('c1');
    const r = await rt.runc(['delete', 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/not stopped: running/);
    expect(alive(pid)).toBe(true);
    await rt.ok(['delete', '--force', 'c1']);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });

  // runtime.md, delete: "Attempting to delete a container that is not stopped MUST generate an error".
  it('delete of a created (never started) container fails without --force; --force kills its waiting init', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    const { pid } = await rt.state('c1');
    const r = await rt.runc(['delete', 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/not stopped: created/);
    expect(alive(pid)).toBe(true);
    await rt.ok(['delete', '--force', 'c1']);
    expect(alive(pid)).toBe(false);
  });

  it('--log FILE --log-format json: the error as a JSON line', async () => {
    const rt = runtime();
    const log = path.join(rt.work, 'log.json');
    const r = await rt.runc(['state', 'nosuch'], { globals: ['--log', log, '--log-format', 'json'] });
    expect(r.code).toBe(1);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
    const last = lines[lines.length - 1];
    expect(last).toMatchObject({ level: 'error', msg: 'container "nosuch" does not exist' });
    expect(Number.isNaN(Date.parse(last.time))).toBe(false);
  });

  // A container gets a cgroup only where the user has a delegated cgroup v2 subtree: without one,
  // pause, resume and update say so; with one, pause and resume change the state.
  it('pause and resume change the state, or say that the container has no cgroup; so does update', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    await rt.ok(['start', 'c1']);
    const pause = await rt.runc(['pause', 'c1']);
    if (pause.code === 0) {
      expect((await rt.state('c1')).status).toBe('paused');
      await rt.ok(['resume', 'c1']);
      expect((await rt.state('c1')).status).toBe('running');
      return;
    }
    expect(pause.code, show(pause)).toBe(1);
    expect(pause.stderr).toContain('no cgroup of its own');
    const resume = await rt.runc(['resume', 'c1']);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain('is not paused');
    const resources = path.join(rt.work, 'resources.json');
    fs.writeFileSync(resources, '{"pids": {"limit": 10}}');
    const update = await rt.runc(['update', '--resources', resources, 'c1']);
    expect(update.code).toBe(1);
    expect(update.stderr).toContain('no cgroup of its own');
    expect((await rt.state('c1')).status).toBe('running');
  });
});

describe('hooks (config.md "POSIX-platform Hooks", runtime.md lifecycle)', () => {
  /** A hook that appends "NAME STATE-JSON" to `log` (a path as the hook sees it). */
  const hook = (name: string, log: string, extra = '') => ({
    path: '/bin/sh',
    args: ['sh', '-c', `${extra}printf '%s %s\\n' ${name} "$(cat)" >> ${log}`],
    env: ['PATH=/usr/bin:/bin'],
  });

  interface HookLine {
    name: string;
    state: { ociVersion: string; id: string; status: string; pid?: number; bundle: string };
  }
  const readLog = (file: string): HookLine[] =>
    (fileText(file) ?? '').trim().split('\n').filter(Boolean).map((l) => {
      const sp = l.indexOf(' ');
      return { name: l.slice(0, sp), state: JSON.parse(l.slice(sp + 1)) as HookLine['state'] };
    });

  function hookedSpec(rt: OciRuntime, args: string[]): { spec: Spec; log: string; data: string } {
    const spec = rootlessSpec(rt.user, args);
    const data = withData(rt, spec);
    const log = path.join(data, 'hooks.log');
    spec.hooks = {
      prestart: [hook('prestart', log)],
      createRuntime: [hook('createRuntime', log)],
      // In the container's mount namespace before pivot_root: the host's paths still resolve.
      createContainer: [hook('createContainer', log)],
      // In the container after pivot_root: the log through its bind mount.
      startContainer: [hook('startContainer', '/mnt/data/hooks.log')],
      poststart: [hook('poststart', log)],
      poststop: [hook('poststop', log)],
    };
    return { spec, log, data };
  }

  it('run in order with the state on stdin: create, start, delete each run theirs', async () => {
    const rt = runtime();
    const { spec, log } = hookedSpec(rt, ['sleep', '1000']);
    const bundle = rt.bundle(spec);
    expect((await rt.runc(['create', '--bundle', bundle, 'c1'])).code).toBe(0);
    const { pid } = await rt.state('c1');
    const afterCreate = readLog(log);
    // prestart: "after the start operation is called" (config.md, runtime-spec 1.0.2; runc runs it in create).
    expect(afterCreate.map((h) => h.name)).toEqual(['createRuntime', 'createContainer']);
    // runtime.md: "created" once the runtime has finished creating the environment (lifecycle step 2), before these hooks (runc says "creating").
    for (const h of afterCreate) expect(h.state, h.name).toMatchObject({ ociVersion: '1.0.2-dev', id: 'c1', bundle, status: 'created' });
    // The runtime-namespace hooks get the pid as the runtime sees it.
    expect(afterCreate[0].state.pid).toBe(pid);

    await rt.ok(['start', 'c1']);
    // poststart runs once the program has been executed, which follows startContainer: start returns after all three.
    const afterStart = readLog(log).slice(2);
    expect(afterStart.map((h) => h.name)).toEqual(['prestart', 'startContainer', 'poststart']);
    const byName = Object.fromEntries(afterStart.map((h) => [h.name, h.state]));
    expect(byName.prestart).toMatchObject({ id: 'c1', bundle, status: 'created', pid });
    expect(byName.startContainer).toMatchObject({ id: 'c1', bundle, status: 'created' });
    expect(byName.poststart).toMatchObject({ id: 'c1', bundle, status: 'running', pid });

    await rt.ok(['delete', '--force', 'c1']);
    const all = readLog(log);
    expect(all.map((h) => h.name).slice(-1)).toEqual(['poststop']);
    expect(all[all.length - 1].state).toMatchObject({ id: 'c1', bundle, status: 'stopped' });
  });

  // runtime.md: "For hooks executed in the container namespace, [pid] is the pid as seen by the container."
  // runc (libcontainer's prepareRootfs and standard_init) passes unix.Getpid() there: 1 in a pid namespace of its own.
  it.fails('createContainer and startContainer hooks get the pid as the container sees it (1)', async () => {
    const rt = runtime();
    const { spec, log } = hookedSpec(rt, ['sleep', '1000']);
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    const lines = readLog(log);
    const byName = Object.fromEntries(lines.map((h) => [h.name, h.state]));
    expect(byName.createContainer.pid).toBe(1);
    expect(byName.startContainer.pid).toBe(1);
  });

  // config.md: poststart hooks "MUST be called after the user-specified process is executed but before the start operation returns".
  it('poststart runs after the user program has been executed', async () => {
    const rt = runtime();
    const { spec, log } = hookedSpec(rt, ['sleep', '1000']);
    // The hook records what the init runs: busybox once it has executed the program.
    spec.hooks.poststart = [{ path: '/bin/sh', args: ['sh', '-c', `pid=$(sed 's/.*"pid":\\([0-9]*\\).*/\\1/'); { readlink /proc/$pid/exe || echo 'not executed (the init is still nook: not dumpable)'; } > ${log}.exe`] }];
    // A startContainer hook that takes a while: the program is executed only after it.
    spec.hooks.startContainer = [hook('startContainer', '/mnt/data/hooks.log', 'sleep 0.3; ')];
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    expect(fileText(`${log}.exe`)).toMatch(/busybox\n$/);
    // The same hook once the program certainly runs: it can read what the init executes.
    const { pid } = await rt.state('c1');
    await until('the program to run', () => /busybox$/.test(fs.readlinkSync(`/proc/${pid}/exe`)));
  });

  it('a hook gets its args (args[0] as its name) and its env, and nothing else of the runtime\'s environment', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    const data = withData(rt, spec);
    const out = path.join(data, 'args');
    spec.hooks = { createRuntime: [{ path: '/bin/sh', args: ['named-hook', '-c', `printf '%s|%s|%s|%s\\n' "$(tr '\\0' '\\n' < /proc/$$/cmdline | head -n1)" "$0" "$HOOKVAR" "$HOME" > ${out}`, 'first'], env: ['HOOKVAR=from-config'] }] };
    await rt.create('c1', spec);
    expect(fileText(out)).toBe('named-hook|first|from-config|\n');
  });

  it('a hook past its timeout is killed and fails create', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    spec.hooks = { createRuntime: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] };
    const started = Date.now();
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('timed out');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });

  it('a createContainer hook that fails (in the container\'s namespaces) makes create fail', async () => {
    const rt = runtime();
    const { spec, data } = hookedSpec(rt, ['sh', '-c', 'echo ran > /mnt/data/ran']);
    spec.hooks = { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 4'] }] };
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/createContainer hook 0 .* failed with exit status 4/);
    expect(fs.existsSync(path.join(data, 'ran'))).toBe(false);
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });

  // config.md: a failing startContainer hook: "the runtime MUST generate an error, stop the container".
  it('a startContainer hook that fails stops the container before the program runs', async () => {
    const rt = runtime();
    const { spec, data } = hookedSpec(rt, ['sh', '-c', 'echo ran > /mnt/data/ran']);
    spec.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 5'] }] };
    await rt.create('c1', spec);
    const { pid } = await rt.state('c1');
    await rt.runc(['start', 'c1']);
    await waitStopped(rt, 'c1', pid);
    expect(fs.existsSync(path.join(data, 'ran'))).toBe(false);
  });

  // config.md: failing poststart and poststop hooks are warnings; the remaining hooks and the lifecycle go on.
  it('failing poststart and poststop hooks are warnings: the next hooks run, start and delete succeed', async () => {
    const rt = runtime();
    const { spec, log } = hookedSpec(rt, ['sleep', '1000']);
    const fail = { path: '/bin/sh', args: ['sh', '-c', 'cat > /dev/null; exit 6'] };
    spec.hooks = { poststart: [fail, hook('poststart-2', log)], poststop: [fail, hook('poststop-2', log)] };
    await rt.create('c1', spec);
    const start = await rt.runc(['start', 'c1']);
    expect(start.code, show(start)).toBe(0);
    expect(start.stderr).toMatch(/poststart hook 0 .* exit status 6/);
    expect((await rt.state('c1')).status).toBe('running');
    const del = await rt.runc(['delete', '--force', 'c1']);
    expect(del.code, show(del)).toBe(0);
    expect(del.stderr).toMatch(/poststop hook 0 .* exit status 6/);
    expect(readLog(log).map((h) => h.name)).toEqual(['poststart-2', 'poststop-2']);
  });

  // config.md: a failing prestart hook: "the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12" (delete, poststop).
  it('a failing prestart hook makes start fail; the program never runs; the container is deleted (poststop runs)', async () => {
    const rt = runtime();
    const { spec, log, data } = hookedSpec(rt, ['sh', '-c', 'echo ran > /mnt/data/ran']);
    spec.hooks = { prestart: [hook('prestart', log, 'cat > /dev/null; exit 8; ')], poststop: [hook('poststop', log)] };
    await rt.create('c1', spec);
    const { pid } = await rt.state('c1');
    const r = await rt.runc(['start', 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/prestart hook 0 .* failed with exit status 8/);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(path.join(data, 'ran'))).toBe(false);
    expect((await rt.runc(['state', 'c1'])).stderr).toContain('container "c1" does not exist');
    expect(readLog(log).map((h) => h.name)).toEqual(['poststop']);
  });

  // BUG (reported): a hook that succeeds without reading its stdin fails as "could not be run: EPIPE"
  // (src/oci/hooks.ts takes spawnSync's EPIPE for an error). Nothing obliges a hook to read the state:
  // runc (Go's os/exec) ignores EPIPE on the hook's stdin. A state well past a pipe's buffer (300 KB,
  // through an annotation) makes it certain; with a small one it happens about one time in three.
  it.fails('a hook that does not read its stdin succeeds', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    spec.annotations = { 'org.example.big': 'x'.repeat(300_000) };
    spec.hooks = { createRuntime: [{ path: '/bin/true' }] };
    await rt.create('c1', spec);
  });

  it('a failing createRuntime hook makes create fail and leaves no container or process', async () => {
    const rt = runtime();
    const { spec, log, data } = hookedSpec(rt, ['sh', '-c', 'echo ran > /mnt/data/ran']);
    const logPid = path.join(data, 'pid');
    spec.hooks = {
      createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${logPid}`] }, hook('createRuntime', log, 'cat > /dev/null; exit 3; ')],
      createContainer: [hook('createContainer', log)],
    };
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/createRuntime hook 1 .* failed with exit status 3/);
    const { pid } = JSON.parse(fs.readFileSync(logPid, 'utf8')) as { pid: number };
    expect(alive(pid)).toBe(false);
    expect(readLog(log)).toEqual([]); // nothing after the failed hook ran
    expect(fs.existsSync(path.join(data, 'ran'))).toBe(false);
    expect((await rt.runc(['state', 'c1'])).stderr).toContain('container "c1" does not exist');
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });
});

describe('process (config.md "process")', () => {
  it('args: executed as given, without a shell', async () => {
    const rt = runtime();
    expect(await inside(rt, ['sh', '-c', 'printf "[%s]" "$0" "$@"', 'a b', 'c', ''])).toBe('[a b][c][]');
  });

  it('env: exactly the configured environment', async () => {
    const rt = runtime();
    const out = await inside(rt, ['cat', '/proc/self/environ'], (s) => (s.process.env = ['PATH=/bin', 'FOO=bar baz', 'EMPTY=']));
    expect(out.split('\0').filter(Boolean)).toEqual(['PATH=/bin', 'FOO=bar baz', 'EMPTY=']);
  });

  it('cwd: the working directory, created when missing', async () => {
    const rt = runtime();
    const dir = `/tmp/cwd-${Math.random().toString(36).slice(2, 8)}/a/b`;
    expect(await inside(rt, ['pwd'], (s) => (s.process.cwd = dir))).toBe(`${dir}\n`);
    expect(await inside(rt, ['pwd'], (s) => (s.process.cwd = '/etc'))).toBe('/etc\n');
  });

  it('user: uid, gid and additionalGids (a user with subordinate ids)', async (ctx) => {
    const rt = runtime(need(ctx, 'sub'));
    const out = await inside(rt, ['cat', '/proc/self/status'], (s) => {
      subordinateMaps(rt.user, s);
      s.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 2000] };
    });
    expect(statusField(out, 'Uid')).toBe('1000 1000 1000 1000');
    expect(statusField(out, 'Gid')).toBe('1000 1000 1000 1000');
    expect(statusField(out, 'Groups')).toBe('5 2000');
  });

  it('user.umask', async () => {
    const rt = runtime();
    expect(await shIn(rt, 'umask', (s) => (s.process.user.umask = 0o027))).toBe('0027\n');
    expect(await shIn(rt, 'umask')).toBe('0022\n');
  });

  it('rlimits: RLIMIT_NOFILE soft and hard', async () => {
    const rt = runtime();
    const out = await inside(rt, ['cat', '/proc/self/limits'], (s) => (s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 300, hard: 400 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }]));
    expect(out).toMatch(/^Max open files\s+300\s+400\s+files\s*$/m);
    expect(out).toMatch(/^Max core file size\s+0\s+0\s+bytes\s*$/m);
  });

  it('noNewPrivileges: NoNewPrivs in /proc/self/status', async () => {
    const rt = runtime();
    const on = await inside(rt, ['cat', '/proc/self/status'], (s) => (s.process.noNewPrivileges = true));
    const off = await inside(rt, ['cat', '/proc/self/status'], (s) => (s.process.noNewPrivileges = false));
    expect(statusField(on, 'NoNewPrivs')).toBe('1');
    expect(statusField(off, 'NoNewPrivs')).toBe('0');
  });

  describe('capabilities', () => {
    const CAP = { CHOWN: 0, KILL: 5, SETUID: 7, NET_BIND_SERVICE: 10, NET_RAW: 13, SYS_CHROOT: 18 } as const;
    type Cap = keyof typeof CAP;
    const mask = (...caps: Cap[]) => caps.reduce((m, c) => m | (1n << BigInt(CAP[c])), 0n).toString(16).padStart(16, '0');
    const caps = {
      bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SETUID', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
      permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      effective: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      inheritable: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
      ambient: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'],
    };

    it('the created init holds exactly the configured sets (seen from the host at the start barrier)', async () => {
      const rt = runtime();
      const spec = rootlessSpec(rt.user, ['true']);
      spec.process.capabilities = caps;
      await rt.create('c1', spec);
      const status = fs.readFileSync(`/proc/${(await rt.state('c1')).pid}/status`, 'utf8');
      expect(statusField(status, 'CapBnd')).toBe(mask('CHOWN', 'KILL', 'SETUID', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(status, 'CapPrm')).toBe(mask('CHOWN', 'KILL', 'NET_BIND_SERVICE'));
      expect(statusField(status, 'CapEff')).toBe(mask('KILL', 'NET_BIND_SERVICE'));
      expect(statusField(status, 'CapInh')).toBe(mask('KILL', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(status, 'CapAmb')).toBe(mask('KILL', 'NET_BIND_SERVICE'));
    });

    it('root in the container: after execve, permitted and effective are bounding plus inheritable (capabilities(7)), capped by permitted under no_new_privs', async () => {
      const rt = runtime();
      const out = await inside(rt, ['cat', '/proc/self/status'], (s) => {
        s.process.capabilities = caps;
        s.process.noNewPrivileges = false;
      });
      expect(statusField(out, 'CapBnd')).toBe(mask('CHOWN', 'KILL', 'SETUID', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(out, 'CapPrm')).toBe(mask('CHOWN', 'KILL', 'SETUID', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(out, 'CapEff')).toBe(mask('CHOWN', 'KILL', 'SETUID', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(out, 'CapInh')).toBe(mask('KILL', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(out, 'CapAmb')).toBe(mask('KILL', 'NET_BIND_SERVICE'));
      const nnp = await inside(rt, ['cat', '/proc/self/status'], (s) => {
        s.process.capabilities = caps;
        s.process.noNewPrivileges = true;
      });
      expect(statusField(nnp, 'CapPrm')).toBe(mask('CHOWN', 'KILL', 'NET_BIND_SERVICE'));
      expect(statusField(nnp, 'CapEff')).toBe(mask('CHOWN', 'KILL', 'NET_BIND_SERVICE'));
    });

    it('a non-root user keeps exactly the ambient capabilities across execve', async (ctx) => {
      const rt = runtime(need(ctx, 'sub'));
      const out = await inside(rt, ['cat', '/proc/self/status'], (s) => {
        subordinateMaps(rt.user, s);
        s.process.user = { uid: 1000, gid: 1000 };
        s.process.capabilities = caps;
      });
      expect(statusField(out, 'CapBnd')).toBe(mask('CHOWN', 'KILL', 'SETUID', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(out, 'CapInh')).toBe(mask('KILL', 'NET_BIND_SERVICE', 'NET_RAW'));
      expect(statusField(out, 'CapAmb')).toBe(mask('KILL', 'NET_BIND_SERVICE'));
      expect(statusField(out, 'CapPrm')).toBe(mask('KILL', 'NET_BIND_SERVICE'));
      expect(statusField(out, 'CapEff')).toBe(mask('KILL', 'NET_BIND_SERVICE'));
    });

    it('no capabilities: all sets empty, so even root cannot chroot', async () => {
      const rt = runtime();
      const out = await shIn(rt, 'grep ^Cap /proc/self/status; chroot / true 2>&1 || echo denied', (s) => (s.process.capabilities = {}));
      for (const f of ['CapBnd', 'CapPrm', 'CapEff', 'CapInh', 'CapAmb']) expect(statusField(out, f), f).toBe('0000000000000000');
      expect(out).toContain('denied');
    });
  });

  // BUG (reported): create fails with "set oom_score_adj to 617: EACCES". The executor writes
  // /proc/self/oom_score_adj after PR_SET_DUMPABLE 0, which makes /proc/self's files root's (the
  // global root, unmapped here), so an unprivileged container's root may no longer open it. Raising
  // the value needs no privilege: the write has to come before the process is made non-dumpable.
  it.fails('oomScoreAdj: raised for the process', async () => {
    const rt = runtime();
    expect(await inside(rt, ['cat', '/proc/self/oom_score_adj'], (s) => (s.process.oomScoreAdj = 617))).toBe('617\n');
  });

  it('terminal: the pty master goes to --console-socket, the process has the slave as its terminal, consoleSize applies', async () => {
    const rt = runtime();
    const sock = path.join(rt.work, 'console.sock');
    const listener = await consoleSocket(rt.user, sock);
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; echo done']);
    spec.process.terminal = true;
    spec.process.consoleSize = { height: 31, width: 101 };
    await rt.create('c1', spec, ['--console-socket', sock]);
    await rt.ok(['start', 'c1']);
    const got = await listener.result;
    expect(got.isatty).toBe(true);
    expect(got.timedOut).toBe(false);
    expect(got.output).toBe('/dev/pts/0\n31 101\nall-ttys\ndone\n');
  });

  it('terminal without --console-socket is refused by create', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    spec.process.terminal = true;
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--console-socket');
  });

  // In runc's words, which podman maps to exit statuses 127 and 126.
  it.each([
    ['/bin/no-such-program', 'no such file or directory'],
    ['no-such-program', 'executable file not found in $PATH'],
    ['/etc/somefile', 'permission denied'],
  ])('a program that cannot be executed (%s) fails create, not start: "%s"', async (program, words) => {
    const rt = runtime();
    const r = await rt.runc(['create', '--bundle', rt.bundle(rootlessSpec(rt.user, [program])), 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(program);
    expect(r.stderr).toContain(words);
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
  });

  // config.md: process is optional: such a container has nothing to run; start lets its init end.
  it('a config without "process": create and start succeed, and the container stops', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    delete spec.process;
    await rt.create('c1', spec);
    const { pid, status } = await rt.state('c1');
    expect(status).toBe('created');
    await rt.ok(['start', 'c1']);
    await waitStopped(rt, 'c1', pid);
  });

  it('--preserve-fds N: descriptors 3..3+N-1 reach the process, the rest do not', async () => {
    const rt = runtime();
    const three = path.join(rt.work, 'fd3');
    const four = path.join(rt.work, 'fd4');
    const fd3 = fs.openSync(three, 'w+');
    const fd4 = fs.openSync(four, 'w+');
    try {
      const spec = rootlessSpec(rt.user, ['sh', '-c', 'echo via-3 >&3; [ -e /proc/self/fd/4 ] && echo fd4-open || echo fd4-closed']);
      const r = await rt.runc(['run', '--preserve-fds', '1', '--bundle', rt.bundle(spec), 'c1'], { extraFds: [fd3, fd4] });
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe('fd4-closed\n');
    } finally {
      fs.closeSync(fd3);
      fs.closeSync(fd4);
    }
    expect(fs.readFileSync(three, 'utf8')).toBe('via-3\n');
    expect(fs.readFileSync(four, 'utf8')).toBe('');
  });
});

/** linux.uidMappings/gidMappings as podman's rootless ones: root is the user, 1.. its subordinate range. */
function subordinateMaps(user: TestUser, s: Spec): void {
  const { subUids, subGids } = user;
  if (!subUids || !subGids) throw new Error(`${user.name} has no subordinate ids`);
  s.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: subUids.start, size: subUids.count }];
  s.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: subGids.start, size: subGids.count }];
}

interface MountInfo {
  mountPoint: string;
  options: string[];
  optional: string[];
  fsType: string;
}

/** /proc/self/mountinfo lines (proc(5)). */
function mountInfo(text: string): MountInfo[] {
  return text.trim().split('\n').filter((l) => / - /.test(l)).map((l) => {
    const [pre, post] = l.split(' - ');
    const f = pre.split(' ');
    return { mountPoint: f[4], options: f[5].split(','), optional: f.slice(6), fsType: post.split(' ')[0] };
  });
}

const mountAt = (text: string, at: string): MountInfo | undefined => mountInfo(text).filter((m) => m.mountPoint === at).pop();

describe('root, hostname, mounts (config.md)', () => {
  it('root.readonly: writes to / fail with EROFS, and / is mounted ro', async () => {
    const rt = runtime();
    const probe = `/probe-${Math.random().toString(36).slice(2, 8)}`;
    const ro = await shIn(rt, `touch ${probe} 2>&1; cat /proc/self/mountinfo`, (s) => (s.root.readonly = true));
    expect(ro).toContain('Read-only file system');
    expect(mountAt(ro, '/')?.options).toContain('ro');
    // The same rootfs without readonly: the container's root owns it and may write.
    const rw = await shIn(rt, `touch ${probe} && echo written; cat /proc/self/mountinfo`, (s) => (s.root.readonly = false));
    expect(rw).toContain('written\n');
    expect(mountAt(rw, '/')?.options).toContain('rw');
  });

  it('hostname and domainname', async () => {
    const rt = runtime();
    const out = await shIn(rt, 'hostname; cat /proc/sys/kernel/domainname', (s) => {
      s.hostname = 'oci-host';
      s.domainname = 'example.test';
    });
    expect(out).toBe('oci-host\nexample.test\n');
  });

  it('mounts in order: a tmpfs, then a bind below it with ro, nosuid, noexec', async () => {
    const rt = runtime();
    const src = rt.dir('bindsrc');
    fs.writeFileSync(path.join(src, 'file'), 'from the host\n');
    const tmpfs = { destination: '/mnt/data', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'mode=755', 'nodev'] };
    const bind = { destination: '/mnt/data/sub', type: 'bind', source: src, options: ['bind', 'ro', 'nosuid', 'noexec'] };
    const out = await shIn(rt, 'cat /mnt/data/sub/file; touch /mnt/data/sub/new 2>&1; cat /proc/self/mountinfo', (s) => s.mounts.push(tmpfs, bind));
    expect(out).toMatch(/^from the host\n.*Read-only file system/);
    expect(mountAt(out, '/mnt/data')).toMatchObject({ fsType: 'tmpfs' });
    expect(mountAt(out, '/mnt/data')?.options).toContain('nodev');
    expect(mountAt(out, '/mnt/data/sub')?.options).toEqual(expect.arrayContaining(['ro', 'nosuid', 'noexec']));
    // The other order: the tmpfs comes last and covers the bind.
    const reversed = await shIn(rt, 'cat /mnt/data/sub/file 2>&1 || echo hidden', (s) => s.mounts.push({ ...bind, destination: '/mnt/data' }, tmpfs));
    expect(reversed).toContain('hidden');
  });

  it('a relative bind source is resolved against the bundle', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['cat', '/mnt/data/hello']);
    spec.mounts.push({ destination: '/mnt/data', type: 'bind', source: 'files', options: ['rbind', 'ro'] });
    const r = await rt.runc(['run', '--bundle', rt.bundle(spec, { 'files/hello': 'in the bundle\n' }), 'c1']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('in the bundle\n');
  });

  it('a bind of a single file over a file of the rootfs (as /etc/hosts and resolv.conf are)', async () => {
    const rt = runtime();
    const file = path.join(rt.dir('files'), 'somefile');
    fs.writeFileSync(file, 'the host\'s version\n');
    const out = await shIn(rt, 'cat /etc/somefile; stat -c %F /etc/somefile', (s) => s.mounts.push({ destination: '/etc/somefile', type: 'bind', source: file, options: ['bind', 'ro'] }));
    expect(out).toBe('the host\'s version\nregular file\n');
  });

  describe('propagation of a bind of a shared host mount', () => {
    /** A tmpfs on a new directory, made shared (peer group of its own); unmounted at the end of the test. */
    function sharedHostMount(rt: OciRuntime): string {
      const dir = rt.dir('shared');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=777', 'nook-oci-test', dir]);
      onTestFinished(() => {
        execFileSync('umount', ['-R', '-l', dir]);
      });
      execFileSync('mount', ['--make-shared', dir]);
      fs.mkdirSync(path.join(dir, 'sub'), { mode: 0o777 });
      return dir;
    }

    async function afterHostMount(rt: OciRuntime, option: string, edit: (s: Spec) => void = () => {}): Promise<string> {
      const dir = sharedHostMount(rt);
      const spec = rootlessSpec(rt.user, ['sleep', '1000']);
      spec.mounts.push({ destination: '/mnt/data', type: 'bind', source: dir, options: ['rbind', option] });
      edit(spec);
      await rt.create('c1', spec);
      await rt.ok(['start', 'c1']);
      // A mount the host makes under the source after the container started.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'nook-oci-later', path.join(dir, 'sub')]);
      fs.writeFileSync(path.join(dir, 'sub', 'later'), 'x');
      return rt.ok(['exec', 'c1', 'sh', '-c', 'cat /proc/self/mountinfo; ls /mnt/data/sub']);
    }

    it('rprivate: later host mounts do not reach the container', async () => {
      const rt = runtime();
      const out = await afterHostMount(rt, 'rprivate');
      expect(mountAt(out, '/mnt/data')?.optional.filter((o) => /^(shared|master):/.test(o))).toEqual([]);
      expect(mountAt(out, '/mnt/data/sub')).toBeUndefined();
      expect(out).not.toMatch(/^later$/m);
    });

    // BUG (reported): runc makes / rslave (its default rootfsPropagation) and keeps host mounts' slave
    // links, so a bind with rslave gets "master:N" and receives host mounts made later. nook first makes
    // the whole mount namespace rprivate, which cuts every link to the host: rslave then has nothing to be a slave of.
    it.fails('rslave: later host mounts under the source appear in the container', async () => {
      const rt = runtime();
      const out = await afterHostMount(rt, 'rslave', (s) => (s.linux.rootfsPropagation = 'rslave'));
      expect(mountAt(out, '/mnt/data')?.optional.some((o) => o.startsWith('master:'))).toBe(true);
      expect(out).toMatch(/^later$/m);
    });
  });
});

describe('namespaces (config-linux.md)', () => {
  const NS = ['pid', 'ipc', 'uts', 'mnt', 'user', 'net', 'cgroup'];
  const nsScript = NS.map((n) => `echo ${n}=$(readlink /proc/self/ns/${n})`).join('; ');
  const parseNs = (out: string) => Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')));

  it('the listed namespaces are new, the others the runtime\'s', async () => {
    const rt = runtime();
    const inNs = parseNs(await shIn(rt, nsScript));
    const host = (n: string) => fs.readlinkSync(`/proc/self/ns/${n}`);
    for (const n of ['pid', 'ipc', 'uts', 'mnt', 'user']) expect(inNs[n], n).not.toBe(host(n));
    for (const n of ['net', 'cgroup']) expect(inNs[n], n).toBe(host(n));
  });

  it('cgroup: the container\'s cgroup is the root of its view', async () => {
    const rt = runtime();
    const out = await shIn(rt, 'readlink /proc/self/ns/cgroup; cat /proc/self/cgroup', (s) => s.linux.namespaces.push({ type: 'cgroup' }));
    const [ns, ...cgroups] = out.trim().split('\n');
    expect(ns).not.toBe(fs.readlinkSync('/proc/self/ns/cgroup'));
    // Every hierarchy (v1 or v2) shows the container's cgroup as "/", whatever it is on the host.
    expect(cgroups.length).toBeGreaterThan(0);
    for (const line of cgroups) expect(line).toMatch(/^\d+:[^:]*:\/$/);
  });

  it('pid: the process is pid 1 and sees only its own processes', async () => {
    const rt = runtime();
    // sh is 1, and busybox's sh executes its last command in place: ls is 1 too, and alone.
    expect(await shIn(rt, 'echo $$; ls -d /proc/[0-9]*')).toBe('1\n/proc/1\n');
  });

  it('network: only a loopback interface, up', async () => {
    const rt = runtime();
    const out = await shIn(rt, 'cat /proc/net/dev; ip -o link', (s) => s.linux.namespaces.push({ type: 'network' }));
    const devs = out.split('\n').filter((l) => /^\s*\w+:/.test(l) && !l.includes('<')).map((l) => l.trim().split(':')[0]);
    expect(devs).toEqual(['lo']);
    expect(out).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/m);
  });

  /** A running container with a network namespace, and the output of `script` in a second one that joins its user and network namespaces by path. */
  async function joinOther(rt: OciRuntime, script: string, mapsOfFirst: (s: Spec) => void): Promise<{ out: string; aPid: number }> {
    const a = rootlessSpec(rt.user, ['sleep', '1000']);
    a.linux.namespaces.push({ type: 'network' });
    mapsOfFirst(a);
    await rt.create('a', a);
    // Started: until its execve the init is not dumpable, and its /proc/PID/ns is closed to everyone else.
    await rt.ok(['start', 'a']);
    const aPid = (await rt.state('a')).pid;
    const out = await shIn(rt, script, (s) => {
      s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'user');
      s.linux.namespaces.push({ type: 'user', path: `/proc/${aPid}/ns/user` }, { type: 'network', path: `/proc/${aPid}/ns/net` });
      delete s.linux.uidMappings;
      delete s.linux.gidMappings;
    });
    return { out, aPid };
  }

  // As a pod's containers do (podman): rootless, the network namespace is joined together with the
  // user namespace that owns it (setns() into a network namespace needs CAP_SYS_ADMIN over it).
  it('user and network with paths: joins those namespaces (another container\'s)', async (ctx) => {
    const rt = runtime(need(ctx, 'sub'));
    const { out, aPid } = await joinOther(rt, 'for n in net user uts; do readlink /proc/self/ns/$n; done', (s) => subordinateMaps(rt.user, s));
    const [net, user, uts] = out.trim().split('\n');
    expect(net).toBe(fs.readlinkSync(`/proc/${aPid}/ns/net`));
    expect(net).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(user).toBe(fs.readlinkSync(`/proc/${aPid}/ns/user`));
    // Its own uts namespace all the same.
    expect(uts).not.toBe(fs.readlinkSync(`/proc/${aPid}/ns/uts`));
  });

  // BUG (reported): create fails with "set supplementary groups []: EPERM". A user namespace that
  // maps one id was made with setgroups denied; nook decides whether to call setgroups() from
  // its own /proc/self/setgroups, not the joined namespace's. runc reads /proc/self/setgroups in the
  // init after joining and skips setgroups() on "deny" (nook's exec does the same with /proc/PID/setgroups).
  it.fails('joining a user namespace that maps a single id (setgroups denied) works', async () => {
    const rt = runtime();
    const { out, aPid } = await joinOther(rt, 'readlink /proc/self/ns/user', () => {});
    expect(out.trim()).toBe(fs.readlinkSync(`/proc/${aPid}/ns/user`));
  });

  it('a namespace path that does not exist fails create, naming it', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    spec.linux.namespaces.push({ type: 'network', path: '/proc/999999999/ns/net' });
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/proc/999999999/ns/net');
  });

  it('sysctl: set in the container\'s own network namespace', async () => {
    const rt = runtime();
    const script = 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ping_group_range';
    const netns = (s: Spec) => s.linux.namespaces.push({ type: 'network' });
    const defaults = await shIn(rt, script, netns);
    const set = await shIn(rt, script, (s) => {
      netns(s);
      // Only gid 0 is mapped: the range must name mapped gids.
      s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'net.ipv4.ping_group_range': '0 0' };
    });
    // The kernel's defaults for a new network namespace: no forwarding, ping for no group ("1 0", unmapped here).
    expect(defaults.split(/\s+/)[0]).toBe('0');
    expect(defaults.split(/\s+/).slice(1, 3)).not.toEqual(['0', '0']);
    expect(set.split(/\s+/).slice(0, 3)).toEqual(['1', '0', '0']);
  });
});

describe('masked and read-only paths, devices (config-linux.md)', () => {
  it('maskedPaths: a file reads empty, a directory is empty, neither writable', async () => {
    const rt = runtime();
    rootfsFile(rt.user, 'srv/masked/secret', 'secret\n');
    // /proc/keys: in runc's template, and (unlike /proc/kcore) on every kernel; it lists the user's keys.
    const script = 'wc -c < /proc/keys; ls -A /srv/masked; cat /etc/somefile; touch /srv/masked/new 2>&1; echo end';
    const masked = await shIn(rt, script, (s) => s.linux.maskedPaths.push('/srv/masked', '/etc/somefile'));
    expect(masked).toMatch(/^0\n.*Read-only file system\nend\n$/);
    const plain = await shIn(rt, script, (s) => (s.linux.maskedPaths = []));
    expect(Number(plain.split('\n')[0])).toBeGreaterThan(0);
    expect(plain).toContain('\nsecret\nrootfs version of somefile\n');
  });

  it('readonlyPaths: readable, not writable; mounted ro', async () => {
    const rt = runtime();
    rootfsFile(rt.user, 'srv/rodir/f', 'content\n');
    const out = await shIn(rt, 'cat /srv/rodir/f; touch /srv/rodir/new 2>&1; cat /proc/self/mountinfo', (s) => s.linux.readonlyPaths.push('/srv/rodir'));
    expect(out).toMatch(/^content\n.*Read-only file system/);
    expect(mountAt(out, '/srv/rodir')?.options).toContain('ro');
    expect(mountAt(out, '/proc/sys')?.options).toContain('ro');
    expect(await shIn(rt, 'touch /srv/rodir/new && echo written')).toBe('written\n');
  });

  it('devices: a listed device appears with its type, numbers and mode', async () => {
    const rt = runtime();
    const out = await shIn(rt, "stat -c '%F %t:%T %a' /dev/kmsg", (s) => (s.linux.devices = [{ type: 'c', path: '/dev/kmsg', major: 1, minor: 11, fileMode: 0o644, uid: 0, gid: 0 }]));
    expect(out).toBe('character special file 1:b 644\n');
  });

  it('devices: one that can be neither created nor bound from the host fails create, naming it', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['true']);
    spec.linux.devices = [{ type: 'c', path: '/dev/nook-none', major: 250, minor: 250 }];
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/dev/nook-none');
  });

  it('a tmpfs /dev gets the default devices and links; /dev/ptmx is pts/ptmx', async () => {
    const rt = runtime();
    const out = await shIn(rt, "stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; for l in ptmx fd stdin stdout stderr; do echo $l=$(readlink /dev/$l); done; echo x > /dev/null && head -c 3 /dev/zero | wc -c");
    expect(out).toBe(
      [
        '/dev/null character special file 1:3',
        '/dev/zero character special file 1:5',
        '/dev/full character special file 1:7',
        '/dev/random character special file 1:8',
        '/dev/urandom character special file 1:9',
        '/dev/tty character special file 5:0',
        'ptmx=pts/ptmx',
        'fd=/proc/self/fd',
        'stdin=/proc/self/fd/0',
        'stdout=/proc/self/fd/1',
        'stderr=/proc/self/fd/2',
        '3',
        '',
      ].join('\n'),
    );
  });
});

describe('exec (runc exec)', () => {
  /** A running container (pid and uts namespaces, hostname "ocihost") whose init sleeps. */
  async function running(rt: OciRuntime, edit: (s: Spec) => void = () => {}): Promise<number> {
    const spec = rootlessSpec(rt.user, ['sleep', '1000']);
    spec.hostname = 'ocihost';
    edit(spec);
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    return (await rt.state('c1')).pid;
  }

  it('the process joins the container\'s namespaces and root: its hostname, pid namespace (the init is 1), mounts', async () => {
    const rt = runtime();
    const pid = await running(rt);
    const out = await rt.ok(['exec', 'c1', 'sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; for n in pid mnt uts ipc user; do readlink /proc/self/ns/$n; done; cat /etc/rootfs-marker']);
    const lines = out.split('\n');
    expect(lines[0]).toBe('ocihost');
    expect(lines[1]).toBe('sleep 1000 ');
    expect(lines.slice(2, 7)).toEqual(['pid', 'mnt', 'uts', 'ipc', 'user'].map((n) => fs.readlinkSync(`/proc/${pid}/ns/${n}`)));
    expect(lines[7]).toBe('this is the test rootfs');
  });

  it('exits with the process\'s exit status', async () => {
    const rt = runtime();
    await running(rt);
    const r = await rt.runc(['exec', 'c1', 'sh', '-c', 'echo out; exit 7']);
    expect(r.code, show(r)).toBe(7);
    expect(r.stdout).toBe('out\n');
  });

  it('--detach --pid-file: returns at once; the pid is the process, in the container', async () => {
    const rt = runtime();
    const pid = await running(rt);
    const pidFile = path.join(rt.work, 'exec.pid');
    await rt.ok(['exec', '--detach', '--pid-file', pidFile, 'c1', 'sleep', '999']);
    const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(alive(execPid)).toBe(true);
    expect(fs.readFileSync(`/proc/${execPid}/cmdline`, 'utf8')).toBe('sleep\u0000999\u0000');
    expect(fs.readlinkSync(`/proc/${execPid}/ns/pid`)).toBe(fs.readlinkSync(`/proc/${pid}/ns/pid`));
    const pids = JSON.parse(await rt.ok(['ps', '--format', 'json', 'c1'])) as number[];
    expect(pids.sort()).toEqual([pid, execPid].sort());
  });

  it('--process FILE: an OCI process object (args, env, cwd, user)', async (ctx) => {
    const rt = runtime(need(ctx, 'sub'));
    await running(rt, (s) => subordinateMaps(rt.user, s));
    const proc = { terminal: false, user: { uid: 1000, gid: 1000, additionalGids: [5] }, args: ['sh', '-c', 'echo $FOO; pwd; id -u; id -G'], env: ['PATH=/bin', 'FOO=from-process-json'], cwd: '/tmp' };
    const file = path.join(rt.work, 'process.json');
    fs.writeFileSync(file, JSON.stringify(proc));
    expect(await rt.ok(['exec', '--process', file, 'c1'])).toBe('from-process-json\n/tmp\n1000\n1000 5\n');
  });

  it('--env, --cwd and --user on the command line', async (ctx) => {
    const rt = runtime(need(ctx, 'sub'));
    await running(rt, (s) => subordinateMaps(rt.user, s));
    expect(await rt.ok(['exec', '--env', 'FOO=bar', '--cwd', '/etc', '--user', '1000:1000', 'c1', 'sh', '-c', 'echo $FOO; pwd; id -u'])).toBe('bar\n/etc\n1000\n');
  });

  it('--tty --console-socket: the process gets a terminal, its master goes to the socket', async () => {
    const rt = runtime();
    await running(rt);
    const sock = path.join(rt.work, 'exec-console.sock');
    const listener = await consoleSocket(rt.user, sock);
    await rt.ok(['exec', '--tty', '--console-socket', sock, 'c1', 'sh', '-c', 'tty; echo via-pty']);
    const got = await listener.result;
    expect(got.isatty).toBe(true);
    expect(got.output).toMatch(/^\/dev\/pts\/\d+\nvia-pty\n$/);
  });

  it('exec in a stopped container fails', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['true']));
    const { pid } = await rt.state('c1');
    await rt.ok(['start', 'c1']);
    await waitStopped(rt, 'c1', pid);
    const r = await rt.runc(['exec', 'c1', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stopped|not running/);
  });
});

/**
 * No pid namespace: the processes are the host's pids. A proc filesystem can be mounted only by
 * the owner of a pid namespace, so /proc is the host's, bound (as crun does for rootless --pid=host).
 */
function hostPidNamespace(s: Spec): void {
  s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
  s.mounts = s.mounts.map((m: { destination: string }) => (m.destination === '/proc' ? { destination: '/proc', type: 'bind', source: '/proc', options: ['rbind'] } : m));
}

describe('kill', () => {
  it('sends the signal to the init (SIGTERM by default)', async () => {
    const rt = runtime();
    // Without a pid namespace the init is no namespace's init: TERM's default action applies.
    const spec = rootlessSpec(rt.user, ['sleep', '1000']);
    hostPidNamespace(spec);
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    const { pid } = await rt.state('c1');
    await rt.ok(['kill', 'c1']);
    await waitStopped(rt, 'c1', pid);
  });

  it.each(['USR1', 'SIGUSR1', '10'])('takes the signal as %s', async (sig) => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'trap "echo usr1 > /mnt/data/got; exit 0" USR1; echo > /mnt/data/ready; while :; do sleep 1 & wait $!; done']);
    const data = withData(rt, spec);
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    await until('the trap to be set', () => fs.existsSync(path.join(data, 'ready')));
    await rt.ok(['kill', 'c1', sig]);
    expect(await until('the trap to run', () => fileText(path.join(data, 'got')))).toBe('usr1\n');
  });

  it('--all: every process of the container, not only the init', async () => {
    const rt = runtime();
    // No pid namespace: killing the init alone would leave its child running.
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'sleep 1001 & echo $! > /mnt/data/child; wait']);
    hostPidNamespace(spec);
    const data = withData(rt, spec);
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    const { pid } = await rt.state('c1');
    const child = Number(await until('the child to start', () => fileText(path.join(data, 'child'))));
    expect(alive(child)).toBe(true);
    await rt.ok(['kill', '--all', 'c1', 'KILL']);
    await until('the init and its child to end', () => !alive(pid) && !alive(child));
  });
});

describe('rootless user namespaces', () => {
  it('with subordinate ids: uid 1000 inside is a subordinate id outside, and `id` says 1000', async (ctx) => {
    const user = need(ctx, 'sub');
    const rt = runtime(user);
    const spec = rootlessSpec(user, ['sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map']);
    subordinateMaps(user, spec);
    spec.process.user = { uid: 1000, gid: 1000 };
    const r = await rt.create('c1', spec);
    const { pid } = await rt.state('c1');
    // The host's view of the waiting init: already the mapped ids.
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const sub = user.subUids!.start + 999;
    expect(statusField(status, 'Uid')).toBe(`${sub} ${sub} ${sub} ${sub}`);
    expect(statusField(status, 'Gid')).toBe(Array(4).fill(user.subGids!.start + 999).join(' '));
    await rt.ok(['start', 'c1']);
    await waitStopped(rt, 'c1', pid);
    const out = fs.readFileSync(r.outFile, 'utf8').split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(out[0]).toMatch(/^uid=1000\(user\) gid=1000\(user\)/);
    expect(out.slice(1, 5)).toEqual([
      `0 ${user.uid} 1`, `1 ${user.subUids!.start} ${user.subUids!.count}`,
      `0 ${user.gid} 1`, `1 ${user.subGids!.start} ${user.subGids!.count}`,
    ]);
  });

  it('a user without subordinate ids: the single-id map of the template', async (ctx) => {
    const user = need(ctx, 'nosub');
    const rt = runtime(user);
    const out = await shIn(rt, 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; cat /proc/self/setgroups');
    expect(out.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0', '0', `0 ${user.uid} 1`, `0 ${user.gid} 1`, 'deny', '']);
  });

  it('a config without a user namespace gets one mapping the caller as root', async (ctx) => {
    const user = need(ctx, 'nosub');
    const rt = runtime(user);
    const out = await shIn(rt, 'id -u; cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user', (s) => {
      s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'user');
      delete s.linux.uidMappings;
      delete s.linux.gidMappings;
    });
    const lines = out.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines.slice(0, 3)).toEqual(['0', `0 ${user.uid} 1`, `0 ${user.gid} 1`]);
    expect(lines[3]).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
  });

  it('additionalGids where setgroups is denied: create fails with the reason', async (ctx) => {
    const user = need(ctx, 'nosub');
    const rt = runtime(user);
    const spec = rootlessSpec(user, ['true']);
    spec.process.user.additionalGids = [0];
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('additionalGids');
  });
});

describe('seccomp (config-linux.md "Seccomp")', () => {
  /** chmod and its relatives answer EPERM; everything else is allowed. */
  const noChmod = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'],
    syscalls: [{ names: ['chmod', 'fchmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
  // $$ is 1 in every container: a fresh name each time, in the rootfs the tests share.
  const script = 'f=$(mktemp /tmp/sc-XXXXXX); chmod 600 $f 2>&1 && echo chmod-done; mkdir $f.d && echo mkdir-done';

  it('a rule\'s errno for the calls it names, the default action for the rest', async () => {
    const rt = runtime();
    const out = await shIn(rt, script, (s) => (s.linux.seccomp = noChmod));
    expect(out).toMatch(/Operation not permitted\nmkdir-done\n$/);
    expect(out).not.toContain('chmod-done');
    expect(await shIn(rt, script)).toBe('chmod-done\nmkdir-done\n');
  });

  it('an exec\'d process is under the container\'s filter too', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sleep', '1000']);
    spec.linux.seccomp = noChmod;
    await rt.create('c1', spec);
    await rt.ok(['start', 'c1']);
    const out = await rt.ok(['exec', 'c1', 'sh', '-c', script]);
    expect(out).toMatch(/Operation not permitted\nmkdir-done\n$/);
  });

  it('Seccomp in /proc/self/status: 2 (filter mode) with a filter, 0 without', async () => {
    const rt = runtime();
    expect(statusField(await inside(rt, ['cat', '/proc/self/status'], (s) => (s.linux.seccomp = noChmod)), 'Seccomp')).toBe('2');
    expect(statusField(await inside(rt, ['cat', '/proc/self/status']), 'Seccomp')).toBe('0');
  });
});

describe('spec and features', () => {
  it('spec --rootless writes runc\'s rootless template for the caller, which runs as it is but for the rootfs and terminal', async () => {
    const rt = runtime();
    const b = rt.dir('spec-bundle');
    await rt.ok(['spec', '--rootless', '--bundle', b]);
    const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')) as Spec;
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: rt.user.uid, size: 1 }]);
    expect(spec.linux.gidMappings).toEqual([{ containerID: 0, hostID: rt.user.gid, size: 1 }]);
    expect(spec.linux.namespaces.map((n: { type: string }) => n.type).sort()).toEqual(['ipc', 'mount', 'pid', 'user', 'uts']);
    expect(spec.process.terminal).toBe(true);
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    const again = await rt.runc(['spec', '--rootless', '--bundle', b]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists');

    spec.root.path = userRootfs(rt.user);
    spec.process.terminal = false;
    spec.process.args = ['sh', '-c', 'id -u; hostname'];
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
    const r = await rt.runc(['run', '--bundle', b, 'c1']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('0\nrunc\n');
  });

  it('features: the spec versions, the six hooks, the namespaces and mount options nook handles', async () => {
    const rt = runtime();
    const f = JSON.parse(await rt.ok(['features'])) as { ociVersionMin: string; ociVersionMax: string; hooks: string[]; mountOptions: string[]; linux: { namespaces: string[]; capabilities: string[] } };
    expect(f.ociVersionMin).toBe('1.0.0');
    expect(f.ociVersionMax).toMatch(/^1\.\d+\.\d+/);
    expect(f.hooks.sort()).toEqual(['createContainer', 'createRuntime', 'poststart', 'poststop', 'prestart', 'startContainer']);
    expect(f.linux.namespaces.sort()).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    expect(f.mountOptions).toEqual(expect.arrayContaining(['bind', 'rbind', 'ro', 'rro', 'nosuid', 'noexec', 'nodev', 'rprivate', 'rslave', 'rshared']));
    expect(f.linux.capabilities).toEqual(expect.arrayContaining(['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_BIND_SERVICE']));
  });

  // features lists rro: read-only applied to every mount of the tree (mount_setattr), where ro binds only the top.
  // (With plain "ro" runc and mount(8) leave sub-mounts writable; nook makes the whole bound tree
  // read-only for "ro" too, deliberately (src/oci/mounts.ts): not asserted here either way.)
  it('mount option rro: a sub-mount of the bound tree is read-only too', async () => {
    const rt = runtime();
    const src = rt.dir('tree');
    fs.mkdirSync(path.join(src, 'sub'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=777', 'nook-oci-rro', path.join(src, 'sub')]);
    onTestFinished(() => {
      execFileSync('umount', ['-l', path.join(src, 'sub')]);
    });
    const script = 'touch /mnt/data/sub/probe 2>&1 && echo sub-written; touch /mnt/data/top 2>&1; true';
    const rro = await shIn(rt, script, (s) => s.mounts.push({ destination: '/mnt/data', type: 'bind', source: src, options: ['rbind', 'rro'] }));
    const rw = await shIn(rt, script, (s) => s.mounts.push({ destination: '/mnt/data', type: 'bind', source: src, options: ['rbind'] }));
    expect(rro).not.toContain('sub-written');
    expect(rro.match(/Read-only file system/g)).toHaveLength(2);
    expect(rw).toContain('sub-written');
    expect(rw).not.toContain('Read-only file system');
  });
});
