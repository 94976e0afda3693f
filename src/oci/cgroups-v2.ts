/**
 * An OCI container's cgroup on cgroup v2, as runc's fs2 manager makes it:
 * the directory under the hierarchy's root (or, rootless, in the subtree
 * delegated to the user), the controllers the limits need enabled in
 * cgroup.subtree_control on the way down, and the v1-style values of
 * linux.resources converted as runc converts them.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { readControllerList } from '../sandbox/cgroups/detect';
import { blkioWeightToIoWeight, sharesToWeight } from '../sandbox/cgroups/flags';
import { applyWrites, errCode, makeDirs, removeEmptyParents, removeTree, type CgroupWrite } from './cgroups-io';
import { addSharedWrites, int, str, type OciResources } from './cgroups-spec';

/**
 * runc's memory+swap (v1's memsw) → v2's swap alone (ConvertMemorySwapToCgroupV2Value):
 * 0 unset, -1 unlimited, else swap minus memory.
 */
export function swapV2(swap: number, memory: number): number {
  if (memory === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (memory === 0 || memory === -1)
    throw new NookError('linux.resources.memory.swap cannot be set without linux.resources.memory.limit on cgroup v2', { hint: 'swap is memory plus swap: give a memory limit too, or -1 for unlimited swap' });
  if (swap < memory)
    throw new NookError(`linux.resources.memory.swap ${swap} is below linux.resources.memory.limit ${memory}`, { hint: 'swap is memory plus swap: give at least the memory limit (equal: no swap), or -1' });
  return swap - memory;
}

const IO_THROTTLE: [keyof NonNullable<OciResources['blockIO']>, string][] = [
  ['throttleReadBpsDevice', 'rbps'],
  ['throttleWriteBpsDevice', 'wbps'],
  ['throttleReadIOPSDevice', 'riops'],
  ['throttleWriteIOPSDevice', 'wiops'],
];

/** Files that nook manages itself, not writable through linux.resources.unified. */
const UNIFIED_RESERVED = /^cgroup\.(procs|threads|subtree_control|freeze|kill|type)$/;

/** linux.resources → cgroup v2 writes, and the settings v2 has no place for (warned about). Pure. */
export function v2Writes(r: OciResources): { writes: CgroupWrite[]; ignored: string[] } {
  const w: CgroupWrite[] = [];
  const ignored: string[] = [];
  const add = (controller: string, file: string, value: string | number, what: string, extra: Partial<CgroupWrite> = {}) =>
    w.push({ controller, file, value: String(value), what: `linux.resources.${what}`, ...extra });

  if ((r.devices ?? []).length) ignored.push('linux.resources.devices (cgroup v2 device rules need an eBPF program, which nook does not load)');

  const m = r.memory ?? {};
  const limit = int(m.limit, 'linux.resources.memory.limit') ?? 0;
  const swap = swapV2(int(m.swap, 'linux.resources.memory.swap') ?? 0, limit);
  // runc writes swap first: a lower memory.max never fails on account of it.
  if (swap !== 0)
    add('memory', 'memory.swap.max', swap === -1 ? 'max' : swap, 'memory.swap', {
      missingHint: 'the kernel does not account swap (boot with swapaccount=1), or leave out linux.resources.memory.swap',
      ...(swap === -1 ? { bestEffort: true } : {}),
    });
  if (limit !== 0) add('memory', 'memory.max', limit === -1 ? 'max' : limit, 'memory.limit');
  const reservation = int(m.reservation, 'linux.resources.memory.reservation') ?? 0;
  if (reservation !== 0) add('memory', 'memory.low', reservation === -1 ? 'max' : reservation, 'memory.reservation');
  for (const k of ['kernel', 'kernelTCP', 'swappiness'] as const) if (m[k] !== undefined && m[k] !== null && m[k] !== 0 && m[k] !== -1) ignored.push(`linux.resources.memory.${k} (cgroup v1 only)`);
  if (m.disableOOMKiller === true) ignored.push('linux.resources.memory.disableOOMKiller (cgroup v1 only)');

  const c = r.cpu ?? {};
  const shares = int(c.shares, 'linux.resources.cpu.shares') ?? 0;
  if (shares !== 0) {
    if (shares < 2 || shares > 262144) throw new NookError(`linux.resources.cpu.shares ${shares} is out of range`, { hint: 'the range is 2..262144' });
    add('cpu', 'cpu.weight', sharesToWeight(shares), 'cpu.shares');
  }
  const quota = int(c.quota, 'linux.resources.cpu.quota') ?? 0;
  const period = int(c.period, 'linux.resources.cpu.period') ?? 0;
  if (quota !== 0 || period !== 0) add('cpu', 'cpu.max', `${quota > 0 ? quota : 'max'}${period !== 0 ? ` ${period}` : ''}`, quota !== 0 ? 'cpu.quota' : 'cpu.period');
  const burst = int(c.burst, 'linux.resources.cpu.burst');
  if (burst !== undefined) add('cpu', 'cpu.max.burst', burst, 'cpu.burst');
  if (int(c.realtimePeriod, 'linux.resources.cpu.realtimePeriod') || int(c.realtimeRuntime, 'linux.resources.cpu.realtimeRuntime'))
    ignored.push('linux.resources.cpu.realtimePeriod/realtimeRuntime (cgroup v2 has no real-time group scheduling)');
  addSharedWrites(r, add);

  const b = r.blockIO ?? {};
  const ioHint = 'the kernel has neither BFQ (io.bfq.weight) nor the io cost controller (io.weight): leave out the blockIO weights';
  const weight = int(b.weight, 'linux.resources.blockIO.weight') ?? 0;
  // runc: BFQ's own file takes blkio's 10..1000 scale as it is; io.weight the converted one.
  if (weight !== 0)
    add('io', 'io.bfq.weight', weight, 'blockIO.weight', { alternatives: [{ file: 'io.weight', value: `default ${blkioWeightToIoWeight(weight)}` }], missingHint: ioHint });
  if (b.leafWeight) ignored.push('linux.resources.blockIO.leafWeight (cgroup v1 only)');
  (b.weightDevice ?? []).forEach((d, i) => {
    const what = `blockIO.weightDevice[${i}]`;
    const dw = int(d.weight, `linux.resources.${what}.weight`);
    const dev = `${int(d.major, `linux.resources.${what}.major`)}:${int(d.minor, `linux.resources.${what}.minor`)}`;
    if (dw !== undefined)
      add('io', 'io.bfq.weight', `${dev} ${dw}`, `${what}.weight`, { alternatives: [{ file: 'io.weight', value: `${dev} ${blkioWeightToIoWeight(dw)}` }], missingHint: ioHint });
  });
  for (const [field, key] of IO_THROTTLE) {
    const list = (b[field] ?? []) as { major: number; minor: number; rate: number }[];
    list.forEach((d, i) => {
      const what = `blockIO.${field}[${i}]`;
      add('io', 'io.max', `${int(d.major, `linux.resources.${what}.major`)}:${int(d.minor, `linux.resources.${what}.minor`)} ${key}=${int(d.rate, `linux.resources.${what}.rate`)}`, what);
    });
  }

  (r.hugepageLimits ?? []).forEach((h, i) => {
    const what = `hugepageLimits[${i}]`;
    const size = str(h.pageSize, `linux.resources.${what}.pageSize`);
    if (!size || !/^\d+[KMGTP]?B$/.test(size)) throw new NookError(`linux.resources.${what}.pageSize "${size}" is not a page size`, { hint: 'e.g. "2MB" or "1GB"' });
    add('hugetlb', `hugetlb.${size}.max`, int(h.limit, `linux.resources.${what}.limit`) ?? 0, what);
  });

  if (r.network && (r.network.classID !== undefined || (r.network.priorities ?? []).length))
    ignored.push('linux.resources.network (cgroup v1 only: net_cls and net_prio)');
  if (r.rdma && Object.keys(r.rdma).length) ignored.push('linux.resources.rdma (nook sets no rdma limits)');

  for (const [file, value] of Object.entries(r.unified ?? {})) {
    const what = `unified["${file}"]`;
    if (file.includes('/') || !file.includes('.') || UNIFIED_RESERVED.test(file))
      throw new NookError(`linux.resources.${what} is not a cgroup v2 interface file nook may write`, { hint: 'give files such as "memory.high"' });
    add(file.slice(0, file.indexOf('.')), file, str(value, `linux.resources.${what}`) ?? '', what);
  }
  return { writes: w, ignored };
}

/** The controllers the writes need ("cgroup" files need none). */
export function v2Controllers(writes: CgroupWrite[]): string[] {
  return [...new Set(writes.map((w) => w.controller).filter((c) => c !== 'cgroup'))];
}

/**
 * Offers each controller to the children of each directory from `top` down
 * to the container's parent (the kernel needs it in every parent's
 * cgroup.subtree_control for the container's files to exist).
 */
export function enableControllers(top: string, dir: string, controllers: string[]): void {
  if (!controllers.length) return;
  const chain: string[] = [];
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    chain.unshift(d);
    if (d === top || d === path.dirname(d)) break;
  }
  for (const d of chain) {
    const present = readControllerList(path.join(d, 'cgroup.subtree_control'));
    const missing = controllers.filter((c) => !present.includes(c));
    if (!missing.length) continue;
    const offered = readControllerList(path.join(d, 'cgroup.controllers'));
    const absent = missing.filter((c) => !offered.includes(c));
    if (absent.length)
      throw new NookError(`linux.resources need the cgroup v2 ${absent.join(', ')} controller${absent.length > 1 ? 's' : ''}, which ${d} does not offer`, {
        hint: 'enable it in the parent cgroups (or, delegated by systemd: Delegate=cpu cpuset io memory pids), or leave out those resources',
      });
    try {
      fs.writeFileSync(path.join(d, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    } catch (e) {
      const code = errCode(e);
      throw new NookError(`enabling the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''} in ${d}/cgroup.subtree_control: ${code}`, {
        hint: code === 'EBUSY'
          ? `processes sit in ${d} itself, and the kernel hands controllers to the children of a cgroup only when it holds none: choose a linux.cgroupsPath elsewhere`
          : `nook needs write access to ${d} (root, or a subtree delegated to you)`,
        cause: e,
      });
    }
  }
}

export interface V2Created {
  dir: string;
  made: string[];
}

/** Makes the cgroup `dir` (below `top`, which exists) with its limits; on failure removes what it made. */
export function createV2(top: string, dir: string, writes: CgroupWrite[], warn: (m: string) => void): V2Created {
  const made: string[] = [];
  try {
    made.push(...makeDirs(top, dir));
    enableControllers(top, dir, v2Controllers(writes));
    applyWrites(writes, () => dir, warn);
  } catch (e) {
    removeV2({ dir, made });
    throw e;
  }
  return { dir, made };
}

export function removeV2(c: V2Created): string[] {
  const p = removeTree(c.dir);
  removeEmptyParents(c.made.filter((d) => d !== c.dir));
  return p ? [p] : [];
}

export function updateV2(top: string, dir: string, writes: CgroupWrite[], warn: (m: string) => void): void {
  enableControllers(top, dir, v2Controllers(writes));
  applyWrites(writes, () => dir, warn);
}
