/**
 * An OCI container's cgroup: linux.cgroupsPath and linux.resources
 * (config-linux.md "Control groups"), written by nook itself as runc's
 * cgroupfs manager writes them.
 *
 *  - real root (outside any user namespace): on cgroup v1 and hybrid hosts a
 *    directory in each v1 hierarchy (cgroups-v1.ts); on cgroup v2 one
 *    directory (cgroups-v2.ts). Made even when linux.resources is empty, as
 *    runc does, so that pause and kill --all find the container's processes.
 *  - otherwise (rootless, or root in a user namespace): only in a cgroup v2
 *    subtree delegated to the user. Without one the container gets no cgroup
 *    and, when it asked for limits, one warning says why; a rootless create
 *    never fails on account of its cgroup (runc's rootless mode does so too).
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { cgroupDir, detectLayout, unifiedCgroupPath, type CgroupLayout } from '../sandbox/cgroups/detect';
import type { OciConfig } from './config';
import { errCode, joinDir, readTrimmed, treePids, waitFor } from './cgroups-io';
import { cgroupPathOf, readResources, resourcesEmpty, type OciResources } from './cgroups-spec';
import { createV1, freezerDir, removeV1, updateV1, v1Hierarchies, v1Ignored, v1Writes } from './cgroups-v1';
import { createV2, removeV2, updateV2, v2Writes } from './cgroups-v2';

/** Where a container's cgroup is: one directory per v1 hierarchy (by controller list), or the v2 directory. */
export interface OciCgroupRecord {
  v2?: string;
  v1?: Record<string, string>;
  /** The directories nook made above the container's own (parents of a new cgroupsPath), removed with it when empty. */
  made?: string[];
  /** Made in a subtree delegated to an unprivileged user: a failure to join it is a warning, not an error. */
  rootless?: boolean;
}

/** What nook reads of the host (tests pass their own). */
export interface CgroupHostView {
  mountinfo: string;
  selfCgroup: string;
  /** Real root: euid 0 in the initial user namespace. */
  realRoot: boolean;
  euid: number;
  /** Where the cgroup tree is (default /sys/fs/cgroup; tests point it at another cgroup2 mount). */
  cgroupMount?: string;
}

function initialUserNamespace(): boolean {
  try {
    const map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return map[0] === '0' && map[1] === '0' && map[2] === '4294967295';
  } catch {
    return false;
  }
}

export function hostView(): CgroupHostView {
  const euid = process.geteuid!();
  return {
    mountinfo: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    selfCgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'),
    realRoot: euid === 0 && initialUserNamespace(),
    euid,
  };
}

/**
 * Whether this process may manage the v2 cgroup `dir` as a delegated subtree
 * (owned by it, with its cgroup.procs and cgroup.subtree_control): detect.ts's
 * isDelegated, which takes uid 0 for real root, does not hold for root in a
 * user namespace, where the owner seen is the mapped one.
 */
function delegatedToMe(dir: string, euid: number): boolean {
  try {
    return [dir, path.join(dir, 'cgroup.procs'), path.join(dir, 'cgroup.subtree_control')].every((p) => {
      const st = fs.statSync(p);
      return st.uid === euid && Boolean(st.mode & 0o200);
    });
  } catch {
    return false;
  }
}

class Unapplied extends Error {}

/** The v2 place of a rootless container: under the highest cgroup delegated to this user above nook's own. */
function rootlessV2(layout: CgroupLayout, host: CgroupHostView, cg: { path: string; relative: boolean }, id: string): { top: string; dir: string } {
  const unified = layout.unified!;
  const ownPath = unifiedCgroupPath(host.selfCgroup);
  const own = ownPath === undefined ? undefined : cgroupDir(ownPath, unified);
  if (own === undefined || !delegatedToMe(own, host.euid)) throw new Unapplied(`no cgroup v2 subtree is delegated to uid ${host.euid} (nook runs in the cgroup ${ownPath ?? '?'}, which is not its own)`);
  let top = own;
  while (top !== unified.mountPoint && path.dirname(top) !== unified.mountPoint && delegatedToMe(path.dirname(top), host.euid)) top = path.dirname(top);
  let dir: string;
  if (cg.relative) dir = path.join(own, cg.path);
  else if (cg.path === `/nook-oci/${id}`) dir = path.join(top, 'nook-oci', id);
  else dir = path.join(unified.mountPoint, cg.path);
  if (dir !== top && !dir.startsWith(`${top}/`)) throw new Unapplied(`the cgroup ${dir} is outside the subtree delegated to this user (${top})`);
  // Processes in `top` itself (a scope whose shell started nook) keep its children from getting controllers.
  return { top, dir };
}

