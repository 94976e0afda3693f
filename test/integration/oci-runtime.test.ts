/**
 * build/nook-runc against the OCI runtime spec (runtime.md, config.md,
 * config-linux.md) and runc's command line: one test per requirement nook
 * claims, each asserting what a real container process (or the host, for
 * the runtime's side) sees. Bundles are runc's `spec --rootless` template
 * (test/helpers/oci-bundle.ts) over the busybox rootfs, run as the
 * unprivileged test users, each test with its own --root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { show } from '../helpers/nook';
import { alive, consoleSocket, fileText, OciRuntime, rootfsFile, rootlessSpec, statusField, until, type Spec } from '../helpers/oci-bundle';
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

/** The init's pid once its state says it has ended. */
async function waitStopped(rt: OciRuntime, id: string, pid: number): Promise<void> {
  await until(`container ${id} (pid ${pid}) to end`, () => !alive(pid));
  expect((await rt.state(id)).status).toBe('stopped');
}

describe('lifecycle (runtime.md)', () => {
  it('create stops before the user program; start runs it; state follows; delete removes the container', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sh', '-c', 'echo ran > /mnt/data/out; exec sleep 1000']);
    const data = withData(rt, spec);
    const pidFile = path.join(rt.work, 'init.pid');
    const bundle = rt.bundle(spec);
    const created = await rt.runc(['create', '--bundle', bundle, '--pid-file', pidFile, 'c1']);
    expect(created.code, show(created)).toBe(0);

    const st = await rt.state('c1');
    expect(st).toMatchObject({ id: 'c1', status: 'created', bundle, ociVersion: '1.0.2-dev' });
    expect(st.pid).toBeGreaterThan(0);
    expect(alive(st.pid), 'the created init is alive').toBe(true);
    expect(fs.readFileSync(pidFile, 'utf8').trim()).toBe(String(st.pid));
    // The user program has not been executed: it would have written the file at once.
    expect(fs.existsSync(path.join(data, 'out'))).toBe(false);
    expect(fs.readlinkSync(`/proc/${st.pid}/exe`)).not.toMatch(/busybox/);

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

  it('run -d returns with the container running', async () => {
    const rt = runtime();
    const spec = rootlessSpec(rt.user, ['sleep', '1000']);
    const r = await rt.runc(['run', '-d', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(0);
    const st = await rt.state('c1');
    expect(st.status).toBe('running');
    expect(fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');
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
    expect(fs.readFileSync(`/proc/${child}/cmdline`, 'utf8')).toBe('sleep\u00001001\u0000');
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

  it('delete of a created (never started) container kills its waiting init', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    const { pid } = await rt.state('c1');
    await rt.ok(['delete', 'c1']);
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

  it('pause, resume and update say that the container has no cgroup', async () => {
    const rt = runtime();
    await rt.create('c1', rootlessSpec(rt.user, ['sleep', '1000']));
    await rt.ok(['start', 'c1']);
    const resources = path.join(rt.work, 'resources.json');
    fs.writeFileSync(resources, '{"pids": {"limit": 10}}');
    for (const args of [['pause', 'c1'], ['resume', 'c1'], ['update', '--resources', resources, 'c1']]) {
      const r = await rt.runc(args);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr, args[0]).toMatch(args[0] === 'resume' ? /is not paused/ : /no cgroup of its own/);
    }
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
    expect(afterCreate.map((h) => h.name)).toEqual(['prestart', 'createRuntime', 'createContainer']);
    for (const h of afterCreate) expect(h.state, h.name).toMatchObject({ ociVersion: '1.0.2-dev', id: 'c1', bundle, status: 'creating' });
    // The runtime-namespace hooks get the pid as the runtime sees it.
    expect(afterCreate[0].state.pid).toBe(pid);
    expect(afterCreate[1].state.pid).toBe(pid);

    await rt.ok(['start', 'c1']);
    const afterStart = await until('the start hooks', () => {
      const l = readLog(log);
      return l.length >= 5 && l;
    });
    expect(afterStart.slice(3).map((h) => h.name).sort()).toEqual(['poststart', 'startContainer']);
    const byName = Object.fromEntries(afterStart.map((h) => [h.name, h.state]));
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
    const lines = await until('the start hooks', () => {
      const l = readLog(log);
      return l.length >= 5 && l;
    });
    const byName = Object.fromEntries(lines.map((h) => [h.name, h.state]));
    expect(byName.createContainer.pid).toBe(1);
    expect(byName.startContainer.pid).toBe(1);
  });

  // config.md: poststart hooks "MUST be called after the user-specified process is executed but before the start operation returns".
  // nook's start writes the FIFO and runs poststart at once, without waiting for the init's execve (BUG, reported).
  it.fails('poststart runs after the user program has been executed', async () => {
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

  it('a failing createRuntime hook makes create fail and leaves no container or process', async () => {
    const rt = runtime();
    const { spec, log, data } = hookedSpec(rt, ['sh', '-c', 'echo ran > /mnt/data/ran']);
    spec.hooks = { createRuntime: [hook('createRuntime', log, 'cat > /dev/null; exit 3; ')], createContainer: [hook('createContainer', log)] };
    const logPid = path.join(data, 'pid');
    spec.hooks.prestart = [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${logPid}`] }];
    const r = await rt.runc(['create', '--bundle', rt.bundle(spec), 'c1']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/createRuntime hook 0 .* failed with exit status 3/);
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

  it('a missing program fails create (not start), naming it', async () => {
    const rt = runtime();
    const r = await rt.runc(['create', '--bundle', rt.bundle(rootlessSpec(rt.user, ['/bin/no-such-program'])), 'c1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/bin/no-such-program');
    expect(fs.existsSync(path.join(rt.root, 'c1'))).toBe(false);
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
