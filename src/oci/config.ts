/**
 * An OCI bundle's config.json (runtime-spec config.md, config-linux.md): the
 * parts nook reads, their types, and the checks that turn a malformed file
 * into an error naming the field, before anything is created.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: OciUser;
  args?: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  selinuxLabel?: string;
  oomScoreAdj?: number;
}

export interface OciMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];
export type OciHooks = Partial<Record<HookKind, OciHook[]>>;

export interface OciNamespace {
  type: string;
  path?: string;
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciDevice {
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciLinux {
  namespaces?: OciNamespace[];
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
  devices?: OciDevice[];
  cgroupsPath?: string;
  resources?: Record<string, unknown>;
  rootfsPropagation?: string;
  seccomp?: Record<string, unknown>;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  [other: string]: unknown;
}

export interface OciConfig {
  ociVersion: string;
  process?: OciProcess;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts?: OciMount[];
  hooks?: OciHooks;
  annotations?: Record<string, string>;
  linux?: OciLinux;
}

/** The namespace types of config-linux.md, as /proc/PID/ns names them. */
export const NAMESPACE_FILES: Record<string, string> = {
  user: 'user', ipc: 'ipc', uts: 'uts', network: 'net', cgroup: 'cgroup', pid: 'pid', mount: 'mnt', time: 'time',
};

function bad(field: string, problem: string, doc = 'config.json'): NookError {
  return new NookError(`${doc}: ${field} ${problem}`, { hint: 'see the OCI runtime spec (config.md); `nook oci spec` writes a valid example' });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function stringList(v: unknown, field: string, doc?: string): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(field, 'must be a list of strings', doc);
}

/** Reads and checks BUNDLE/config.json. */
export function readBundleConfig(bundle: string): OciConfig {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NookError(`cannot read ${file}: ${code}`, {
      hint: code === 'ENOENT' ? 'a bundle is a directory with a config.json and the rootfs it names (`nook oci spec` writes one)' : 'check the bundle path and its permissions',
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new NookError(`${file} is not valid JSON: ${(e as Error).message}`, { hint: 'fix the file, or write a fresh one with `nook oci spec`' });
  }
  return validateConfig(parsed);
}

/** The first string in `v` that holds a NUL byte, by its path ("process.args[1]"): no such string reaches the kernel whole. */
function nulString(v: unknown, at: string): string | undefined {
  if (typeof v === 'string') return v.includes('\0') ? at : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = nulString(v[i], `${at}[${i}]`);
      if (found) return found;
    }
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      const found = nulString(x, at ? `${at}.${k}` : k);
      if (found) return found;
    }
  }
  return undefined;
}

const optionalString = (v: unknown, field: string, doc?: string) => {
  if (v !== undefined && typeof v !== 'string') throw bad(field, 'must be a string', doc);
};
const optionalInt = (v: unknown, field: string, doc?: string) => {
  if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v))) throw bad(field, 'must be an integer', doc);
};

/** An OCI process object (config.json's "process", or exec's --process FILE), checked as validateConfig checks it. */
export function validateProcess(p: unknown, at: string, doc = 'config.json'): OciProcess {
  const nul = nulString(p, at);
  if (nul) throw bad(nul, 'holds a NUL byte', doc);
  if (!isObject(p)) throw bad(at, 'must be an object', doc);
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) throw bad(`${at}.cwd`, 'must be an absolute path', doc);
  if (!isObject(p.user) || !isUint(p.user.uid) || !isUint(p.user.gid)) throw bad(`${at}.user`, 'must have numeric uid and gid', doc);
  optionalInt(p.user.umask, `${at}.user.umask`, doc);
  optionalInt(p.oomScoreAdj, `${at}.oomScoreAdj`, doc);
  optionalString(p.apparmorProfile, `${at}.apparmorProfile`, doc);
  optionalString(p.selinuxLabel, `${at}.selinuxLabel`, doc);
  if (p.consoleSize !== undefined && (!isObject(p.consoleSize) || !isUint(p.consoleSize.height) || !isUint(p.consoleSize.width)))
    throw bad(`${at}.consoleSize`, 'must have numeric height and width', doc);
  if (p.user.additionalGids !== undefined && (!Array.isArray(p.user.additionalGids) || !p.user.additionalGids.every(isUint)))
    throw bad(`${at}.user.additionalGids`, 'must be a list of numbers', doc);
  stringList(p.args, `${at}.args`, doc);
  stringList(p.env, `${at}.env`, doc);
  if (p.rlimits !== undefined) {
    if (!Array.isArray(p.rlimits)) throw bad(`${at}.rlimits`, 'must be a list', doc);
    p.rlimits.forEach((r, i) => {
      if (!isObject(r) || typeof r.type !== 'string' || !isUint(r.soft) || !isUint(r.hard)) throw bad(`${at}.rlimits[${i}]`, 'needs type, soft and hard', doc);
    });
  }
  if (isObject(p.capabilities)) for (const k of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) stringList(p.capabilities[k], `${at}.capabilities.${k}`, doc);
  return p as unknown as OciProcess;
}