/** createOciCgroup on a given host view. */
export function createOciCgroupOn(config: OciConfig, id: string, warn: (m: string) => void, host: CgroupHostView): OciCgroupRecord | undefined {
  const rawResources = config.linux?.resources;
  const layout = detectLayout(host.mountinfo, host.cgroupMount);
  const asked = (): boolean => {
    try {
      return !resourcesEmpty(readResources(rawResources));
    } catch {
      return true;
    }
  };
  const unapplied = (why: string) => {
    if (asked()) warn(`linux.resources are not applied: ${why}`);
    return undefined;
  };

  if (host.realRoot) {
    const resources = readResources(rawResources);
    const cg = cgroupPathOf(config.linux?.cgroupsPath, id);
    if (layout.mode === 'v2') {
      const { writes, ignored } = v2Writes(resources);
      for (const i of ignored) warn(`${i} is not applied`);
      const unified = layout.unified!;
      const base = cg.relative ? ownV2(host, unified) : unified.mountPoint;
      const created = createV2(unified.mountPoint, path.join(base, cg.path), writes, warn);
      return { v2: created.dir, ...(created.made.length ? { made: created.made } : {}) };
    }
    if (layout.mode === 'v1' || layout.mode === 'hybrid') {
      const writes = v1Writes(resources, config.linux?.devices);
      for (const i of v1Ignored(resources)) warn(`${i} is not applied`);
      const hierarchies = v1Hierarchies(host.mountinfo, host.selfCgroup);
      const created = createV1(hierarchies, cg, writes, warn);
      return { v1: created.dirs, ...(created.made.length ? { made: created.made } : {}) };
    }
    return unapplied('no cgroup filesystem is mounted on /sys/fs/cgroup');
  }

  const who = host.euid === 0 ? 'root in a user namespace' : `uid ${host.euid}`;
  if (layout.mode !== 'v2') return unapplied(`nook runs as ${who}, and this host uses cgroup v1${layout.mode === 'hybrid' ? ' (hybrid)' : ''}, which needs real root`);
  try {
    const resources = readResources(rawResources);
    const cg = cgroupPathOf(config.linux?.cgroupsPath, id);
    const { writes, ignored } = v2Writes(resources);
    const { top, dir } = rootlessV2(layout, host, cg, id);
    for (const i of ignored) warn(`${i} is not applied`);
    const created = createV2(top, dir, writes, warn);
    return { v2: created.dir, ...(created.made.length ? { made: created.made } : {}), rootless: true };
  } catch (e) {
    if (e instanceof Unapplied) return unapplied(e.message);
    if (e instanceof NookError) return unapplied(`${e.message}${e.hint ? ` (${e.hint})` : ''}`);
    throw e;
  }
}

function ownV2(host: CgroupHostView, unified: { mountPoint: string; root: string }): string {
  const ownPath = unifiedCgroupPath(host.selfCgroup);
  const own = ownPath === undefined ? undefined : cgroupDir(ownPath, unified);
  if (own === undefined) throw new NookError(`linux.cgroupsPath is relative, but nook's own cgroup (${ownPath ?? '?'}) is not under ${unified.mountPoint}`, { hint: 'give an absolute linux.cgroupsPath' });
  return own;
}

/** Creates the container's cgroup and writes its limits, or returns undefined when it gets none. */
export function createOciCgroup(config: OciConfig, id: string, warn: (m: string) => void): OciCgroupRecord | undefined {
  return createOciCgroupOn(config, id, warn, hostView());
}

function dirsOf(cg: OciCgroupRecord): string[] {
  return cg.v2 !== undefined ? [cg.v2] : Object.values(cg.v1 ?? {});
}

/** Moves `pid` into the cgroup (the waiting child, before it is released). */
export function joinOciCgroup(cg: OciCgroupRecord, pid: number, warn: (m: string) => void): void {
  try {
    for (const dir of dirsOf(cg)) joinDir(dir, pid);
  } catch (e) {
    if (!cg.rootless) throw e;
    // Delegation lets the user move processes only within the subtree: the container goes without a cgroup.
    warn(`linux.resources are not applied: ${(e as Error).message}`);
    removeOciCgroup(cg, warn);
    delete cg.v2;
    delete cg.made;
  }
}

