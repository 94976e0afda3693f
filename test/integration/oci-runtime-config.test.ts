/**
 * What config.json (config.md, config-linux.md) makes of a container run by
 * build/nook-runc, as its process sees it: process (args, env, cwd, user,
 * umask, rlimits, capabilities, no_new_privs, oomScoreAdj, terminal,
 * --preserve-fds), root, hostname, mounts and propagation, namespaces,
 * sysctl, masked and read-only paths, devices, rootless user namespaces and
 * seccomp. One test per requirement nook claims; the runtime's commands and
 * hooks: oci-runtime.test.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { show } from '../helpers/nook';
import {
  consoleSocket, inside, mountAt, OciRuntime, rootfsFile, rootlessSpec, runtime, shIn, statusField, subordinateMaps, waitStopped, type Spec,
} from '../helpers/oci-bundle';
import { need } from '../helpers/users';

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

  // Raising it needs no privilege, but the write has to come before the init turns non-dumpable (its
  // /proc files then belong to the host's root, unmapped here), as in runc's nsexec.
  it('oomScoreAdj: raised for the process', async () => {
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

    it('rprivate: later host mounts do not reach the container', async (ctx) => {
      need(ctx, 'root'); // to make a shared mount on the host
      const rt = runtime();
      const out = await afterHostMount(rt, 'rprivate');
      expect(mountAt(out, '/mnt/data')?.optional.filter((o) => /^(shared|master):/.test(o))).toEqual([]);
      expect(mountAt(out, '/mnt/data/sub')).toBeUndefined();
      expect(out).not.toMatch(/^later$/m);
    });

    // As runc, / is made rslave (its default rootfsPropagation), keeping the host mounts' slave links:
    // a bind with rslave gets "master:N" and receives host mounts made later.
    it('rslave: later host mounts under the source appear in the container', async (ctx) => {
      need(ctx, 'root'); // to make a shared mount on the host
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

  // A user namespace that maps one id was made with setgroups denied: nook reads that from the joined
  // namespace's process (/proc/PID/setgroups) and leaves setgroups() out, as runc does after joining.
  it('joining a user namespace that maps a single id (setgroups denied) works', async () => {
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
