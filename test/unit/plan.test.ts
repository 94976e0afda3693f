import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildPlan, cloneFlags, searchPath } from '../../src/sandbox/plan';
import { CLONE, MS } from '../../ffi/linux';
import { buildJoinPlan, JOINED_NAMESPACES } from '../../src/sandbox/join-plan';
import type { MountEntry } from '../../src/sandbox/mounts';
import type { SandboxSpec } from '../../src/sandbox/spec';
import { Resolve, type PlanOp } from '../../ffi/plan-format';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-plan-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const fds = { syncRead: 10, syncWrite: 11, statusParent: 12, statusChild: 13 };

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    rootfs: root,
    argv: ['sh', '-c', 'true'],
    env: ['PATH=/bin:/usr/bin', 'HOME=/root'],
    cwd: '/',
    user: { uid: 0, gid: 0, groups: [0] },
    hostname: 'box',
    network: 'none',
    readOnly: false,
    binds: [],
    tmpfs: [],
    tty: false,
    interactive: false,
    idmap: { uid: [{ inside: 0, outside: 1000, count: 1 }], gid: [{ inside: 0, outside: 1000, count: 1 }], method: 'direct', setgroups: false },
    security: { caps: 0b101n, capNames: ['CHOWN', 'FOWNER'], noNewPrivs: true, maskPaths: true, seccomp: Buffer.alloc(16) },
    ulimits: [],
    ...over,
  };
}

const INIT_IMAGE = Buffer.from('\x7fELF the init program');
const names = (s: SandboxSpec) => buildPlan(s, fds, { initImage: INIT_IMAGE }).map((o) => o.op);
const names2 = (ops: { op: string }[]) => ops.map((o) => o.op);

/** Each MOUNT_AT with the inside path it mounts on: the RESOLVE before it. */
function mountsAt(plan: PlanOp[]): { target: string; source: unknown; fstype: unknown; flags: number; data: unknown; what: string }[] {
  let target = '';
  const out = [];
  for (const o of plan) {
    if (o.op === 'RESOLVE') target = String(o.args[0]);
    if (o.op === 'MOUNT_AT') out.push({ target, source: o.args[0], fstype: o.args[1], flags: Number(o.args[2]), data: o.args[3], what: o.what });
  }
  return out;
}

describe('plan: privileges', () => {
  it('drops the bounding set before changing ids, and ends with no_new_privs, seccomp, capset, exec', () => {
    const ops = names(spec());
    expect(ops.indexOf('CAP_BOUND')).toBeLessThan(ops.indexOf('SETRESUID'));
    expect(ops.slice(-5)).toEqual(['UMASK', 'PRCTL', 'SECCOMP', 'CAPSET', 'EXEC']);
    const capset = buildPlan(spec(), fds).find((o) => o.op === 'CAPSET')!;
    expect(capset.args).toEqual([0b101n, 0b101n, 0n]);
  });

  it('gives a non-root user no capabilities, and leaves out what was turned off', () => {
    const plan = buildPlan(spec({ user: { uid: 1000, gid: 1000, groups: [] }, security: { caps: 0b101n, capNames: [], noNewPrivs: false, maskPaths: false } }), fds);
    expect(plan.find((o) => o.op === 'CAPSET')!.args).toEqual([0n, 0n, 0n]);
    expect(plan.some((o) => o.op === 'SECCOMP')).toBe(false);
    expect(plan.some((o) => o.what === 'set no_new_privs')).toBe(false);
    expect(plan.some((o) => o.what.startsWith('mask '))).toBe(false);
  });

  it('masks /proc/keys and makes /proc/sys read-only by default', () => {
    const whats = buildPlan(spec(), fds).map((o) => o.what);
    expect(whats).toContain('mask /proc/keys');
    expect(whats).toContain('make /proc/sys read-only');
  });

  it('unshares the cgroup namespace after the sync when the sandbox has a cgroup of its own', () => {
    const s = spec({ resources: { pidsLimit: 10 } });
    expect(cloneFlags(s) & CLONE.NEWCGROUP).toBe(0);
    const ops = names(s);
    expect(ops.indexOf('UNSHARE')).toBeGreaterThan(ops.indexOf('WAIT_FD'));
    expect(cloneFlags(spec()) & CLONE.NEWCGROUP).toBe(CLONE.NEWCGROUP);
  });

  it('sets --ulimit values', () => {
    const plan = buildPlan(spec({ ulimits: [{ name: 'nofile', resource: 7, soft: 64, hard: 128 }] }), fds);
    expect(plan.find((o) => o.op === 'SETRLIMIT')!.args).toEqual([7, 64, 128]);
  });
});