/**
 * Removes the cgroup's directories. Their processes have normally ended with
 * the init (its pid namespace's end kills them); those left (a container
 * without a pid namespace of its own, whose daemons outlived the init) are
 * killed first, as runc's destroy does, since the cgroup cannot go before them.
 */
export function removeOciCgroup(cg: OciCgroupRecord, warn: (m: string) => void): void {
  for (let round = 0; round < 3; round++) {
    const left = ociCgroupPids(cg);
    if (!left.length) break;
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
  }
  const made = cg.made ?? [];
  const problems = cg.v2 !== undefined ? removeV2({ dir: cg.v2, made }) : cg.v1 ? removeV1({ dirs: cg.v1, made }) : [];
  // The container is gone either way: a leftover directory is worth a warning, not a failure.
  if (problems.length) warn(`could not remove the container's cgroup: ${problems.join('; ')}`);
}

/** The pids in the cgroup (and in any child cgroup the container made). */
export function ociCgroupPids(cg: OciCgroupRecord): number[] {
  const out = new Set<number>();
  for (const dir of dirsOf(cg)) for (const p of treePids(dir)) out.add(p);
  return [...out];
}

function noCgroup(): NookError {
  return new NookError('the container has no cgroup of its own', { hint: 'joining it failed when the container was created (see the warning then)', exitCode: 1 });
}

/** Freezes or thaws (v1 freezer.state, v2 cgroup.freeze), and waits until the kernel says it is done. */
export function freezeOciCgroup(cg: OciCgroupRecord, frozen: boolean): void {
  let file: string;
  let value: string;
  let done: () => boolean;
  if (cg.v2 !== undefined) {
    file = path.join(cg.v2, 'cgroup.freeze');
    value = frozen ? '1' : '0';
    const events = path.join(cg.v2, 'cgroup.events');
    done = () => new RegExp(`^frozen ${frozen ? 1 : 0}$`, 'm').test(fs.readFileSync(events, 'utf8'));
  } else if (cg.v1) {
    file = path.join(freezerDir(cg.v1), 'freezer.state');
    value = frozen ? 'FROZEN' : 'THAWED';
    done = () => readTrimmed(file) === value;
  } else {
    throw noCgroup();
  }
  const write = () => fs.writeFileSync(file, value);
  try {
    write();
  } catch (e) {
    throw new NookError(`${frozen ? 'freezing' : 'thawing'} the container: writing ${value} to ${file}: ${errCode(e)}`, {
      hint: errCode(e) === 'ENOENT' ? 'the container\'s cgroup is gone (was it deleted?)' : 'nook needs write access to the container\'s cgroup',
      exitCode: 1,
      cause: e,
    });
  }
  // v1 passes through FREEZING while tasks are caught; a write again nudges tasks that were forking (runc does so too).
  if (!waitFor(done, write)) {
    if (frozen) {
      try {
        fs.writeFileSync(file, cg.v2 !== undefined ? '0' : 'THAWED');
      } catch {
        /* left as it is */
      }
    }
    throw new NookError(`the container did not ${frozen ? 'freeze' : 'thaw'} within 5 s (${file})`, { hint: 'a process in uninterruptible sleep (D state) holds it; try again', exitCode: 1 });
  }
}

export function isFrozen(cg: OciCgroupRecord): boolean {
  try {
    if (cg.v2 !== undefined) return readTrimmed(path.join(cg.v2, 'cgroup.freeze')) === '1';
    if (cg.v1) return readTrimmed(path.join(freezerDir(cg.v1), 'freezer.state')) === 'FROZEN';
  } catch {
    /* no freezer, or the cgroup is gone */
  }
  return false;
}

/** `update --resources`: writes new limits. */
export function updateOciCgroup(cg: OciCgroupRecord, resources: Record<string, unknown>, warn: (m: string) => void): void {
  const r: OciResources = readResources(resources, '--resources');
  if (cg.v2 !== undefined) {
    const { writes, ignored } = v2Writes(r);
    for (const i of ignored) warn(`${i} is not applied`);
    const layout = detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    const top = layout.unified?.mountPoint ?? '/sys/fs/cgroup';
    // Delegated: controllers above the delegation are enabled already, or cannot be by this user.
    updateV2(cg.rootless ? path.dirname(cg.v2) : top, cg.v2, writes, warn);
  } else if (cg.v1) {
    // devices in update: runc rewrites the whole list; nook writes the rules given, in order.
    const writes = v1Writes(r);
    for (const i of v1Ignored(r)) warn(`${i} is not applied`);
    updateV1(cg.v1, writes, warn);
  } else {
    throw noCgroup();
  }
}

