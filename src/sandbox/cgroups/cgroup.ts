/**
 * The container's cgroup through its life: created with its limits before
 * the sandbox starts, joined by the sandbox's first process before it runs
 * anything, asked after exit whether the kernel OOM-killed something in it,
 * then removed. Writes the cgroup files itself (the "cgroupfs" manager).
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { NookError } from '../../errors';
import type { ResourceLimits } from '../spec';
import { limitWrites, type LimitWrite } from './limits';
import { placeCgroup, type CgroupHost, type Placement } from './placement';
import { readControllerList } from './detect';

export interface ContainerCgroup {
  readonly path: string;
  /** Moves `pid` into the cgroup (before the child runs anything). */
  join(pid: number): void;
  /** After the sandbox exited: whether the kernel OOM-killed something in it (memory.events oom_kill). */
  oomKilled(): boolean;
  /** Removes the cgroup (rmdir; processes are gone by then). */
  remove(): void;
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

function write(file: string, value: string): void {
  fs.writeFileSync(file, value);
}

/** Sleeps without giving the event loop a turn: removal runs in `finally` blocks that must finish first. */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function hostNow(): CgroupHost {
  let userName = String(process.getuid!());
  try {
    userName = os.userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return {
    mountinfo: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    selfCgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'),
    uid: process.getuid!(),
    pid: process.pid,
    userName,
  };
}

/** Makes each controller available to the children of each directory on the path, top down. */
function enableControllers(p: Placement): void {
  for (const dir of p.enablePath) {
    const present = readControllerList(path.join(dir, 'cgroup.subtree_control'));
    const missing = p.controllers.filter((c) => !present.includes(c));
    if (!missing.length) continue;
    try {
      write(path.join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    } catch (e) {
      const code = errCode(e);
      throw new NookError(`enabling the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''} in ${dir}/cgroup.subtree_control: ${code}`, {
        hint:
          code === 'EBUSY'
            ? `processes sit in ${dir} itself, and the kernel hands controllers to the children of a cgroup only when it holds none: ` +
              'move them into a child cgroup, or start nook with `systemd-run --user --scope -p Delegate=yes nook run ...`'
            : `check that ${dir} is delegated to you (owned by you, with its cgroup.subtree_control)`,
      });
    }
  }
}

/** One limit file; a missing optional file is skipped, a missing required one is an error naming the kernel feature. */
function applyLimit(dir: string, w: LimitWrite): void {
  const candidates = [{ file: w.file, value: w.value }, ...(w.alternatives ?? [])];
  const target = candidates.find((c) => fs.existsSync(path.join(dir, c.file)));
  if (!target) {
    if (w.optional) return;
    throw new NookError(`${w.flag} cannot be applied: the kernel offers no ${candidates.map((c) => c.file).join(' or ')} in ${dir}`, {
      hint:
        w.file === 'memory.swap.max'
          ? 'swap accounting is off: boot with swapaccount=1, or leave out --memory-swap'
          : w.file === 'io.weight'
            ? 'the kernel has neither the io cost controller (CONFIG_BLK_CGROUP_IOCOST) nor the BFQ scheduler: leave out --blkio-weight'
            : `leave out ${w.flag}`,
    });
  }
  try {
    write(path.join(dir, target.file), target.value);
  } catch (e) {
    throw new NookError(`${w.flag}: writing "${target.value}" to ${path.join(dir, target.file)}: ${errCode(e)}`, {
      hint: errCode(e) === 'EINVAL' ? `the kernel refused the value: give ${w.flag} another one` : `check that ${dir} is delegated to you`,
    });
  }
}

class CgroupfsCgroup implements ContainerCgroup {
  private removed = false;

  constructor(
    readonly path: string,
    private readonly placement: Placement,
    private readonly pid: number,
    /** False while the directory is not (known to be) ours: removal then leaves it alone. */
    private readonly ownsDir = true,
  ) {}

  join(pid: number): void {
    try {
      write(path.join(this.path, 'cgroup.procs'), String(pid));
    } catch (e) {
      throw new NookError(`moving the sandbox into its cgroup ${this.path}: ${errCode(e)}`, {
        hint: `the common parent of ${this.placement.self} and ${this.path} must be delegated to you (yours, with its cgroup.procs)`,
      });
    }
  }

  oomKilled(): boolean {
    return cgroupOomKilled(this.path);
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    const problems: string[] = [];
    const gone = this.ownsDir ? removeDir(this.path) : true;
    if (gone !== true) problems.push(`${this.path}: ${gone}`);
    const leaf = this.placement.leaf;
    if (leaf) {
      // Undo leaf mode: take the controllers back from nook's own cgroup, so that nook may live in it again.
      const own = this.placement.self;
      try {
        const ctl = readControllerList(path.join(own, 'cgroup.subtree_control'));
        if (ctl.length) write(path.join(own, 'cgroup.subtree_control'), ctl.map((c) => `-${c}`).join(' '));
        write(path.join(own, 'cgroup.procs'), String(this.pid));
      } catch (e) {
        problems.push(`moving nook back into ${own}: ${errCode(e)}`);
      }
      const leafGone = removeDir(leaf);
      if (leafGone !== true) problems.push(`${leaf}: ${leafGone}`);
    }
    // Removal runs after the command's exit status is known: a leftover is worth a warning, not a failure.
    if (problems.length) process.stderr.write(`nook: warning: could not remove the container's cgroup: ${problems.join('; ')}\n`);
  }
}

/** Whether the kernel OOM-killed something in the cgroup at `dir` (memory.events oom_kill). */
function cgroupOomKilled(dir: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'memory.events'), 'utf8');
  } catch {
    return false; // no memory controller (or no cgroup): nothing of ours can have been OOM-killed
  }
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m !== null && Number(m[1]) > 0;
}

