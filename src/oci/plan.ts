/**
 * An OCI config as a plan for nook's executor (runc's specconv, for nook):
 * which namespaces to make or join, the mounts in order, devices, masked and
 * read-only paths, hooks in the container's namespaces, then the process's
 * ids, capabilities, limits and seccomp, with the start barrier right before
 * execve(). Pure apart from a few stat() calls on the host: unit tests can
 * read a plan step by step. Knows nothing of the command line.
 *
 * The order of a container's start (runtime.md's lifecycle):
 *   clone (new namespaces) | or: fork, setns() into the given paths, unshare() the new ones
 *   → [report 5: the parent writes the id maps] → wait for the parent's go
 *   → (fork into a joined or new pid namespace) → mounts, devices → [report 6: the parent runs
 *   createRuntime hooks] → createContainer hooks → masks, sysctls → pivot_root
 *   → stdio, cwd, limits, ids, capabilities → [report 4: created] → wait on exec.fifo (start)
 *   → startContainer hooks → seccomp → execve
 */
import fs = require('node:fs');
import path = require('node:path');
import { Status, type PlanOp } from '../../ffi/plan-format';
import { CLONE, MS, O, PR, SIGNAL } from '../../ffi/linux';
import { NookError } from '../errors';
import { CAPABILITIES } from '../sandbox/capabilities';
import { compileMounts, resolveOp, type MountEntry } from '../sandbox/mounts';
import { DEFAULT_PATH } from '../sandbox/plan';
import type { IdMapping, IdRange } from '../sandbox/idmap';
import { type OciConfig, type OciDevice, type OciHook, type OciProcess } from './config';
import { ociMountEntries } from './mounts';
import { compileOciSeccomp } from './seccomp';


export const NAMESPACE_FLAGS: Record<string, number> = {
  user: CLONE.NEWUSER, mount: CLONE.NEWNS, pid: CLONE.NEWPID, network: CLONE.NEWNET, ipc: CLONE.NEWIPC, uts: CLONE.NEWUTS, cgroup: CLONE.NEWCGROUP,
};

/** The order namespaces are joined in: user first (it grants the rights the others need), mount last. */
const JOIN_ORDER = ['user', 'ipc', 'uts', 'network', 'cgroup', 'pid', 'mount'];

export interface HostFacts {
  /** nook's effective uid and gid. */
  uid: number;
  gid: number;
  /** nook runs inside a user namespace that is not the initial one (rootless podman, `unshare -r`). */
  inUserNamespace: boolean;
  /** setgroups() is allowed in nook's user namespace (/proc/self/setgroups). */
  setgroupsAllowed: boolean;
  /** The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
  lastCap: number;
  /** nook's bounding set (/proc/self/status CapBnd): no process it starts can hold more. */
  bounding: bigint;
  /** The gids that exist in nook's user namespace (/proc/self/gid_map, inside → outside). */
  gids: IdRange[];
}