describe('plan', () => {
  it("sends stdout and stderr to the fds given (a logged foreground run's pipes), each apart", () => {
    const dups = (s: SandboxSpec) =>
      buildPlan(s, fds, { initImage: INIT_IMAGE })
        .filter((o) => o.op === 'DUP2' && o.args[0] !== o.args[1])
        .map((o) => o.args);
    expect(dups(spec({ outputFd: 20, errorFd: 21 }))).toEqual([[20, 1], [21, 2]]);
    expect(dups(spec({ outputFd: 20 }))).toEqual([[20, 1], [20, 2]]);
    expect(dups(spec())).toEqual([]);
  });

  it('sets the death signal first, waits for the id maps before any id-dependent step, and ends with exec', () => {
    const plan = buildPlan(spec(), fds);
    const ops = plan.map((o) => o.op);
    expect(ops[0]).toBe('PRCTL');
    const wait = ops.indexOf('WAIT_FD');
    // Mounts that don't depend on the maps overlap with newuidmap; devpts (gid=5), pivot_root and id changes wait.
    expect(ops.indexOf('MOUNT')).toBeLessThan(wait);
    expect(ops.indexOf('MOUNT_AT')).toBeLessThan(wait);
    expect(plan.findIndex((o) => o.op === 'MOUNT_AT' && o.args[1] === 'devpts')).toBeGreaterThan(wait);
    for (const later of ['PIVOT_ROOT', 'SETRESUID', 'SETRESGID', 'SETHOSTNAME', 'EXEC'] as const) expect(ops.indexOf(later)).toBeGreaterThan(wait);
    expect(ops.indexOf('PIVOT_ROOT')).toBeGreaterThan(ops.lastIndexOf('MOUNT_AT'));
    expect(ops.at(-1)).toBe('EXEC');
    expect(ops.indexOf('RESET_SIGNALS')).toBeLessThan(ops.indexOf('EXEC'));
    expect(ops.indexOf('CLOEXEC_FROM')).toBeLessThan(ops.indexOf('EXEC'));
  });

  it('closes the parent ends of both channels in the child before waiting', () => {
    const plan = buildPlan(spec(), fds);
    const closed = plan.filter((o) => o.op === 'CLOSE').map((o) => o.args[0]);
    expect(closed).toEqual(expect.arrayContaining([fds.syncWrite, fds.statusParent]));
  });

  it('mounts proc, a tmpfs /dev, devpts and a read-only sysfs under the rootfs', () => {
    const mounts = mountsAt(buildPlan(spec(), fds));
    const byType = (t: string) => mounts.find((m) => m.fstype === t);
    expect(byType('proc')?.target).toBe('/proc');
    expect(byType('devpts')?.target).toBe('/dev/pts');
    expect(byType('devpts')?.data).toContain('newinstance');
    expect(byType('devpts')?.data).not.toContain('gid=5'); // gid 5 is not mapped with one id
    expect(byType('sysfs')!.flags & MS.RDONLY).toBe(MS.RDONLY);
    // /dev/null is bound once as a device (masked /proc files get it too)
    expect(mounts.filter((m) => m.source === '/dev/null' && m.target === '/dev/null')).toHaveLength(1);
  });

  it('names every mount target and working directory as an inside path, resolved in the rootfs by the executor', () => {
    const plan = buildPlan(spec({ binds: [{ source: '/etc', target: '/mnt/etc', readOnly: false }], tmpfs: [{ target: '/cache', options: '', flags: 0 }], cwd: '/work' }), fds);
    // Host paths of the rootfs appear only where nook chose them: the rootfs bind, the root to resolve in, pivot_root.
    const hostPathOps = plan.filter((o) => o.args.some((a) => typeof a === 'string' && a.startsWith(root))).map((o) => o.op);
    expect(hostPathOps).toEqual(['MOUNT', 'SET_ROOT', 'PIVOT_ROOT']);
    const setRoot = plan.findIndex((o) => o.op === 'SET_ROOT');
    expect(plan.findIndex((o) => o.op === 'RESOLVE')).toBeGreaterThan(setRoot);
    expect(plan.findIndex((o) => o.op === 'HOLD_PROC')).toBeLessThan(plan.findIndex((o) => o.op === 'MOUNT' && o.args[0] === root));
    const targets = mountsAt(plan).map((m) => m.target);
    expect(targets).toEqual(expect.arrayContaining(['/proc', '/sys', '/dev', '/dev/null', '/dev/shm', '/dev/pts', '/mnt/etc', '/cache', '/proc/keys', '/proc/sys']));
    // After pivot_root, the working directory is resolved in the container's / and entered by fd.
    const ops = plan.map((o) => o.op);
    const cwd = plan.findIndex((o) => o.op === 'RESOLVE' && o.args[0] === '/work');
    expect(cwd).toBeGreaterThan(ops.indexOf('PIVOT_ROOT'));
    expect(plan[cwd].args[1]).toBe(Resolve.CREATE_DIR);
    expect(plan.slice(ops.indexOf('PIVOT_ROOT'), cwd).some((o) => o.op === 'SET_ROOT' && o.args[0] === '/')).toBe(true);
    expect(ops[cwd + 1]).toBe('CHDIR_AT');
  });

  it('uses devpts gid=5 when gid 5 is mapped', () => {
    const idmap = { ...spec().idmap, gid: [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65536 }] };
    const devpts = mountsAt(buildPlan(spec({ idmap }), fds)).find((m) => m.fstype === 'devpts');
    expect(devpts?.data).toContain('gid=5');
  });

  it('brings up loopback only in its own network namespace, and binds /sys read-only, submounts too, for --network host', () => {
    expect(names(spec())).toContain('IFUP');
    const host = buildPlan(spec({ network: 'host' }), fds);
    expect(host.map((o) => o.op)).not.toContain('IFUP');
    expect(mountsAt(host).find((m) => m.source === '/sys')).toMatchObject({ target: '/sys', flags: MS.BIND | MS.REC | MS.RDONLY });
    expect(cloneFlags(spec()) & CLONE.NEWNET).toBe(CLONE.NEWNET);
    expect(cloneFlags(spec({ network: 'host' })) & CLONE.NEWNET).toBe(0);
  });

  it('gives the private modes (pasta, slirp4netns) a network namespace of their own with loopback up, and a sysfs of their own', () => {
    for (const network of ['pasta', 'slirp4netns'] as const) {
      expect(cloneFlags(spec({ network })) & CLONE.NEWNET).toBe(CLONE.NEWNET);
      const plan = buildPlan(spec({ network }), fds);
      expect(plan.map((o) => o.op)).toContain('IFUP');
      expect(mountsAt(plan).find((m) => m.target === '/sys')).toMatchObject({ fstype: 'sysfs' });
    }
  });

  it('attaches stdin to /dev/null unless interactive, and uses a pty with -t', () => {
    const opens = (s: SandboxSpec) => buildPlan(s, fds).filter((o) => o.op === 'OPEN').map((o) => o.args[0]);
    expect(opens(spec())).toEqual(['/dev/null']);
    expect(opens(spec({ interactive: true }))).toEqual([]);
    const tty = names(spec({ tty: true, interactive: true }));
    expect(tty).toContain('PTY');
    expect(tty).not.toContain('CLEAR_NONBLOCK');
  });

  it("gives the command a session of its own in every mode (never the user's terminal as its own)", () => {
    for (const s of [spec(), spec({ interactive: true }), spec({ init: true, interactive: true })]) {
      const ops = names(s);
      expect(ops.filter((o) => o === 'SETSID')).toHaveLength(1);
      expect(ops).not.toContain('SETPGID');
      expect(ops.indexOf('SETSID')).toBeLessThan(ops.indexOf('EXEC'));
    }
    // With -t, the PTY step makes the session (setsid, then the pty as controlling terminal).
    expect(names(spec({ tty: true }))).not.toContain('SETSID');
    const join = names2(buildJoinPlan(spec({ interactive: true }), [], fds));
    expect(join.indexOf('SETSID')).toBeGreaterThan(join.indexOf('FORK'));
  });

  it('skips setgroups when the id map denies it, and switches gid before uid', () => {
    expect(names(spec())).not.toContain('SETGROUPS');
    const ops = names(spec({ idmap: { ...spec().idmap, setgroups: true } }));
    expect(ops.indexOf('SETGROUPS')).toBeLessThan(ops.indexOf('SETRESGID'));
    expect(ops.indexOf('SETRESGID')).toBeLessThan(ops.indexOf('SETRESUID'));
  });

  it('remounts / read-only after pivot_root with --read-only, and binds read-only volumes', () => {
    const plan = buildPlan(spec({ readOnly: true, binds: [{ source: '/etc', target: '/mnt/etc', readOnly: true }] }), fds);
    const ops = plan.map((o) => o.op);
    const rootRemount = plan.findIndex((o) => o.op === 'REMOUNT_BIND' && o.args[0] === '/');
    expect(rootRemount).toBeGreaterThan(ops.indexOf('PIVOT_ROOT'));
    expect(mountsAt(plan).find((m) => m.target === '/mnt/etc')).toMatchObject({ source: '/etc', flags: MS.BIND | MS.REC | MS.RDONLY });
  });

  it('marks optional binds (generated /etc files) so the executor may go without them, and no other', () => {
    const plan = buildPlan(spec({ binds: [{ source: '/etc/hostname', target: '/etc/hosts', readOnly: false, optional: true }, { source: '/etc', target: '/mnt/etc', readOnly: false }] }), fds);
    const resolveOf = (t: string) => plan.find((o) => o.op === 'RESOLVE' && o.args[0] === t)!;
    expect(Number(resolveOf('/etc/hosts').args[1])).toBe(Resolve.CREATE_FILE | Resolve.OPTIONAL);
    expect(Number(resolveOf('/mnt/etc').args[1])).toBe(Resolve.CREATE_DIR);
  });

  it('binds existing-only mounts (a --rootfs /run/.containerenv) where the mount point exists, making nothing', () => {
    const plan = buildPlan(spec({ binds: [{ source: '/etc/hostname', target: '/run/.containerenv', readOnly: true, optional: true, existingOnly: true }] }), fds);
    const r = plan.find((o) => o.op === 'RESOLVE' && o.args[0] === '/run/.containerenv')!;
    expect(Number(r.args[1])).toBe(Resolve.EXISTING | Resolve.OPTIONAL);
  });

  it('executes with the PATH of the sandbox environment', () => {
    const exec = buildPlan(spec(), fds).at(-1)!;
    expect(exec.args[0]).toBe('sh');
    expect(exec.args[3]).toBe('/bin:/usr/bin');
    expect(searchPath([])).toContain('/usr/local/sbin');
  });
});

