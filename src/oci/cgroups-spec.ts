/**
 * linux.resources of config-linux.md as nook reads it: the fields, checked
 * for their JSON types (a wrong type is a NookError naming the field), and
 * linux.cgroupsPath's forms. Pure.
 */
import path = require('node:path');
import { NookError } from '../errors';

export interface OciDeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices?: OciDeviceRule[];
  memory?: {
    limit?: number; reservation?: number; swap?: number; kernel?: number; kernelTCP?: number;
    swappiness?: number; disableOOMKiller?: boolean; useHierarchy?: boolean; checkBeforeUpdate?: boolean;
  };
  cpu?: {
    shares?: number; quota?: number; burst?: number; period?: number; realtimeRuntime?: number; realtimePeriod?: number;
    cpus?: string; mems?: string; idle?: number;
  };
  pids?: { limit?: number };
  blockIO?: {
    weight?: number; leafWeight?: number;
    weightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
    throttleReadBpsDevice?: ThrottleDevice[]; throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[]; throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, unknown>;
  unified?: Record<string, string>;
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

const SECTIONS: Record<string, 'object' | 'array'> = {
  devices: 'array', memory: 'object', cpu: 'object', pids: 'object', blockIO: 'object',
  hugepageLimits: 'array', network: 'object', rdma: 'object', unified: 'object',
};

/** linux.resources with its sections checked for their types (the fields are checked where they are used). */
export function readResources(raw: Record<string, unknown> | undefined, where = 'linux.resources'): OciResources {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new NookError(`${where} must be an object`, { hint: 'see config-linux.md "Control groups"' });
  for (const [k, kind] of Object.entries(SECTIONS)) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    const ok = kind === 'array' ? Array.isArray(v) : typeof v === 'object' && !Array.isArray(v);
    if (!ok) throw new NookError(`${where}.${k} must be ${kind === 'array' ? 'an array' : 'an object'}`, { hint: 'see config-linux.md "Control groups"' });
  }
  return raw as OciResources;
}

/** Whether the resources ask for anything (an empty section asks for nothing). */
export function resourcesEmpty(r: OciResources): boolean {
  return !Object.values(r).some((v) => v !== undefined && v !== null && (Array.isArray(v) ? v.length > 0 : typeof v !== 'object' || Object.values(v as object).some((x) => x !== undefined && x !== null)));
}

/** An integer field, or undefined when absent (JSON null counts as absent). */
/** Adds one write: the controller, its file, the value, and the config field it comes from (for messages). */
export type AddWrite = (controller: string, file: string, value: string | number, what: string) => void;

/** The settings cgroup v1 and v2 write to files of the same name: cpu.idle, cpuset.cpus and .mems, pids.max. */
export function addSharedWrites(r: OciResources, add: AddWrite): void {
  const c = r.cpu ?? {};
  const idle = int(c.idle, 'linux.resources.cpu.idle');
  if (idle !== undefined) add('cpu', 'cpu.idle', idle, 'cpu.idle');
  const cpus = str(c.cpus, 'linux.resources.cpu.cpus');
  if (cpus) add('cpuset', 'cpuset.cpus', cpus, 'cpu.cpus');
  const mems = str(c.mems, 'linux.resources.cpu.mems');
  if (mems) add('cpuset', 'cpuset.mems', mems, 'cpu.mems');
  if (r.pids) {
    const pl = int(r.pids.limit, 'linux.resources.pids.limit') ?? 0;
    add('pids', 'pids.max', pl > 0 ? pl : 'max', 'pids.limit');
  }
}

export function int(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new NookError(`${what} must be an integer, not ${JSON.stringify(v)}`, { hint: 'fix config.json' });
  return v;
}

export function str(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new NookError(`${what} must be a string, not ${JSON.stringify(v)}`, { hint: 'fix config.json' });
  return v;
}

/**
 * A systemd slice name's path as systemd nests it: "a-b-c.slice" lives in
 * /a.slice/a-b.slice/a-b-c.slice ("-.slice" is the root).
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw new NookError(`linux.cgroupsPath: "${slice}" is not a systemd slice name`, { hint: 'systemd cgroup paths look like "system.slice:nook:ID"' });
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '/';
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--'))
    throw new NookError(`linux.cgroupsPath: "${slice}" is not a valid slice name`, { hint: 'e.g. "system.slice" or "machine-nook.slice"' });
  let out = '';
  let prefix = '';
  for (const part of name.split('-')) {
    prefix = prefix ? `${prefix}-${part}` : part;
    out += `/${prefix}.slice`;
  }
  return out;
}

/**
 * The cgroup path linux.cgroupsPath names: absolute (from the hierarchy's
 * root), relative (to nook's own cgroup), or the systemd form
 * "slice:prefix:name", which systemd's cgroup manager (runc
 * --systemd-cgroup, containerd's SystemdCgroup) places in
 * /SLICE/PREFIX-NAME.scope. nook writes that cgroup itself: no systemd unit
 * is made. No cgroupsPath: /nook-oci/ID.
 */
export function cgroupPathOf(cgroupsPath: string | undefined, id: string): { path: string; relative: boolean; systemd: boolean } {
  if (cgroupsPath === undefined || cgroupsPath === '') return { path: `/nook-oci/${id}`, relative: false, systemd: false };
  if (typeof cgroupsPath !== 'string') throw new NookError('linux.cgroupsPath must be a string', { hint: 'fix config.json' });
  const m = /^([^/:]*):([^/:]*):([^/:]+)$/.exec(cgroupsPath);
  if (m && !cgroupsPath.startsWith('/')) {
    const [, slice, prefix, name] = m;
    const parent = expandSlice(slice || 'system.slice');
    // systemd's own convention: a name ending in .slice is a slice, else a scope named PREFIX-NAME.scope.
    const unit = name.endsWith('.slice') ? name : `${prefix ? `${prefix}-` : ''}${name}.scope`;
    return { path: path.posix.join(parent, unit), relative: false, systemd: true };
  }
  if (cgroupsPath.split('/').includes('..'))
    throw new NookError(`linux.cgroupsPath "${cgroupsPath}" climbs with ".."`, { hint: 'give a path without ".." components' });
  const relative = !cgroupsPath.startsWith('/');
  const clean = path.posix.normalize(`/${cgroupsPath}`).replace(/\/+$/, '');
  if (clean === '' || clean === '/') throw new NookError(`linux.cgroupsPath "${cgroupsPath}" names the root cgroup`, { hint: 'give the container a cgroup of its own, e.g. "/nook/ID"' });
  return { path: relative ? clean.slice(1) : clean, relative, systemd: false };
}
