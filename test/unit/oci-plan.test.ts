/**
 * src/oci/plan.ts: an OCI config as an executor plan, step by step (the
 * integration tests check what a container sees; these, the order and the
 * choices that lead there).
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLONE, MS } from '../../ffi/linux';
import type { PlanOp } from '../../ffi/plan-format';
import { validateConfig, type OciConfig } from '../../src/oci/config';
import { parseMountOptions } from '../../src/oci/mounts';
import { idMappingFor, planContainer, type HostFacts } from '../../src/oci/plan';

const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-oci-plan-'));
fs.mkdirSync(path.join(bundle, 'rootfs'));
afterAll(() => fs.rmSync(bundle, { recursive: true, force: true }));
const fds = { syncRead: 10, syncWrite: 11, statusParent: 12, statusChild: 13, hookRead: 14, hookWrite: 15 };

const rootHost: HostFacts = { uid: 0, gid: 0, inUserNamespace: false, setgroupsAllowed: true, lastCap: 40, bounding: (1n << 41n) - 1n, gids: [{ inside: 0, outside: 0, count: 4294967295 }] };
const userHost: HostFacts = { ...rootHost, uid: 1000, gid: 1000, inUserNamespace: false };
const singleIdHost: HostFacts = { ...rootHost, inUserNamespace: true, setgroupsAllowed: false, gids: [{ inside: 0, outside: 1000, count: 1 }] };

function config(over: Partial<OciConfig> = {}, linux: Partial<NonNullable<OciConfig['linux']>> = {}): OciConfig {
  return {
    ociVersion: '1.0.2',
    root: { path: 'rootfs' },
    process: { args: ['sh', '-c', 'true'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 }, capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] } },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }], ...linux },
    ...over,
  };
}

function plan(c: OciConfig, host = rootHost) {
  return planContainer({
    config: c, bundle, rootfs: path.join(bundle, 'rootfs'), fifoPath: path.join(bundle, 'exec.fifo'), host, preserveFds: 0, rootless: 'auto',
    hookState: () => ['{"pid":', '}'],
  });
}
const ops = (c: OciConfig, host = rootHost): PlanOp[] => plan(c, host).ops(fds);
const index = (list: PlanOp[], op: string, from = 0) => list.findIndex((o, i) => i >= from && o.op === op);

describe('namespaces', () => {
  it('makes the configured namespaces at clone, the cgroup namespace once the child is in its cgroup', () => {
    const p = plan(config({}, { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }, { type: 'cgroup' }] }));
    expect(p.cloneFlags & CLONE.NEWPID).toBeTruthy();
    expect(p.cloneFlags & CLONE.NEWNET).toBeTruthy();
    expect(p.cloneFlags & CLONE.NEWCGROUP).toBe(0);
    expect(p.cloneFlags & CLONE.NEWUSER).toBe(0);
    const list = p.ops(fds);
    expect(index(list, 'UNSHARE')).toBeGreaterThan(index(list, 'WAIT_FD'));
    expect(list[index(list, 'UNSHARE')].args[0]).toBe(CLONE.NEWCGROUP);
  });

  it('gives an unprivileged caller a user namespace mapping its own ids to root (runc --rootless)', () => {
    const p = plan(config(), userHost);
    expect(p.cloneFlags & CLONE.NEWUSER).toBeTruthy();
    expect(p.userns).toEqual({ uid: [{ inside: 0, outside: 1000, count: 1 }], gid: [{ inside: 0, outside: 1000, count: 1 }], implied: true });
    // The kernel denies setgroups() for a single id an unprivileged process maps itself: no SETGROUPS step.
    expect(idMappingFor(p.userns!, userHost)).toMatchObject({ method: 'direct', setgroups: false });
    expect(index(p.ops(fds), 'SETGROUPS')).toBe(-1);
  });

  it('adds no user namespace for uid 0 of a user namespace (rootless podman), and skips setgroups where it is denied', () => {
    const p = plan(config(), singleIdHost);
    expect(p.cloneFlags & CLONE.NEWUSER).toBe(0);
    expect(index(p.ops(fds), 'SETGROUPS')).toBe(-1);
    expect(index(plan(config(), rootHost).ops(fds), 'SETGROUPS')).toBeGreaterThan(0);
  });

  it('maps through newuidmap when the mapping goes beyond the caller\'s own id', () => {
    const c = config({}, { namespaces: [{ type: 'user' }, { type: 'mount' }], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 65537 }] });
    expect(idMappingFor(plan(c, userHost).userns!, userHost)).toMatchObject({ method: 'helpers', setgroups: true });
    // Root writes any map itself.
    expect(idMappingFor(plan(c, rootHost).userns!, rootHost)).toMatchObject({ method: 'direct', setgroups: true });
  });

  it('joins namespaces by path in the child, then forks into a joined pid namespace', () => {
    const p = plan(config({}, { namespaces: [{ type: 'pid', path: '/proc/self/ns/pid' }, { type: 'mount' }, { type: 'network', path: '/proc/self/ns/net' }] }));
    expect(p.cloneFlags & (CLONE.NEWNS | CLONE.NEWPID)).toBe(0);
    const list = p.ops(fds);
    const setns = list.filter((o) => o.op === 'SETNS').map((o) => o.args[1]);
    expect(setns).toEqual([CLONE.NEWNET, CLONE.NEWPID]);
    expect(index(list, 'UNSHARE')).toBeGreaterThan(list.findIndex((o) => o.op === 'SETNS' && o.args[1] === CLONE.NEWPID));
    expect(index(list, 'FORK')).toBeGreaterThan(index(list, 'WAIT_FD'));
  });

  it('refuses what it cannot do, naming the field', () => {
    expect(() => plan(config({}, { namespaces: [{ type: 'mount' }, { type: 'time' }] }))).toThrow(/time namespace/);
    expect(() => plan(config({}, { namespaces: [{ type: 'mount' }, { type: 'network', path: '/nonexistent/ns' }] }))).toThrow(/does not exist/);
    expect(() => ops(config({ hostname: 'box' }, { namespaces: [{ type: 'mount' }] }))).toThrow(/uts namespace/);
  });

  it('without a mount namespace only chroots (mounting would change the host\'s)', () => {
    const list = ops(config({}, { namespaces: [{ type: 'pid' }] }));
    expect(index(list, 'CHROOT')).toBeGreaterThan(0);
    expect(index(list, 'PIVOT_ROOT')).toBe(-1);
    expect(index(list, 'MOUNT_AT')).toBe(-1);
  });
});

describe('the order of a container\'s start', () => {
  it('runs hooks, masks and sysctls before pivot_root, then reports created and waits at the barrier right before the program', () => {
    const hook = { path: '/bin/true' };
    const c = config(
      { hooks: { createRuntime: [hook], createContainer: [hook], startContainer: [hook] } },
      { maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'], sysctl: { 'net.ipv4.ip_forward': '1' }, namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }] },
    );
    const list = ops(c);
    const pivot = index(list, 'PIVOT_ROOT');
    const report = (kind: number) => list.findIndex((o) => o.op === 'REPORT' && o.args[0] === kind);
    expect(report(6)).toBeGreaterThan(0); // createRuntime: nook runs it while the child waits
    expect(report(6)).toBeLessThan(pivot);
    const hooks = list.flatMap((o, i) => (o.op === 'RUN_HOOK' ? [i] : []));
    expect(hooks).toHaveLength(2);
    expect(hooks[0]).toBeLessThan(pivot); // createContainer
    expect(hooks[1]).toBeGreaterThan(index(list, 'AWAIT_START')); // startContainer
    expect(index(list, 'MASK_AT')).toBeLessThan(pivot);
    expect(list.find((o) => o.op === 'WRITE_FILE' && o.args[0] === '/proc/sys/net/ipv4/ip_forward')).toBeDefined();
    const created = report(4);
    expect(created).toBeGreaterThan(index(list, 'SETRESUID'));
    expect(index(list, 'CHECK_EXEC')).toBeLessThan(created);
    expect(index(list, 'AWAIT_START')).toBe(created + 1);
    expect(list[list.length - 1].op).toBe('EXEC');
  });

  it('opens the start barrier before becoming root of a new user namespace (the FIFO is nook\'s)', () => {
    const c = config({}, { namespaces: [{ type: 'user' }, { type: 'mount' }], uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] });
    const list = ops(c);
    const open = list.findIndex((o) => o.op === 'OPEN' && String(o.args[0]).endsWith('exec.fifo'));
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThan(index(list, 'SETRESUID'));
  });

  it('installs seccomp before the switch of ids without no_new_privs, after it with', () => {
    const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    const without = ops(config({}, { seccomp }));
    expect(index(without, 'SECCOMP')).toBeLessThan(index(without, 'SETRESUID'));
    const c = config({}, { seccomp });
    c.process!.noNewPrivileges = true;
    const withNnp = ops(c);
    expect(index(withNnp, 'SECCOMP')).toBeGreaterThan(index(withNnp, 'AWAIT_START'));
  });

  it('a config without "process" makes a container whose init ends at start', () => {
    const list = ops(config({ process: undefined }));
    expect(index(list, 'AWAIT_START')).toBeGreaterThan(0);
    expect(index(list, 'EXEC')).toBe(-1);
    expect(index(list, 'CHECK_EXEC')).toBe(-1);
  });
});

describe('process', () => {
  it('sets all five capability sets, leaving out what nook itself does not hold, raising only raisable ambient ones', () => {
    const host = { ...rootHost, bounding: rootHost.bounding & ~(1n << 24n) }; // no CAP_SYS_RESOURCE
    const c = config();
    c.process!.capabilities = {
      bounding: ['CAP_KILL', 'CAP_SYS_RESOURCE'], effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_CHOWN'], inheritable: ['CAP_CHOWN'], ambient: ['CAP_CHOWN', 'CAP_KILL'],
    };
    const p = plan(c, host);
    const list = p.ops(fds);
    expect(list[index(list, 'CAP_BOUND')].args[0]).toBe(1n << 5n);
    expect(list[index(list, 'CAPSET')].args).toEqual([1n << 5n, (1n << 5n) | 1n, 1n]);
    const raised = list.filter((o) => o.op === 'PRCTL' && o.args[1] === 2).map((o) => o.args[2]);
    expect(raised).toEqual([0]); // CAP_CHOWN: permitted and inheritable; CAP_KILL is not inheritable
    expect(p.warnings.join('\n')).toMatch(/bounding set/);
  });

  it('sets rlimits by name (RLIM_INFINITY as all ones) and refuses unknown ones', () => {
    const c = config();
    c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }, { type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 }];
    const limits = ops(c).filter((o) => o.op === 'SETRLIMIT').map((o) => o.args);
    expect(limits).toEqual([[7, 1024, 2048], [4, -1, -1]]);
    c.process!.rlimits = [{ type: 'RLIMIT_TEST', soft: 1, hard: 1 }];
    expect(() => ops(c)).toThrow(/unknown limit "RLIMIT_TEST"/);
  });

  it('refuses an unknown capability and a uid the user namespace does not map', () => {
    const c = config();
    c.process!.capabilities = { bounding: ['CAP_TEST'] };
    expect(() => ops(c)).toThrow(/unknown capability "CAP_TEST"/);
    const d = config({}, { namespaces: [{ type: 'user' }, { type: 'mount' }], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] });
    d.process!.user = { uid: 5, gid: 0 };
    expect(() => plan(d, userHost)).toThrow(/uid 5 is not mapped/);
  });
});

describe('mounts', () => {
  it('reads OCI option names as flags, propagation apart, the rest as data', () => {
    expect(parseMountOptions(['nosuid', 'rbind', 'ro', 'rslave', 'mode=755'])).toEqual({
      flags: MS.NOSUID | MS.RDONLY, propagation: MS.SLAVE | MS.REC, bind: 'rbind', data: ['mode=755'],
    });
    expect(parseMountOptions(['ro', 'rw']).flags & MS.RDONLY).toBe(0);
  });

  it('mounts in the config\'s order, a relative bind source from the bundle, propagation after the mount', () => {
    fs.mkdirSync(path.join(bundle, 'data'), { recursive: true });
    const c = config({ mounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }, { destination: '/tmp/data', type: 'bind', source: 'data', options: ['rbind', 'ro', 'rprivate'] }] });
    const list = ops(c);
    const mounts = list.filter((o) => o.op === 'MOUNT_AT');
    expect(mounts[0].args).toEqual(['tmpfs', 'tmpfs', 0, 'size=1m']);
    expect(mounts[1].args).toEqual([path.join(bundle, 'data'), null, MS.BIND | MS.REC | MS.RDONLY, null]);
    expect(mounts[2].args).toEqual([null, 'none', MS.PRIVATE | MS.REC, null]);
  });

  it('drops devpts\' gid= where that gid does not exist (uid 0 of a single-id user namespace)', () => {
    const c = config({ mounts: [{ destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['newinstance', 'gid=5', 'mode=0620'] }] });
    const data = (host: HostFacts) => ops(c, host).find((o) => o.op === 'MOUNT_AT' && o.args[1] === 'devpts')!.args[3];
    expect(data(rootHost)).toBe('newinstance,gid=5,mode=0620');
    expect(data(singleIdHost)).toBe('newinstance,mode=0620');
  });

  it('binds the host\'s sysfs without a network namespace of the container\'s own', () => {
    const c = config({ mounts: [{ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] }] });
    expect(ops(c).find((o) => o.op === 'MOUNT_AT')!.args).toEqual(['/sys', null, MS.BIND | MS.REC | MS.RDONLY, null]);
  });
});

describe('config.json checks', () => {
  it('names the field that is wrong', () => {
    expect(() => validateConfig({ ociVersion: 'invalid' })).toThrow(/ociVersion "invalid"/);
    expect(() => validateConfig({ ociVersion: '1.0.2', process: { cwd: 'relative', user: { uid: 0, gid: 0 } } })).toThrow(/process.cwd must be an absolute path/);
    expect(() => validateConfig({ ociVersion: '1.0.2', mounts: [{ destination: 'tmp' }] })).toThrow(/mounts\[0\].destination/);
    expect(() => validateConfig({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }, { type: 'pid' }] } })).toThrow(/twice/);
    expect(validateConfig({ ociVersion: '1.0.2-dev', unknownField: 1 }).ociVersion).toBe('1.0.2-dev');
  });

  it('lets no value of a wrong type or with a NUL byte through to the plan (a number read as a string offset)', () => {
    const base = { ociVersion: '1.0.2', process: { cwd: '/', user: { uid: 0, gid: 0 }, args: ['sh'] } };
    expect(() => validateConfig({ ...base, hostname: 7 })).toThrow(/hostname must be a string/);
    expect(() => validateConfig({ ...base, mounts: [{ destination: '/x', type: 1 }] })).toThrow(/mounts\[0\].type must be a string/);
    expect(() => validateConfig({ ...base, hooks: { poststop: [{ path: '/bin/true', args: [1] }] } })).toThrow(/hooks.poststop\[0\].args/);
    expect(() => validateConfig({ ...base, linux: { devices: [{ path: '/dev/x', type: 'c', major: '1' }] } })).toThrow(/devices\[0\].major/);
    expect(() => validateConfig({ ...base, process: { ...base.process, args: ['sh', 'a\0b'] } })).toThrow(/process.args\[1\] holds a NUL byte/);
    expect(() => validateConfig({ ...base, process: { ...base.process, user: { uid: 0, gid: 0, umask: '022' } } })).toThrow(/umask must be an integer/);
  });
});