describe('plan: --init', () => {
  it('runs INIT after every privilege step and right before EXEC, only when asked', () => {
    expect(names(spec())).not.toContain('INIT');
    const ops = names(spec({ init: true }));
    expect(ops.filter((o) => o === 'INIT')).toHaveLength(1);
    // init forks the command after seccomp and capset, so both processes are confined alike.
    expect(ops.indexOf('INIT')).toBeGreaterThan(ops.indexOf('SECCOMP'));
    expect(ops.indexOf('INIT')).toBeGreaterThan(ops.indexOf('CAPSET'));
    expect(ops.at(-1)).toBe('EXEC');
    expect(ops.at(-2)).toBe('INIT');
  });

  it('loads the init program before any seccomp filter, and gives init the container environment only', () => {
    for (const noNewPrivs of [true, false]) {
      const s = spec({ init: true, security: { ...spec().security, noNewPrivs } });
      const plan = buildPlan(s, fds, { initImage: INIT_IMAGE });
      const ops = plan.map((o) => o.op);
      expect(ops.indexOf('INIT_IMAGE')).toBeGreaterThan(-1);
      expect(ops.indexOf('INIT_IMAGE')).toBeLessThan(ops.indexOf('SECCOMP'));
      const image = plan.find((o) => o.op === 'INIT_IMAGE')!;
      expect(image.args).toEqual([{ bytes: INIT_IMAGE }, INIT_IMAGE.length]);
      expect(plan.find((o) => o.op === 'INIT')!.args).toEqual([{ strings: s.env }, 0]);
    }
    expect(buildPlan(spec({ init: true, tty: true }), fds, { initImage: INIT_IMAGE }).find((o) => o.op === 'INIT')!.args[1]).toBe(1);
    expect(names(spec())).not.toContain('INIT_IMAGE');
    expect(() => buildPlan(spec({ init: true }), fds)).toThrow(/init program/);
  });
});