export function readHostFacts(): HostFacts {
  const read = (f: string, d: string) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return d;
    }
  };
  const uidMap = read('/proc/self/uid_map', '0 0 4294967295').trim().split(/\s+/);
  return {
    uid: process.geteuid!(),
    gid: process.getegid!(),
    inUserNamespace: !(uidMap.length === 3 && uidMap[0] === '0' && uidMap[1] === '0' && uidMap[2] === '4294967295'),
    setgroupsAllowed: read('/proc/self/setgroups', 'allow').trim() === 'allow',
    lastCap: Number(read('/proc/sys/kernel/cap_last_cap', '40').trim()) || 40,
    gids: read('/proc/self/gid_map', '0 0 4294967295').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number)).map(([inside, outside, count]) => ({ inside, outside, count })),
    bounding: BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(read('/proc/self/status', ''))?.[1] ?? 'ffffffffff'}`),
  };
}

/** The user namespace a container gets, when it gets one of its own. */
export interface UserNamespacePlan {
  uid: IdRange[];
  gid: IdRange[];
  /** Mapped by nook (rootless without a user namespace in the config): the caller's ids as root. */
  implied: boolean;
}

export interface ContainerPlanInput {
  config: OciConfig;
  bundle: string;
  rootfs: string;
  /** The start barrier (ROOT/ID/exec.fifo). */
  fifoPath: string;
  host: HostFacts;
  preserveFds: number;
  /** The hooks' state before and after the pid (the executor writes its own pid between them). */
  hookState: (status: string) => [string, string];
  /** --rootless: true forces the caller's-ids namespace even for root, false never adds one. */
  rootless: 'auto' | 'true' | 'false';
}

export interface ContainerPlan {
  config: OciConfig;
  cloneFlags: number;
  /** Namespaces joined by path: the executor forks into them (the init is then that fork). */
  joins: { type: string; path: string }[];
  userns?: UserNamespacePlan;
  /** The executor reports Status.UNSHARED and waits for the id maps after joining (else they are written at once). */
  mapsAfterUnshare: boolean;
  /** The executor reports Status.HOOKS and waits for the parent's createRuntime hooks. */
  parentHooks: boolean;
  ownPidNamespace: boolean;
  warnings: string[];
  ops(fds: OciFds): PlanOp[];
}

export interface OciFds {
  syncRead: number;
  syncWrite: number;
  statusParent: number;
  statusChild: number;
  /** Where the parent says go after its hooks. */
  hookRead: number;
  hookWrite: number;
}

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5, RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10, RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

/** A JSON uint64: 2^64-1 (RLIM_INFINITY) arrives rounded up past 2^63, as -1 it is all ones again. */
const rlimValue = (n: number) => (n >= 2 ** 63 ? -1 : n);

const DEFAULT_DEVICES: OciDevice[] = ['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((name) => ({ type: 'c', path: `/dev/${name}` }));

const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
];

export function capMask(names: readonly string[] | undefined, field: string, lastCap: number, warnings: string[]): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const n = name.toUpperCase().replace(/^CAP_/, '');
    const bit = CAPABILITIES[n];
    if (bit === undefined) throw new NookError(`config.json: ${field}: unknown capability "${name}"`, { hint: 'capabilities are named as in capabilities(7), e.g. CAP_NET_ADMIN' });
    if (bit > lastCap) {
      warnings.push(`${field}: ${name} is unknown to this kernel (its last capability is ${lastCap}); left out`);
      continue;
    }
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

function mappingOf(list: { containerID: number; hostID: number; size: number }[] | undefined): IdRange[] {
  return (list ?? []).map((m) => ({ inside: m.containerID, outside: m.hostID, count: m.size }));
}

const mapped = (ranges: IdRange[], id: number) => ranges.some((r) => id >= r.inside && id - r.inside < r.count);

/** A device's number as the kernel packs it (makedev). */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

const FILE_TYPE: Record<string, number> = { c: 0o020000, u: 0o020000, b: 0o060000, p: 0o010000 };

/** Host device nodes by path, for binding (without the right to mknod). */
function hostDeviceMatches(d: OciDevice): boolean {
  try {
    const st = fs.statSync(d.path);
    const kind = d.type === 'b' ? st.isBlockDevice() : d.type === 'p' ? st.isFIFO() : st.isCharacterDevice();
    if (!kind) return false;
    if (d.major === undefined || d.type === 'p') return true;
    const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
    const minor = Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & 0xfff00n));
    return major === d.major && minor === (d.minor ?? 0);
  } catch {
    return false;
  }
}

function hookOp(kind: string, h: OciHook, state: [string, string], i: number): PlanOp {
  return {
    op: 'RUN_HOOK',
    args: [h.path, { strings: h.args?.length ? h.args : [h.path] }, { strings: h.env ?? [] }, state[0], state[1], h.timeout ?? 0],
    what: `run the ${kind} hook ${i} (${h.path})`,
  };
}

export function planContainer(input: ContainerPlanInput): ContainerPlan {
  const { config, host } = input;
  // Without "process" a container can be created, never started (runtime.md): its init waits, then ends.
  const proc: OciProcess = config.process ?? { args: [], cwd: '/', user: { uid: 0, gid: 0 } };
  if (config.process && !proc.args?.length) throw new NookError('config.json: process.args is empty', { hint: 'name the program to run, e.g. ["sh"]' });
  const warnings: string[] = [];
  const namespaces = [...(config.linux?.namespaces ?? [])];
  for (const ns of namespaces) if (ns.type === 'time') throw new NookError('config.json: the time namespace is not supported by nook', { hint: 'remove it from linux.namespaces' });

  // Rootless (runc --rootless): a config without a user namespace gets one mapping the caller's ids as root.
  const wantsImplied = input.rootless === 'true' || (input.rootless === 'auto' && host.uid !== 0);
  let userns: UserNamespacePlan | undefined;
  const userEntry = namespaces.find((n) => n.type === 'user');
  if (!userEntry && wantsImplied) {
    namespaces.unshift({ type: 'user' });
    userns = { uid: [{ inside: 0, outside: host.uid, count: 1 }], gid: [{ inside: 0, outside: host.gid, count: 1 }], implied: true };
  } else if (userEntry && !userEntry.path) {
    const uid = mappingOf(config.linux?.uidMappings);
    const gid = mappingOf(config.linux?.gidMappings);
    if (!uid.length || !gid.length)
      throw new NookError('config.json: a new user namespace needs linux.uidMappings and linux.gidMappings', { hint: 'map at least the container\'s root, e.g. {"containerID":0,"hostID":1000,"size":1}' });
    userns = { uid, gid, implied: false };
  }
  const own = (type: string) => namespaces.some((n) => n.type === type && !n.path);
  const joins = JOIN_ORDER.flatMap((type) => namespaces.filter((n) => n.type === type && n.path).map((n) => ({ type, path: n.path! })));
  for (const j of joins)
    if (!fs.existsSync(j.path)) throw new NookError(`config.json: linux.namespaces: the ${j.type} namespace ${j.path} does not exist`, { hint: 'join a namespace file of a running process (/proc/PID/ns/...) or a bind mount of one' });
  // Without a mount namespace nothing can be mounted without changing the host's: a plain chroot (as runc).
  // (A joined mount namespace gets the container's mounts and pivot_root in it, as runc does.)
  const chrootOnly = !own('mount') && !joins.some((j) => j.type === 'mount');
  if (chrootOnly && config.mounts?.length) warnings.push('mounts are not made: the container has no mount namespace of its own');

  let newFlags = 0;
  // The cgroup namespace is made after the child has been moved into its cgroup (nook writes it
  // before the go), so that this cgroup is the namespace's root.
  for (const n of namespaces) if (!n.path && n.type !== 'cgroup') newFlags |= NAMESPACE_FLAGS[n.type] ?? 0;
  const pidJoined = joins.some((j) => j.type === 'pid');
  const fork = joins.length > 0 && (own('pid') || pidJoined);
  const cloneFlags = ((joins.length ? 0 : newFlags) | SIGNAL.SIGCHLD) >>> 0;
  const ownPidNamespace = own('pid') || pidJoined;

  // Ids inside the container's user namespace: unmapped ids make setresuid() fail with EINVAL.
  const user = proc.user;
  const joinedUser = namespaces.find((n) => n.type === 'user' && n.path);
  const setgroupsWorks = userns ? idMappingFor(userns, host).setgroups : joinedUser ? setgroupsAllowedIn(joinedUser.path!) : host.setgroupsAllowed;
  if (userns && !mapped(userns.uid, user.uid))
    throw new NookError(`config.json: process.user.uid ${user.uid} is not mapped in the container's user namespace`, { hint: 'add it to linux.uidMappings, or run as uid 0' });
  if (userns && !mapped(userns.gid, user.gid))
    throw new NookError(`config.json: process.user.gid ${user.gid} is not mapped in the container's user namespace`, { hint: 'add it to linux.gidMappings, or run as gid 0' });
  if (!setgroupsWorks && user.additionalGids?.length)
    throw new NookError('config.json: process.user.additionalGids cannot be set: setgroups() is denied in this user namespace', {
      hint: userns?.implied ? 'a rootless container maps only your own ids; give it linux.uidMappings/gidMappings with subordinate ids (/etc/subuid)' : 'nook runs in a user namespace that denies setgroups (e.g. `unshare -r`)',
    });
  if (proc.apparmorProfile) warnings.push(`process.apparmorProfile "${proc.apparmorProfile}" is not applied: nook does not support AppArmor`);
  if (proc.selinuxLabel) warnings.push(`process.selinuxLabel "${proc.selinuxLabel}" is not applied: nook does not support SELinux`);
  if (config.linux?.mountLabel) warnings.push('linux.mountLabel is not applied: nook does not support SELinux');

  // Can this process make device nodes? Only real root outside any user namespace.
  const canMknod = host.uid === 0 && !host.inUserNamespace && !userns;
  const gidMapped = (g: number) => mapped(userns ? userns.gid : host.gids, g);
  const mounts: MountEntry[] = (config.mounts ?? []).flatMap((m, i) => ociMountEntries(m, { bundle: input.bundle, ownNetns: own('network') || joins.some((j) => j.type === 'network'), ownIpcns: own('ipc') || joins.some((j) => j.type === 'ipc'), gidMapped }, i));
  const devMounted = (config.mounts ?? []).some((m) => path.posix.normalize(m.destination) === '/dev' && m.type !== 'bind' && !(m.options ?? []).some((o) => o === 'bind' || o === 'rbind'));

  const parentHooks = !!config.hooks?.createRuntime?.length;

  const ops = (fds: OciFds): PlanOp[] => {
    const out: PlanOp[] = [
      { op: 'CLOSE', args: [fds.syncWrite], what: 'close the parent end of the sync pipe' },
      { op: 'CLOSE', args: [fds.statusParent], what: 'close the parent end of the status socket' },
      { op: 'CLOSE', args: [fds.hookWrite], what: 'close the parent end of the hook pipe' },
    ];
    const high = Math.max(fds.syncRead, fds.syncWrite, fds.statusParent, fds.statusChild, fds.hookRead, fds.hookWrite, 2 + input.preserveFds) + 1;
    // Nothing of nook's stays open in the init while it waits to be started (maybe long: until `start`), nor
    // reaches a hook: every descriptor but stdio, the preserved ones and the plan's own channels is closed.
    out.push(...closeAllBut([fds.statusChild, fds.syncRead, fds.hookRead], 3 + input.preserveFds));
    if (joins.length) {
      joins.forEach((j, i) => {
        out.push({ op: 'OPEN', args: [j.path, O.RDONLY | O.CLOEXEC, 0, high + i], what: `open the ${j.type} namespace ${j.path}` });
      });
      joins.forEach((j, i) => {
        out.push({ op: 'SETNS', args: [high + i, NAMESPACE_FLAGS[j.type]], what: `join the ${j.type} namespace ${j.path}` });
        out.push({ op: 'CLOSE', args: [high + i], what: `close the ${j.type} namespace file` });
      });
      if (newFlags) out.push({ op: 'UNSHARE', args: [newFlags], what: 'make the new namespaces' });
      if (userns) out.push({ op: 'REPORT', args: [Status.UNSHARED], what: 'ask for the id maps' });
    }
    out.push({ op: 'WAIT_FD', args: [fds.syncRead], what: 'wait for the id maps' });
    out.push({ op: 'CLOSE', args: [fds.syncRead], what: 'close the sync pipe' });
    // The start barrier, while this process still has nook's own ids (the FIFO is nook's, mode 0600).
    const fifoFd = high + joins.length;
    out.push({ op: 'OPEN', args: [input.fifoPath, O.RDONLY | O.NONBLOCK | O.CLOEXEC, 0, fifoFd], what: `open the start barrier ${input.fifoPath}` });
    // Become the namespace's root: files made from here on (mount points in a tmpfs mounted in it) need a mapped owner.
    if (userns && mapped(userns.uid, 0) && mapped(userns.gid, 0)) {
      out.push({ op: 'SETRESGID', args: [0], what: 'become gid 0 of the user namespace' });
      out.push({ op: 'SETRESUID', args: [0], what: 'become uid 0 of the user namespace' });
    }
    if (own('cgroup')) out.push({ op: 'UNSHARE', args: [CLONE.NEWCGROUP], what: 'make its cgroup namespace' });
    if (fork) out.push({ op: 'FORK', args: [], what: 'start the init in its pid namespace' });
    // Before it turns non-dumpable: its /proc files then belong to the host's root, and this write would fail.
    if (proc.oomScoreAdj !== undefined)
      out.push({ op: 'WRITE_FILE', args: ['/proc/self/oom_score_adj', String(proc.oomScoreAdj)], what: `set oom_score_adj to ${proc.oomScoreAdj}` });
    // Until it execs, this process is a copy of nook: nothing in the container may ptrace it.
    out.push({ op: 'PRCTL', args: [PR.SET_DUMPABLE, 0, 0, 0, 0], what: 'make the process non-dumpable' });

    // Hooks that run once the namespaces and mounts are made, before the root changes.
    const hookOps: PlanOp[] = [];
    if (parentHooks) {
      hookOps.push({ op: 'REPORT', args: [Status.HOOKS], what: 'ask for the createRuntime hooks' });
      hookOps.push({ op: 'WAIT_FD', args: [fds.hookRead], what: 'wait for the createRuntime hooks' });
    }
    hookOps.push({ op: 'CLOSE', args: [fds.hookRead], what: 'close the hook pipe' });
    (config.hooks?.createContainer ?? []).forEach((h, i) => hookOps.push(hookOp('createContainer', h, input.hookState('created'), i)));
    const sysctlOps: PlanOp[] = Object.entries(config.linux?.sysctl ?? {}).map(([key, value]) => ({
      op: 'WRITE_FILE', args: [`/proc/sys/${key.replace(/\./g, '/')}`, value], what: `set the sysctl ${key} to ${value}`,
    }));
    if (chrootOnly) {
      out.push(...hookOps, ...sysctlOps, { op: 'CHROOT', args: [input.rootfs], what: `chroot into ${input.rootfs}` });
    } else {
      const steps = compileMounts({ rootfs: input.rootfs, readOnly: !!config.root?.readonly }, mounts);
      const assembly = [...steps.beforeIdMaps, ...steps.afterIdMaps];
      // As runc: the new mount namespace is made rslave (the host's later mounts reach it, none of its own
      // reach the host) unless rootfsPropagation asks otherwise; shared and unbindable are set only once the
      // root has changed (pivot_root and the bind of the rootfs refuse them), so the assembly stays private then.
      const prop = config.linux?.rootfsPropagation;
      const slave = prop === undefined || rootPropagation(prop) === MS.SLAVE;
      const first = assembly.findIndex((o) => o.op === 'MOUNT' && o.args[1] === '/' && o.args[3] === (MS.REC | MS.PRIVATE));
      if (first >= 0 && slave) assembly[first] = { op: 'MOUNT', args: [null, '/', null, MS.REC | MS.SLAVE, null], what: 'make the mount namespace rslave' };
      const beforePivot: PlanOp[] = [];
      // Devices: made where nook may (real root), else the host's bound in.
      const devices = [...(config.linux?.devices ?? [])];
      if (devMounted) for (const d of DEFAULT_DEVICES) if (!devices.some((x) => x.path === d.path)) devices.push(d);
      for (const d of devices) beforePivot.push(...deviceOps(d, canMknod));
      if (devMounted) {
        for (const [text, link] of DEV_LINKS)
          beforePivot.push(resolveOp('/dev', 'EXISTING', 'find /dev'), { op: 'SYMLINK_AT', args: [text, path.posix.basename(link)], what: `link ${link} to ${text}` });
        beforePivot.push(resolveOp('/dev', 'EXISTING', 'find /dev'), { op: 'SYMLINK_AT', args: ['pts/ptmx', 'ptmx'], what: 'link /dev/ptmx to pts/ptmx' });
      }
      beforePivot.push(...hookOps, ...sysctlOps);
      for (const p of config.linux?.readonlyPaths ?? [])
        beforePivot.push(resolveOp(p, 'EXISTING', `find ${p}`, 0, true), { op: 'MOUNT_AT', args: [null, null, MS.BIND | MS.REC | MS.RDONLY, null], what: `make ${p} read-only` });
      for (const p of config.linux?.maskedPaths ?? []) beforePivot.push(resolveOp(p, 'EXISTING', `find ${p}`, 0, true), { op: 'MASK_AT', args: [], what: `mask ${p}` });
      assembly.splice(assembly.findIndex((o) => o.op === 'PIVOT_ROOT'), 0, ...beforePivot);
      out.push(...assembly);
    }

    const prop = config.linux?.rootfsPropagation;
    if (prop && !chrootOnly) out.push({ op: 'MOUNT', args: [null, '/', null, rootPropagation(prop) | MS.REC, null], what: `make / ${prop}` });
    if (config.hostname !== undefined && config.hostname !== '') {
      if (!own('uts') && !joins.some((j) => j.type === 'uts'))
        throw new NookError('config.json: a hostname needs a uts namespace of its own', { hint: 'add {"type": "uts"} to linux.namespaces, or remove "hostname"' });
      out.push({ op: 'SETHOSTNAME', args: [config.hostname], what: `set the hostname to ${config.hostname}` });
    }
    if (config.domainname) out.push({ op: 'SETDOMAINNAME', args: [config.domainname], what: `set the domain name to ${config.domainname}` });
    if (own('network')) out.push({ op: 'IFUP', args: ['lo'], what: 'bring up the loopback interface' });

    out.push(
      ...ociProcessOps(proc, {
        config, host, setgroupsWorks, warnings, preserveFds: input.preserveFds, createCwd: true,
        barrier: { fifoFd, startHooks: (config.hooks?.startContainer ?? []).map((h, i) => hookOp('startContainer', h, input.hookState('created'), i)) },
      }),
    );
    return out;
  };

  return { config, cloneFlags, joins, userns, mapsAfterUnshare: joins.length > 0 && !!userns, parentHooks, ownPidNamespace, warnings, ops };
}