/**
 * A detached container's cgroup after its exit, seen by another nook process
 * than the one that created it: whether it saw an OOM kill, then removed.
 */
export function releaseCgroupDir(dir: string): { oomKilled: boolean } {
  const oomKilled = cgroupOomKilled(dir);
  const gone = removeDir(dir);
  if (gone !== true) process.stderr.write(`nook: warning: could not remove the container's cgroup ${dir}: ${gone}\n`);
  return { oomKilled };
}

/**
 * rmdir, waiting a little for processes that are still exiting (the kernel
 * kills the rest of a pid namespace when its init exits, but the cgroup stays
 * busy until they are reaped); cgroup.kill settles stragglers. Returns true or
 * the last error code.
 */
function removeDir(dir: string): true | string {
  let last = '';
  for (let i = 0; i < 60; i++) {
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (e) {
      last = errCode(e);
      if (last === 'ENOENT') return true;
      if (last !== 'EBUSY') return last;
    }
    if (i === 20) {
      try {
        write(path.join(dir, 'cgroup.kill'), '1');
      } catch {
        /* before Linux 5.14: keep waiting */
      }
    }
    sleepMs(i < 10 ? 5 : 25);
  }
  return last;
}

/** Creates the cgroup on a given host view; createCgroup reads the real one. */
export function createCgroupOn(limits: ResourceLimits, name: string, host: CgroupHost): ContainerCgroup {
  const placement = placeCgroup(limits, host, name);
  const dir = path.join(placement.parent, `nook-${name}`);
  let made = false;
  try {
    if (placement.leaf) {
      fs.mkdirSync(placement.leaf);
      try {
        write(path.join(placement.leaf, 'cgroup.procs'), String(host.pid));
      } catch (e) {
        throw new NookError(`moving nook into ${placement.leaf}: ${errCode(e)}`, { hint: `check that ${placement.self} is delegated to you` });
      }
    }
    enableControllers(placement);
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      throw new NookError(`creating the container's cgroup ${dir}: ${errCode(e)}`, { hint: `check that ${placement.parent} is delegated to you` });
    }
    made = true;
    for (const w of limitWrites(limits)) applyLimit(dir, w);
  } catch (e) {
    // Undo what was done: removal skips what does not exist yet.
    new CgroupfsCgroup(dir, placement, host.pid, made).remove();
    throw e;
  }
  return new CgroupfsCgroup(dir, placement, host.pid);
}

/** Creates the container's cgroup with its limits, or throws a NookError (exit 125) saying why it can't and how to fix it. */
export function createCgroup(limits: ResourceLimits, opts: { manager?: 'cgroupfs' | 'systemd'; name: string }): ContainerCgroup {
  if (opts.manager === 'systemd')
    throw new NookError('--cgroup-manager systemd is not supported yet', {
      hint:
        'use --cgroup-manager cgroupfs (the default), which writes the cgroup files itself in a cgroup systemd delegated to you; ' +
        'start nook with `systemd-run --user --scope -p Delegate=yes nook run ...` when your shell\'s cgroup is not delegated',
    });
  return createCgroupOn(limits, opts.name, hostNow());
}