describe('join plan (nook exec)', () => {
  const nsFds = JOINED_NAMESPACES.map((ns, i) => ({ ...ns, fd: 20 + i }));
  const join = (over: Partial<SandboxSpec> = {}) => buildJoinPlan(spec(over), nsFds, fds);

  it('is non-dumpable before anything else, and joins the user namespace first and mnt last', () => {
    const ops = join();
    expect(ops[0]).toMatchObject({ op: 'PRCTL', args: [4, 0, 0, 0, 0] });
    const setns = ops.filter((o) => o.op === 'SETNS');
    expect(setns.map((o) => o.args[0])).toEqual(nsFds.map((n) => n.fd));
    expect(setns[0]!.args[1]).toBe(CLONE.NEWUSER);
    expect(setns.at(-1)!.args[1]).toBe(CLONE.NEWNS);
    // It waits to be moved into the container's cgroup before joining anything.
    expect(ops.findIndex((o) => o.op === 'WAIT_FD')).toBeLessThan(ops.findIndex((o) => o.op === 'SETNS'));
  });

  it('forks into the pid namespace before the process steps, and never runs an init', () => {
    const ops = join({ init: true, user: { uid: 1000, gid: 1000, groups: [] } }).map((o) => o.op);
    const fork = ops.indexOf('FORK');
    expect(fork).toBeGreaterThan(ops.lastIndexOf('SETNS'));
    expect(fork).toBeLessThan(ops.indexOf('SETRESUID'));
    expect(ops).not.toContain('INIT');
    expect(ops.at(-1)).toBe('EXEC');
  });
});

