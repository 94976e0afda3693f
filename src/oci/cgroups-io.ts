/**
 * The file operations an OCI container's cgroup needs on both cgroup
 * versions: one limit write (with an error that names the resource and the
 * file), directory creation and removal, the pids in a cgroup and below, and
 * the wait for the freezer. Used by cgroups-v1.ts and cgroups-v2.ts.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';

/** One write of a limit file. */
export interface CgroupWrite {
  /** The controller the file belongs to ("memory"; on cgroup v1 it picks the hierarchy). */
  controller: string;
  /** The interface file, relative to the cgroup's directory. */
  file: string;
  value: string;
  /** The config field the value comes from, for messages ("linux.resources.memory.limit"). */
  what: string;
  /**
   * Writes of one group (cpu.cfs_period_us and cpu.cfs_quota_us; memory and
   * memsw limits) depend on each other's current value: when one is refused,
   * the group is written again in the reverse order, as runc does.
   */
  group?: string;
  /** Other files that do the same job, tried in order when `file` is missing (blkio.weight → blkio.bfq.weight). */
  alternatives?: { file: string; value: string }[];
  /** A deprecated setting the kernel may lack or refuse: a warning, not an error. */
  bestEffort?: boolean;
  /** A file some kernels accept and ignore (memory.kmem.limit_in_bytes since Linux 6.1): read back, and a warning when it did not take. */
  readBack?: boolean;
  /** What to say when the file is missing (the kernel feature it needs). */
  missingHint?: string;
}