/**
 * How the maps get written: root writes them itself; an unprivileged user
 * writes its own single id itself (with setgroups denied, as the kernel
 * requires), and anything more through newuidmap/newgidmap.
 */
export function idMappingFor(u: UserNamespacePlan, host: Pick<HostFacts, 'uid' | 'gid'>): IdMapping {
  if (host.uid === 0) return { uid: u.uid, gid: u.gid, method: 'direct', setgroups: true };
  const ownOnly = (r: IdRange[], own: number) => r.length === 1 && r[0].count === 1 && r[0].outside === own;
  if (ownOnly(u.uid, host.uid) && ownOnly(u.gid, host.gid)) return { uid: u.uid, gid: u.gid, method: 'direct', setgroups: false };
  return { uid: u.uid, gid: u.gid, method: 'helpers', setgroups: true };
}

/** linux.rootfsPropagation as a flag; runc's rslave when unset. */
function rootPropagation(prop: string | undefined): number {
  if (prop === undefined) return MS.SLAVE;
  const flag = ({ private: MS.PRIVATE, rprivate: MS.PRIVATE, shared: MS.SHARED, rshared: MS.SHARED, slave: MS.SLAVE, rslave: MS.SLAVE, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE } as Record<string, number>)[prop];
  if (!flag) throw new NookError(`config.json: linux.rootfsPropagation "${prop}" is not a propagation`, { hint: 'one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable' });
  return flag;
}