describe('plan: a mount list and a parent of its own', () => {
  it('compiles a given mount list in order (binds, filesystems, links), instead of docker\'s layout', () => {
    const mounts: MountEntry[] = [
      { destination: '/proc', type: 'proc', source: 'proc', flags: 0, create: 'dir', needsIdMaps: false, what: 'proc' },
      { destination: '/data', type: 'bind', source: '/srv/data', flags: MS.BIND | MS.RDONLY, create: 'dir', needsIdMaps: false, what: 'data' },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', flags: 0, data: 'size=1m', create: 'dir', needsIdMaps: true, what: 'run' },
      { destination: '/run/link', type: 'symlink', source: '/data', flags: 0, create: 'none', needsIdMaps: true, what: 'link' },
    ];
    const plan = buildPlan(spec(), fds, { mounts });
    expect(mountsAt(plan).map((m) => [m.target, m.source, m.fstype])).toEqual([
      ['/proc', 'proc', 'proc'],
      ['/data', '/srv/data', null],
      ['/run', 'tmpfs', 'tmpfs'],
    ]);
    const ops = plan.map((o) => o.op);
    // Entries before the first that needs the id maps run while nook writes them; the rest after.
    expect(plan.findIndex((o) => o.op === 'MOUNT_AT' && o.args[0] === '/srv/data')).toBeLessThan(ops.indexOf('WAIT_FD'));
    expect(plan.findIndex((o) => o.op === 'MOUNT_AT' && o.args[1] === 'tmpfs')).toBeGreaterThan(ops.indexOf('WAIT_FD'));
    const link = plan.findIndex((o) => o.op === 'SYMLINK_AT');
    expect(plan[link].args).toEqual(['/data', 'link']);
    expect(plan[link - 1]).toMatchObject({ op: 'RESOLVE', args: ['/run', Resolve.EXISTING, 0o755] });
    expect(plan.some((o) => o.what === 'mount a tmpfs on /dev')).toBe(false);
  });

  it('closes every inherited descriptor from 3 on exec, or from 3+N with preserveFds N', () => {
    const from = (p: PlanOp[]) => p.find((o) => o.op === 'CLOEXEC_FROM')!.args[0];
    expect(from(buildPlan(spec(), fds))).toBe(3);
    expect(from(buildPlan(spec(), fds, { preserveFds: 2 }))).toBe(5);
  });

  it('makes the preserved descriptors inheritable again after marking the rest close-on-exec', () => {
    const plan = buildPlan(spec(), fds, { preserveFds: 2 });
    const at = plan.findIndex((o) => o.op === 'CLOEXEC_FROM');
    const again = plan.slice(at).filter((o) => o.op === 'DUP2' && o.args[0] === o.args[1]).map((o) => o.args[0]);
    expect(again).toEqual([3, 4]);
    expect(buildPlan(spec(), fds).slice(at).some((o) => o.op === 'DUP2' && o.args[0] === 3)).toBe(false);
  });

  it('is tied to nook by default (parent-death signal, exit if nook is gone), and not when told', () => {
    const tied = buildPlan(spec(), fds);
    expect(tied.filter((o) => o.op === 'PRCTL' && o.args[0] === 1)).toHaveLength(2);
    expect(tied.some((o) => o.op === 'EXIT_IF_HUP')).toBe(true);
    const free = buildPlan(spec(), fds, { tiedToParent: false });
    expect(free.some((o) => o.op === 'PRCTL' && o.args[0] === 1)).toBe(false);
    expect(free.some((o) => o.op === 'EXIT_IF_HUP')).toBe(false);
  });
});