/** Checks the fields nook acts on (their types: a number where the plan expects a string must never pass); the rest is kept as it is. */
export function validateConfig(v: unknown): OciConfig {
  if (!isObject(v)) throw bad('the document', 'must be a JSON object');
  const nul = nulString(v, '');
  if (nul) throw bad(nul, 'holds a NUL byte');
  optionalString(v.hostname, 'hostname');
  optionalString(v.domainname, 'domainname');
  if (typeof v.ociVersion !== 'string') throw bad('ociVersion', 'is missing (it must be a string such as "1.0.2")');
  if (!/^1\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(v.ociVersion))
    throw bad('ociVersion', `"${v.ociVersion}" is not a version of the OCI runtime spec that nook reads (1.x.y)`);
  if (v.root !== undefined && (!isObject(v.root) || typeof v.root.path !== 'string' || !v.root.path)) throw bad('root.path', 'must be a non-empty string');
  if (v.process !== undefined) validateProcess(v.process, 'process');
  if (v.mounts !== undefined) {
    if (!Array.isArray(v.mounts)) throw bad('mounts', 'must be a list');
    v.mounts.forEach((m, i) => {
      if (!isObject(m) || typeof m.destination !== 'string') throw bad(`mounts[${i}].destination`, 'must be a string');
      if (!m.destination.startsWith('/')) throw bad(`mounts[${i}].destination`, `must be an absolute path (got "${m.destination}")`);
      stringList(m.options, `mounts[${i}].options`);
      optionalString(m.source, `mounts[${i}].source`);
      optionalString(m.type, `mounts[${i}].type`);
    });
  }
  if (v.hooks !== undefined) {
    if (!isObject(v.hooks)) throw bad('hooks', 'must be an object');
    for (const kind of HOOK_KINDS) {
      const list = v.hooks[kind];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw bad(`hooks.${kind}`, 'must be a list');
      list.forEach((h, i) => {
        if (!isObject(h) || typeof h.path !== 'string' || !h.path.startsWith('/')) throw bad(`hooks.${kind}[${i}].path`, 'must be an absolute path');
        if (h.timeout !== undefined && (!Number.isInteger(h.timeout) || (h.timeout as number) <= 0)) throw bad(`hooks.${kind}[${i}].timeout`, 'must be a positive integer');
        stringList(h.args, `hooks.${kind}[${i}].args`);
        stringList(h.env, `hooks.${kind}[${i}].env`);
      });
    }
  }
  const linux = v.linux;
  if (linux !== undefined) {
    if (!isObject(linux)) throw bad('linux', 'must be an object');
    if (linux.namespaces !== undefined) {
      if (!Array.isArray(linux.namespaces)) throw bad('linux.namespaces', 'must be a list');
      const seen = new Set<string>();
      linux.namespaces.forEach((ns, i) => {
        if (!isObject(ns) || typeof ns.type !== 'string' || !(ns.type in NAMESPACE_FILES)) throw bad(`linux.namespaces[${i}].type`, `must be one of ${Object.keys(NAMESPACE_FILES).join(', ')}`);
        if (seen.has(ns.type)) throw bad(`linux.namespaces`, `names the ${ns.type} namespace twice`);
        seen.add(ns.type);
        if (ns.path !== undefined && (typeof ns.path !== 'string' || !ns.path.startsWith('/'))) throw bad(`linux.namespaces[${i}].path`, 'must be an absolute path');
      });
    }
    for (const k of ['uidMappings', 'gidMappings']) {
      const list = linux[k];
      if (list === undefined) continue;
      if (!Array.isArray(list) || !list.every((m) => isObject(m) && isUint(m.containerID) && isUint(m.hostID) && isUint(m.size)))
        throw bad(`linux.${k}`, 'must be a list of {containerID, hostID, size}');
    }
    stringList(linux.maskedPaths, 'linux.maskedPaths');
    optionalString(linux.rootfsPropagation, 'linux.rootfsPropagation');
    optionalString(linux.cgroupsPath, 'linux.cgroupsPath');
    stringList(linux.readonlyPaths, 'linux.readonlyPaths');
    if (linux.devices !== undefined) {
      if (!Array.isArray(linux.devices)) throw bad('linux.devices', 'must be a list');
      linux.devices.forEach((d, i) => {
        if (!isObject(d) || typeof d.path !== 'string' || !d.path.startsWith('/')) throw bad(`linux.devices[${i}].path`, 'must be an absolute path');
        if (!['c', 'b', 'u', 'p'].includes(d.type as string)) throw bad(`linux.devices[${i}].type`, 'must be c, b, u or p');
        for (const k of ['major', 'minor', 'fileMode', 'uid', 'gid']) if (d[k] !== undefined && !isUint(d[k])) throw bad(`linux.devices[${i}].${k}`, 'must be a number');
      });
    }
    if (linux.sysctl !== undefined && (!isObject(linux.sysctl) || !Object.values(linux.sysctl).every((s) => typeof s === 'string')))
      throw bad('linux.sysctl', 'must map names to strings');
  }
  return v as unknown as OciConfig;
}

/** The namespace entry of `type`, if the config asks for one. */
export const namespaceOf = (c: OciConfig, type: string): OciNamespace | undefined => c.linux?.namespaces?.find((n) => n.type === type);