export function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** Sleeps without giving the event loop a turn: removal runs in `finally` and failure paths. */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function readTrimmed(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

/** Which errors mean "the value is fine but another one is in the way" (ordering), worth the reverse order. */
const ORDER_ERRORS = new Set(['EINVAL', 'EBUSY', 'EPERM']);

function writeHint(w: CgroupWrite, code: string): string {
  if (code === 'EINVAL' || code === 'ERANGE') return `the kernel refused "${w.value}": check ${w.what} in config.json (its range, and that it fits the parent cgroup's limits)`;
  if (code === 'EBUSY') return `the cgroup's processes use more than ${w.what} allows, or a child cgroup holds a larger limit`;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'nook must run as root (or in a delegated cgroup v2 subtree) to set limits';
  return `leave out ${w.what}`;
}

/**
 * Writes one limit file; throws a NookError naming the resource and the file,
 * or (bestEffort) returns the warning. Returns undefined on success.
 */
export function applyWrite(dir: string, w: CgroupWrite): string | undefined {
  const candidates = [{ file: w.file, value: w.value }, ...(w.alternatives ?? [])];
  const target = candidates.find((c) => fs.existsSync(path.join(dir, c.file)));
  if (!target) {
    const msg = `${w.what} cannot be applied: the kernel offers no ${candidates.map((c) => c.file).join(' or ')} in ${dir}`;
    if (w.bestEffort) return `${msg}; it is left out`;
    throw new NookError(msg, { hint: w.missingHint ?? `this kernel lacks the feature: leave out ${w.what}` });
  }
  try {
    fs.writeFileSync(path.join(dir, target.file), target.value);
    if (w.readBack && readTrimmed(path.join(dir, target.file)) !== target.value)
      return `${w.what} is not applied: the kernel accepts ${target.file} but ignores it (it is deprecated)`;
    return undefined;
  } catch (e) {
    const code = errCode(e);
    const msg = `${w.what}: writing "${target.value}" to ${path.join(dir, target.file)}: ${code}`;
    if (w.bestEffort) return `${msg}; it is left out`;
    throw new NookError(msg, { hint: writeHint(w, code), cause: e });
  }
}

/**
 * Writes the limits in order into the directory `dirOf` picks for each
 * controller. A refused write of a group is retried with the group in the
 * reverse order (a new cfs period below the old quota, a memory limit above
 * the old memsw limit). Warnings of best-effort writes go to `warn`.
 */
export function applyWrites(writes: CgroupWrite[], dirOf: (w: CgroupWrite) => string, warn: (m: string) => void): void {
  const done = new Set<string>();
  for (const w of writes) {
    if (w.group === undefined) {
      const problem = applyWrite(dirOf(w), w);
      if (problem) warn(problem);
      continue;
    }
    if (done.has(w.group)) continue;
    done.add(w.group);
    const group = writes.filter((x) => x.group === w.group);
    try {
      for (const g of group) applyWrite(dirOf(g), g);
    } catch (e) {
      const code = (e as NookError).cause === undefined ? '' : errCode((e as NookError).cause);
      if (!ORDER_ERRORS.has(code)) throw e;
      for (const g of [...group].reverse()) applyWrite(dirOf(g), g);
    }
  }
}

/**
 * Makes `dir` and the directories above it up to (not including) `top`;
 * returns the ones it made, top down. `onMade` runs for each as it is made
 * (cpuset copies its parent's cpus and mems there before anything joins).
 */
export function makeDirs(top: string, dir: string, onMade?: (d: string) => void): string[] {
  const rel = path.relative(top, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new NookError(`the cgroup ${dir} is not under ${top}`);
  const made: string[] = [];
  let cur = top;
  for (const part of rel ? rel.split(path.sep) : []) {
    cur = path.join(cur, part);
    try {
      fs.mkdirSync(cur);
      made.push(cur);
    } catch (e) {
      if (errCode(e) !== 'EEXIST') {
        throw new NookError(`creating the cgroup ${cur}: ${errCode(e)}`, {
          hint: errCode(e) === 'EACCES' || errCode(e) === 'EROFS' ? `nook needs write access to ${path.dirname(cur)} (root, or a delegated cgroup)` : 'check linux.cgroupsPath in config.json',
          cause: e,
        });
      }
    }
    onMade?.(cur);
  }
  return made;
}

/** The cgroup directories at and below `dir`, deepest first. */
function treeBottomUp(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  for (const e of entries) if (e.isDirectory()) out.push(...treeBottomUp(path.join(dir, e.name)));
  out.push(dir);
  return out;
}

/**
 * rmdir of a cgroup and whatever child cgroups the container made in it,
 * waiting a little while exiting processes leave (a cgroup stays busy until
 * they are reaped). Returns undefined, or the problem.
 */
export function removeTree(dir: string): string | undefined {
  for (const d of treeBottomUp(dir)) {
    let last = '';
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(d);
        last = '';
        break;
      } catch (e) {
        last = errCode(e);
        if (last === 'ENOENT') {
          last = '';
          break;
        }
        if (last !== 'EBUSY') break;
      }
      sleepMs(i < 10 ? 5 : 20);
    }
    if (last) return `${d}: ${last}`;
  }
  return undefined;
}

/** Directories nook made above the container's cgroup, when nothing else uses them any more (bottom up; a busy one stops it). */
export function removeEmptyParents(made: string[]): void {
  for (const d of [...made].reverse()) {
    try {
      fs.rmdirSync(d);
    } catch {
      return; // another container's cgroup, or processes, in it: it stays
    }
  }
}

/** The pids in the cgroup at `dir` and its children. */
export function treePids(dir: string): number[] {
  const out = new Set<number>();
  for (const d of treeBottomUp(dir)) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line) out.add(Number(line));
  }
  return [...out];
}

/** Moves `pid` into the cgroup at `dir`. */
export function joinDir(dir: string, pid: number): void {
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
  } catch (e) {
    const code = errCode(e);
    throw new NookError(`moving the container's init into its cgroup ${dir}: ${code}`, {
      hint:
        code === 'ENOSPC'
          ? 'the cgroup has no cpus or memory nodes to run on (cpuset.cpus/cpuset.mems empty): set linux.resources.cpu.cpus and mems'
          : 'nook must run as root, or the cgroup must be in a subtree delegated to you',
      cause: e,
    });
  }
}

/** Polls until `done` holds, rewriting with `poke` now and then; false on timeout. */
export function waitFor(done: () => boolean, poke: () => void, timeoutMs = 5000): boolean {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (done()) return true;
    if (Date.now() > deadline) return false;
    sleepMs(i < 20 ? 1 : 10);
    if (i % 10 === 9) poke();
  }
}