describe('--network container:NAME (joinNetns)', () => {
  const joined = spec({ network: 'container', joinNetns: { pid: 4242, pidStart: 7, id: 'a'.repeat(64), name: 'web' } });
  it('clones with no namespaces: the executor makes its own after joining the other user namespace', () => {
    expect(cloneFlags(joined) & (CLONE.NEWUSER | CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWNET | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWCGROUP)).toBe(0);
  });
  it('waits for its cgroup, joins user then net by pid, unshares the rest, forks, then mounts; no IFUP (the loopback is the other\'s)', () => {
    const ops = buildPlan(joined, fds, { initImage: INIT_IMAGE });
    const at = (op: string, pred: (o: PlanOp) => boolean = () => true) => ops.findIndex((o) => o.op === op && pred(o));
    const openUser = at('OPEN', (o) => o.args[0] === '/proc/4242/ns/user');
    const openNet = at('OPEN', (o) => o.args[0] === '/proc/4242/ns/net');
    const setUser = at('SETNS', (o) => o.args[1] === CLONE.NEWUSER);
    const setNet = at('SETNS', (o) => o.args[1] === CLONE.NEWNET);
    const unshare = at('UNSHARE');
    const fork = at('FORK');
    expect(at('WAIT_FD')).toBeLessThan(openUser);
    expect(openUser).toBeGreaterThan(-1);
    expect(openNet).toBeGreaterThan(openUser);
    expect(setUser).toBeGreaterThan(openNet);
    expect(setNet).toBeGreaterThan(setUser);
    expect(unshare).toBeGreaterThan(setNet);
    expect(ops[unshare].args[0]).toBe(CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWPID | CLONE.NEWCGROUP);
    expect(fork).toBe(unshare + 1);
    // Non-dumpable before it enters the other container's user namespace.
    expect(at('PRCTL', (o) => o.args[0] === 4 /* PR_SET_DUMPABLE */)).toBeLessThan(setUser);
    // The namespace files go to descriptors the plan does not use, and are closed.
    const nsFds = [ops[openUser].args[3], ops[openNet].args[3]] as number[];
    for (const fd of nsFds) expect(Object.values(fds)).not.toContain(fd);
    for (const fd of nsFds) expect(ops.some((o) => o.op === 'CLOSE' && o.args[0] === fd)).toBe(true);
    expect(at('PIVOT_ROOT')).toBeGreaterThan(fork);
    expect(at('IFUP')).toBe(-1);
  });
});
