/**
 * An OCI container's cgroup on cgroup v1 (and the v1 side of a hybrid host),
 * as runc's cgroupfs manager makes it: one directory per mounted hierarchy
 * (absolute cgroupsPath under the hierarchy's root, a relative one under
 * nook's own cgroup there), limits written as runc writes them. Root only:
 * cgroup v1 has no safe delegation.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { cgroupDir } from '../sandbox/cgroups/detect';
import type { OciDevice } from './config';
import { applyWrites, makeDirs, readTrimmed, removeEmptyParents, removeTree, type CgroupWrite } from './cgroups-io';
import { addSharedWrites, int, str, type OciResources } from './cgroups-spec';

/** The v1 controllers nook puts a container in (runc's list, less perf_event and rdma, which nook sets nothing in). */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'blkio', 'devices', 'hugetlb', 'net_cls', 'net_prio', 'freezer'];

export interface V1Hierarchy {
  /** Its controllers as the mount lists them, joined by "," ("cpu,cpuacct"): the key in the record. */
  key: string;
  controllers: string[];
  mountPoint: string;
  /** The cgroup the mount shows at its mount point ("/" outside a cgroup namespace). */
  root: string;
  /** nook's own cgroup in it (from /proc/self/cgroup), as a directory, when the mount shows it. */
  own?: string;
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mounted v1 hierarchies with a controller nook uses, and nook's cgroup in each. Pure. */
export function v1Hierarchies(mountinfo: string, selfCgroup: string): V1Hierarchy[] {
  const own = new Map<string, string>();
  for (const line of selfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m && m[1]) own.set(m[1].split(',').sort().join(','), m[2]);
  }
  const out: V1Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fsType !== 'cgroup' || left.length < 5) continue;
    const all = superOpts.split(',').filter((o) => !o.includes('=') && o !== 'rw' && o !== 'ro');
    const controllers = all.filter((c) => V1_CONTROLLERS.includes(c));
    if (!controllers.length) continue;
    const key = all.join(',');
    if (seen.has(key)) continue; // the same hierarchy mounted twice: its first mount
    seen.add(key);
    const mount = { root: unescapeOctal(left[3]), mountPoint: unescapeOctal(left[4]) };
    const ownPath = own.get([...all].sort().join(','));
    out.push({ key, controllers, ...mount, own: ownPath === undefined ? undefined : cgroupDir(ownPath, mount) });
  }
  return out;
}

/**
 * runc's default device rules, appended after the config's (specconv's
 * AllowedDevices): mknod of any device, and the devices every container has
 * (null, zero, full, random, urandom, tty, console, ptmx, the pty slaves).
 */
const DEFAULT_ALLOWED = ['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:8 rwm', 'c 1:7 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 1:5 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 5:2 rwm'];

function deviceWrites(r: OciResources, devices: OciDevice[] | undefined): CgroupWrite[] {
  const rules = r.devices ?? [];
  if (!rules.length) return []; // no rules: the parent's (all devices, at the root)
  const out: CgroupWrite[] = [];
  rules.forEach((d, i) => {
    const what = `linux.resources.devices[${i}]`;
    if (typeof d !== 'object' || d === null || typeof d.allow !== 'boolean') throw new NookError(`${what} needs "allow": true or false`, { hint: 'fix config.json' });
    const type = str(d.type, `${what}.type`) ?? 'a';
    if (!['a', 'b', 'c'].includes(type)) throw new NookError(`${what}.type must be "a", "b" or "c", not "${type}"`, { hint: 'fix config.json' });
    const access = str(d.access, `${what}.access`) || 'rwm';
    if (!/^[rwm]+$/.test(access)) throw new NookError(`${what}.access must be made of r, w and m, not "${access}"`, { hint: 'fix config.json' });
    const major = int(d.major, `${what}.major`);
    const minor = int(d.minor, `${what}.minor`);
    // "a" alone switches the whole list (deny: deny everything; allow: allow everything).
    const value = type === 'a' ? 'a' : `${type} ${major === undefined || major < 0 ? '*' : major}:${minor === undefined || minor < 0 ? '*' : minor} ${access}`;
    out.push({ controller: 'devices', file: d.allow ? 'devices.allow' : 'devices.deny', value, what });
  });
  const extra = [...DEFAULT_ALLOWED];
  for (const d of devices ?? []) if ((d.type === 'c' || d.type === 'b' || d.type === 'u') && d.major !== undefined && d.minor !== undefined) extra.push(`${d.type === 'u' ? 'c' : d.type} ${d.major}:${d.minor} rwm`);
  for (const v of extra) out.push({ controller: 'devices', file: 'devices.allow', value: v, what: 'the default devices (and linux.devices)' });
  return out;
}