/** Whether setgroups() works in the user namespace at `nsPath`: read from its process when the path names one (/proc/PID/ns/user). */
function setgroupsAllowedIn(nsPath: string): boolean {
  const pid = /^\/proc\/(\d+)\/ns\/user$/.exec(nsPath)?.[1];
  if (!pid) return true;
  try {
    return fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim() === 'allow';
  } catch {
    return true;
  }
}

/** CLOSE_RANGE steps for the gaps between the descriptors kept, from `lowest` up. */
export function closeAllBut(keep: number[], lowest: number): PlanOp[] {
  const ops: PlanOp[] = [];
  let from = lowest;
  for (const fd of [...keep].filter((k) => k >= lowest).sort((a, b) => a - b)) {
    if (fd > from) ops.push({ op: 'CLOSE_RANGE', args: [from, fd - 1], what: `close descriptors ${from}-${fd - 1}` });
    from = fd + 1;
  }
  ops.push({ op: 'CLOSE_RANGE', args: [from, 0xffffffff], what: `close descriptors from ${from}` });
  return ops;
}

function deviceOps(d: OciDevice, canMknod: boolean): PlanOp[] {
  const dir = path.posix.dirname(d.path);
  const name = path.posix.basename(d.path);
  if (canMknod) {
    if (d.type !== 'p' && d.major === undefined) {
      // A default device without numbers: the host's.
      if (!hostDeviceMatches(d)) return [];
      const st = fs.statSync(d.path);
      return [
        resolveOp(dir, 'CREATE_DIR', `create ${dir}`),
        { op: 'MKNOD_AT', args: [name, FILE_TYPE[d.type] | 0o666, Number(st.rdev), d.uid ?? 0, d.gid ?? 0], what: `create the device ${d.path}` },
      ];
    }
    const mode = FILE_TYPE[d.type] | ((d.fileMode ?? 0o666) & 0o7777);
    return [
      resolveOp(dir, 'CREATE_DIR', `create ${dir}`),
      { op: 'MKNOD_AT', args: [name, mode, Number(makedev(d.major ?? 0, d.minor ?? 0)), d.uid ?? 0, d.gid ?? 0], what: `create the device ${d.path}` },
    ];
  }
  if (!hostDeviceMatches(d))
    throw new NookError(`config.json: linux.devices: cannot create ${d.path} (${d.type} ${d.major ?? '?'}:${d.minor ?? '?'}) without privileges`, {
      hint: 'only root outside a user namespace may create device nodes; nook binds the host\'s node of the same path and numbers instead, and this host has none',
    });
  return [
    resolveOp(d.path, 'CREATE_FILE', `create the mount point ${d.path}`, 0o666),
    { op: 'MOUNT_AT', args: [d.path, null, MS.BIND, null], what: `bind the host's ${d.path}` },
  ];
}