const NO_SWAP_HINT = 'the kernel does not account swap (boot with swapaccount=1), or leave out linux.resources.memory.swap';

/** linux.resources → the cgroup v1 files runc writes, in runc's order. Pure. */
export function v1Writes(r: OciResources, devices?: OciDevice[]): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  const add = (controller: string, file: string, value: string | number, what: string, extra: Partial<CgroupWrite> = {}) =>
    w.push({ controller, file, value: String(value), what: `linux.resources.${what}`, ...extra });

  w.push(...deviceWrites(r, devices));

  const m = r.memory ?? {};
  const limit = int(m.limit, 'linux.resources.memory.limit') ?? 0;
  let swap = int(m.swap, 'linux.resources.memory.swap') ?? 0;
  if (limit === -1 && swap === 0) swap = -1; // runc: an unlimited memory limit unlimits memory+swap too
  if (limit !== 0) add('memory', 'memory.limit_in_bytes', limit, 'memory.limit', { group: 'memory' });
  if (swap !== 0)
    add('memory', 'memory.memsw.limit_in_bytes', swap, 'memory.swap', { group: 'memory', missingHint: NO_SWAP_HINT, ...(swap === -1 ? { bestEffort: true } : {}) });
  const reservation = int(m.reservation, 'linux.resources.memory.reservation') ?? 0;
  if (reservation !== 0) add('memory', 'memory.soft_limit_in_bytes', reservation, 'memory.reservation');
  // Deprecated by the kernel (kmem.limit_in_bytes takes writes and ignores them since 6.1): warned about, never fatal.
  const kernel = int(m.kernel, 'linux.resources.memory.kernel') ?? 0;
  if (kernel !== 0) add('memory', 'memory.kmem.limit_in_bytes', kernel, 'memory.kernel', { bestEffort: true, readBack: true });
  const kernelTCP = int(m.kernelTCP, 'linux.resources.memory.kernelTCP') ?? 0;
  if (kernelTCP !== 0) add('memory', 'memory.kmem.tcp.limit_in_bytes', kernelTCP, 'memory.kernelTCP', { bestEffort: true });
  const swappiness = int(m.swappiness, 'linux.resources.memory.swappiness');
  if (swappiness !== undefined && swappiness !== -1) {
    if (swappiness < 0 || swappiness > 100) throw new NookError(`linux.resources.memory.swappiness ${swappiness} is out of range`, { hint: 'the range is 0..100' });
    add('memory', 'memory.swappiness', swappiness, 'memory.swappiness');
  }
  if (m.disableOOMKiller === true) add('memory', 'memory.oom_control', 1, 'memory.disableOOMKiller');

  const c = r.cpu ?? {};
  const shares = int(c.shares, 'linux.resources.cpu.shares') ?? 0;
  if (shares !== 0) add('cpu', 'cpu.shares', shares, 'cpu.shares');
  const period = int(c.period, 'linux.resources.cpu.period') ?? 0;
  const quota = int(c.quota, 'linux.resources.cpu.quota') ?? 0;
  if (period !== 0) add('cpu', 'cpu.cfs_period_us', period, 'cpu.period', { group: 'cfs' });
  if (quota !== 0) add('cpu', 'cpu.cfs_quota_us', quota, 'cpu.quota', { group: 'cfs' });
  const burst = int(c.burst, 'linux.resources.cpu.burst');
  if (burst !== undefined) add('cpu', 'cpu.cfs_burst_us', burst, 'cpu.burst');
  const rtPeriod = int(c.realtimePeriod, 'linux.resources.cpu.realtimePeriod') ?? 0;
  const rtRuntime = int(c.realtimeRuntime, 'linux.resources.cpu.realtimeRuntime') ?? 0;
  const rtHint = 'the kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED): leave out the realtime settings';
  if (rtPeriod !== 0) add('cpu', 'cpu.rt_period_us', rtPeriod, 'cpu.realtimePeriod', { group: 'rt', missingHint: rtHint });
  if (rtRuntime !== 0) add('cpu', 'cpu.rt_runtime_us', rtRuntime, 'cpu.realtimeRuntime', { group: 'rt', missingHint: rtHint });
  addSharedWrites(r, add);

  const b = r.blockIO ?? {};
  const bfqHint = 'the kernel has neither CFQ\'s blkio.weight nor BFQ\'s blkio.bfq.weight (no proportional I/O scheduler): leave out the blockIO weights';
  const weight = int(b.weight, 'linux.resources.blockIO.weight') ?? 0;
  if (weight !== 0) add('blkio', 'blkio.weight', weight, 'blockIO.weight', { alternatives: [{ file: 'blkio.bfq.weight', value: String(weight) }], missingHint: bfqHint });
  const leaf = int(b.leafWeight, 'linux.resources.blockIO.leafWeight') ?? 0;
  if (leaf !== 0) add('blkio', 'blkio.leaf_weight', leaf, 'blockIO.leafWeight', { missingHint: bfqHint });
  (b.weightDevice ?? []).forEach((d, i) => {
    const what = `blockIO.weightDevice[${i}]`;
    const dev = `${int(d.major, `linux.resources.${what}.major`)}:${int(d.minor, `linux.resources.${what}.minor`)}`;
    const dw = int(d.weight, `linux.resources.${what}.weight`);
    if (dw !== undefined)
      add('blkio', 'blkio.weight_device', `${dev} ${dw}`, `${what}.weight`, { alternatives: [{ file: 'blkio.bfq.weight_device', value: `${dev} ${dw}` }], missingHint: bfqHint });
    const dl = int(d.leafWeight, `linux.resources.${what}.leafWeight`);
    if (dl !== undefined) add('blkio', 'blkio.leaf_weight_device', `${dev} ${dl}`, `${what}.leafWeight`, { missingHint: bfqHint });
  });
  const throttles: [keyof NonNullable<OciResources['blockIO']>, string][] = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ];
  for (const [field, file] of throttles) {
    const list = (b[field] ?? []) as { major: number; minor: number; rate: number }[];
    list.forEach((d, i) => {
      const what = `blockIO.${field}[${i}]`;
      add('blkio', file, `${int(d.major, `linux.resources.${what}.major`)}:${int(d.minor, `linux.resources.${what}.minor`)} ${int(d.rate, `linux.resources.${what}.rate`)}`, what);
    });
  }

  (r.hugepageLimits ?? []).forEach((h, i) => {
    const what = `hugepageLimits[${i}]`;
    const size = str(h.pageSize, `linux.resources.${what}.pageSize`);
    if (!size || !/^\d+[KMGTP]?B$/.test(size)) throw new NookError(`linux.resources.${what}.pageSize "${size}" is not a page size`, { hint: 'e.g. "2MB" or "1GB"' });
    add('hugetlb', `hugetlb.${size}.limit_in_bytes`, int(h.limit, `linux.resources.${what}.limit`) ?? 0, what, { missingHint: `the kernel offers no ${size} huge pages: leave out linux.resources.${what}` });
  });

  const n = r.network ?? {};
  const classID = int(n.classID, 'linux.resources.network.classID');
  if (classID !== undefined) add('net_cls', 'net_cls.classid', classID, 'network.classID');
  (n.priorities ?? []).forEach((p, i) =>
    add('net_prio', 'net_prio.ifpriomap', `${str(p.name, `linux.resources.network.priorities[${i}].name`)} ${int(p.priority, `linux.resources.network.priorities[${i}].priority`)}`, `network.priorities[${i}]`),
  );
  return w;
}

/** What a v1 container cannot have, for a warning (nook leaves them out rather than fail). */
export function v1Ignored(r: OciResources): string[] {
  const out: string[] = [];
  if (r.rdma && Object.keys(r.rdma).length) out.push('linux.resources.rdma (nook sets no rdma limits)');
  return out;
}

export type V1Record = Record<string, string>;

function hierarchyOf(rec: V1Record, controller: string): string | undefined {
  for (const [key, dir] of Object.entries(rec)) if (key.split(',').includes(controller)) return dir;
  return undefined;
}

/** The directory for a write, or a NookError when its controller has no hierarchy. */
function dirFor(rec: V1Record, w: CgroupWrite): string {
  const dir = hierarchyOf(rec, w.controller);
  if (dir === undefined)
    throw new NookError(`${w.what} needs the cgroup v1 ${w.controller} controller, which is not mounted on this host`, {
      hint: `mount it (mount -t cgroup -o ${w.controller} cgroup /sys/fs/cgroup/${w.controller}), or leave out ${w.what}`,
    });
  return dir;
}

/** A new cpuset cgroup has no cpus and no memory nodes: nothing could run in it. runc copies the parent's. */
function fillCpuset(dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const file = path.join(dir, f);
    if (readTrimmed(file) !== '') continue;
    fs.writeFileSync(file, readTrimmed(path.join(path.dirname(dir), f)));
  }
}