export interface ProcessContext {
  /** The container's config: its seccomp filter applies to every process in it. */
  config: OciConfig;
  host: HostFacts;
  setgroupsWorks: boolean;
  warnings: string[];
  preserveFds: number;
  /** create: the working directory is made when missing (as runc); exec: it must exist. */
  createCwd: boolean;
  /** create: report created, wait at the start barrier, run the startContainer hooks. */
  barrier?: { fifoFd: number; startHooks: PlanOp[] };
}

/** From stdio to execve(): the part of a container's start that `exec` shares. */
export function ociProcessOps(proc: OciProcess, ctx: ProcessContext): PlanOp[] {
  const ops: PlanOp[] = [];
  const { host, warnings, setgroupsWorks } = ctx;
  if (proc.terminal) {
    ops.push({
      op: 'PTY',
      args: ['/dev/ptmx', proc.user.uid, -1, proc.consoleSize?.height ?? 0, proc.consoleSize?.width ?? 0],
      what: 'allocate a pseudo-terminal from /dev/ptmx',
    });
  } else {
    ops.push({ op: 'SETSID', args: [], what: 'start a session of its own' });
    for (const fd of [0, 1, 2]) {
      ops.push({ op: 'CLEAR_NONBLOCK', args: [fd], what: `make fd ${fd} blocking` });
      ops.push({ op: 'DUP2', args: [fd, fd], what: `make fd ${fd} inheritable` });
    }
  }
  ops.push({ op: 'SET_ROOT', args: ['/'], what: "open the container's /" });
  ops.push(ctx.createCwd ? resolveOp(proc.cwd, 'CREATE_DIR', `create the working directory ${proc.cwd}`) : resolveOp(proc.cwd, 'EXISTING', `find the working directory ${proc.cwd}`));
  ops.push({ op: 'CHDIR_AT', args: [], what: `change to the working directory ${proc.cwd}` });
  for (const r of proc.rlimits ?? []) {
    const res = RLIMITS[r.type];
    if (res === undefined) throw new NookError(`config.json: process.rlimits: unknown limit "${r.type}"`, { hint: `one of ${Object.keys(RLIMITS).join(', ')}` });
    ops.push({ op: 'SETRLIMIT', args: [res, rlimValue(r.soft), rlimValue(r.hard)], what: `set ${r.type} to ${r.soft}:${r.hard}` });
  }
  const caps = proc.capabilities ?? {};
  const mask = (k: keyof typeof caps) => {
    const want = capMask(caps[k], `process.capabilities.${k}`, host.lastCap, warnings);
    // What nook itself may not hold (a host whose bounding set lacks it) cannot be given: left out, said once.
    if (want & ~host.bounding) warnings.push(`process.capabilities.${k}: capabilities outside nook's own bounding set are left out (${(want & ~host.bounding).toString(16)})`);
    return want & host.bounding;
  };
  const bounding = mask('bounding');
  const effective = mask('effective');
  const permitted = mask('permitted');
  const inheritable = mask('inheritable');
  const ambient = mask('ambient');
  ops.push({ op: 'CAP_BOUND', args: [bounding], what: 'drop capabilities from the bounding set' });
  ops.push({ op: 'PRCTL', args: [PR.CAP_AMBIENT, PR.CAP_AMBIENT_CLEAR_ALL, 0, 0, 0], what: 'clear the ambient capabilities' });
  const seccomp = ctx.config.linux?.seccomp ? compileSeccompFor(ctx.config) : undefined;
  // Without no_new_privs the filter needs CAP_SYS_ADMIN, which the switch of ids may take away: it goes on first (as in runc).
  if (seccomp && !proc.noNewPrivileges) ops.push(seccompOp(seccomp));
  if (setgroupsWorks) {
    const groups = proc.user.additionalGids ?? [];
    ops.push({ op: 'SETGROUPS', args: [groups.length, { numbers: groups }], what: `set supplementary groups [${groups.join(',')}]` });
  }
  ops.push({ op: 'SETRESGID', args: [proc.user.gid], what: `switch to gid ${proc.user.gid}` });
  // Keep the permitted set across the switch away from uid 0; CAPSET then sets exactly what the config says.
  ops.push({ op: 'PRCTL', args: [PR.SET_KEEPCAPS, 1, 0, 0, 0], what: 'keep capabilities across the switch of uid' });
  ops.push({ op: 'SETRESUID', args: [proc.user.uid], what: `switch to uid ${proc.user.uid}` });
  ops.push({ op: 'CAPSET', args: [effective, permitted | effective, inheritable], what: 'set the capabilities' });
  // The kernel raises an ambient capability only when it is permitted and inheritable; the others stay
  // out quietly, as in runc (its own `runc spec` lists ambient capabilities without inheritable ones).
  const raisable = ambient & inheritable & (permitted | effective);
  for (let bit = 0; bit <= host.lastCap; bit++)
    if ((raisable >> BigInt(bit)) & 1n) ops.push({ op: 'PRCTL', args: [PR.CAP_AMBIENT, PR.CAP_AMBIENT_RAISE, bit, 0, 0], what: `raise the ambient capability ${bit}` });
  ops.push({ op: 'UMASK', args: [proc.user.umask ?? 0o022], what: 'set the umask' });
  ops.push({ op: 'RESET_SIGNALS', args: [], what: 'reset signal dispositions' });
  const env = proc.env ?? [];
  const pathEntry = env.find((e) => e.startsWith('PATH='));
  const searchPath = pathEntry ? pathEntry.slice(5) : DEFAULT_PATH;
  const argv = proc.args ?? [];
  if (argv.length) ops.push({ op: 'CHECK_EXEC', args: [argv[0], searchPath], what: `find the executable ${argv[0]}` });
  if (ctx.barrier) {
    ops.push({ op: 'REPORT', args: [Status.CREATED], what: 'report the container created' });
    // The FIFO stays open until execve() closes it: `start` learns from that (EPIPE) that the program runs.
    ops.push({ op: 'AWAIT_START', args: [ctx.barrier.fifoFd], what: 'wait for start' });
    ops.push(...ctx.barrier.startHooks);
  }
  ops.push({ op: 'CLOEXEC_FROM', args: [3 + ctx.preserveFds], what: 'mark inherited descriptors close-on-exec' });
  for (let fd = 3; fd < 3 + ctx.preserveFds; fd++) ops.push({ op: 'DUP2', args: [fd, fd], what: `make fd ${fd} inheritable` });
  if (proc.noNewPrivileges) ops.push({ op: 'PRCTL', args: [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0], what: 'set no_new_privs' });
  if (seccomp && proc.noNewPrivileges) ops.push(seccompOp(seccomp));
  // No program (a config without "process"): the plan ends here; `start` refuses such a container.
  if (argv.length) ops.push({ op: 'EXEC', args: [argv[0], { strings: argv }, { strings: env }, searchPath], what: `execute ${argv[0]}` });
  return ops;
}

function seccompOp(s: { filter: Buffer; flags: number }): PlanOp {
  return { op: 'SECCOMP', args: [{ bytes: s.filter }, s.filter.length / 8, s.flags], what: 'install the seccomp filter' };
}

/** linux.seccomp compiled by nook's BPF compiler (src/oci/seccomp.ts). */
function compileSeccompFor(config: OciConfig): { filter: Buffer; flags: number } {
  return compileOciSeccomp(config.linux!.seccomp);
}