export interface V1Created {
  dirs: V1Record;
  /** The directories nook made, top down, in all hierarchies. */
  made: string[];
}

/** Makes the cgroup in each hierarchy and writes the limits; on failure removes what it made. */
export function createV1(hierarchies: V1Hierarchy[], cgPath: { path: string; relative: boolean }, writes: CgroupWrite[], warn: (m: string) => void): V1Created {
  const dirs: V1Record = {};
  const made: string[] = [];
  try {
    for (const w of writes) if (!hierarchies.some((h) => h.controllers.includes(w.controller))) dirFor({}, w);
    for (const h of hierarchies) {
      let base = h.mountPoint;
      if (cgPath.relative) {
        if (h.own === undefined)
          throw new NookError(`linux.cgroupsPath "${cgPath.path}" is relative, but nook's own ${h.key} cgroup is not under ${h.mountPoint}`, {
            hint: 'give an absolute linux.cgroupsPath',
          });
        base = h.own;
      }
      const dir = path.join(base, cgPath.path);
      made.push(...makeDirs(cgPath.relative ? base : h.mountPoint, dir, h.controllers.includes('cpuset') ? fillCpuset : undefined));
      dirs[h.key] = dir;
    }
    applyWrites(writes, (w) => dirFor(dirs, w), warn);
  } catch (e) {
    removeV1({ dirs, made });
    throw e;
  }
  return { dirs, made };
}

/** rmdir of the container's cgroup in each hierarchy, then of the parents nook made if nothing else is in them. Returns the problems. */
export function removeV1(c: V1Created): string[] {
  const problems: string[] = [];
  for (const dir of Object.values(c.dirs)) {
    const p = removeTree(dir);
    if (p) problems.push(p);
  }
  removeEmptyParents(c.made.filter((d) => !Object.values(c.dirs).includes(d)));
  return problems;
}

export function updateV1(rec: V1Record, writes: CgroupWrite[], warn: (m: string) => void): void {
  applyWrites(writes, (w) => dirFor(rec, w), warn);
}

export function freezerDir(rec: V1Record): string {
  const dir = hierarchyOf(rec, 'freezer');
  if (dir === undefined) throw new NookError('the container has no freezer cgroup: the cgroup v1 freezer controller is not mounted', { hint: 'mount it on /sys/fs/cgroup/freezer before creating containers', exitCode: 1 });
  return dir;
}
