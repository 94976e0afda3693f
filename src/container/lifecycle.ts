/**
 * A container's life without a daemon: created (state directory, name, the
 * writable layer kept), started under a supervisor, exited (recorded by
 * `nook __exited`, which the supervisor execs, holding the container's lock
 * in turn), restarted by policy, removed.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { createCgroup, releaseCgroupDir } from '../sandbox/cgroups';
import { hostIdentity, type HostIdentity } from '../sandbox/idmap';
import { exitCodeFromWaitStatus } from '../sandbox/signals';
import type { SandboxSpec } from '../sandbox/spec';
import { FileLock } from '../util/lock';
import { randomHex } from '../util/random';
import { randomName } from './names';
import { removeContainerRootDir } from './rootfs';
import { composeSpec } from './compose';
import { decodeSpec, storedRequest } from './spec-codec';
import { listContainers } from './status';
import { ContainerStore, TIMED_OUT_CODE, writeExitRecord, type ContainerConfig, type ContainerDir, type ContainerState } from './state';
import { startSupervised } from './supervisor';
import { processStartTime } from '../util/proc-stat';

export type NewContainer = Omit<ContainerConfig, 'id' | 'name' | 'created'> & {
  id?: string;
  name?: string;
  /** A name drawn for it (not the user's): another is drawn should it be taken meanwhile. */
  drawnName?: string;
};

/**
 * Creates the container's state (status "created") and returns it with its
 * lock held: until the caller starts it or lets go, nothing else may start
 * or remove it.
 */
/** A generated name that no container has now, for a container that needs its name before it is created. */
export function freeName(store: ContainerStore): string {
  for (let i = 0; i < 20; i++) {
    const name = randomName();
    if (!store.nameOwner(name)) return name;
  }
  return randomName();
}

export async function createContainer(store: ContainerStore, c: NewContainer): Promise<{ dir: ContainerDir; config: ContainerConfig; lock: FileLock }> {
  const id = c.id ?? randomHex(32);
  const created = new Date().toISOString();
  for (let attempt = 0; ; attempt++) {
    const name = c.name ?? (attempt === 0 && c.drawnName ? c.drawnName : randomName());
    const { drawnName: _drawn, ...rest } = c;
    const config: ContainerConfig = { ...rest, id, name, created };
    try {
      const { dir, lock } = await store.create(config);
      return { dir, config, lock };
    } catch (e) {
      // A generated name that happens to be taken: draw another.
      if (c.name !== undefined || attempt > 20 || !(e instanceof NookError)) throw e;
    }
  }
}

const now = () => new Date().toISOString();

/**
 * What a detached container runs with: stdin /dev/null, or with -i (not -t) a pipe its supervisor holds
 * for `attach` and `start -i`; with -t a pty size of its own, since nothing resizes it later (the user's
 * terminal's at create, else 24x80).
 */
export function asDetached(spec: SandboxSpec): SandboxSpec {
  return { ...spec, interactive: spec.interactive && !spec.tty, ttySize: spec.tty ? (spec.ttySize ?? { rows: 24, cols: 80 }) : undefined };
}

/**
 * The spec a (re)start runs: composed again from the stored request on the host as it is now (its id
 * map, the container's users, the seccomp filter for this kernel), keeping the hostname and pty size it
 * was created with; a record without a request runs its spec as created.
 */
function specForStart(record: unknown, what: string, host: HostIdentity): SandboxSpec {
  const created = decodeSpec(record, what);
  const stored = storedRequest(record);
  if (!stored) return asDetached(created);
  const spec = composeSpec({ ...stored.request, hostname: created.hostname }, host, stored.root);
  return asDetached({ ...spec, ttySize: created.ttySize });
}

/**
 * Starts a created or exited container under a new supervisor; `lockFd` is
 * the container's lock, held by the caller. On failure the container is
 * recorded as exited with nook's exit code for it (125, 126, 127).
 */
export async function startDetached(
  store: ContainerStore,
  dir: ContainerDir,
  lockFd: number,
  host: HostIdentity = hostIdentity(),
  composed?: SandboxSpec,
): Promise<ContainerState> {
  const config = dir.config();
  const spec = composed ?? specForStart(config.spec, `container ${config.name}`, host);
  // A start (not the run that made it): podman's :U chowns again what was chowned away meanwhile.
  const req = composed ? undefined : storedRequest(config.spec)?.request;
  if (req && (req.mounts.chownBinds?.length || req.mounts.volumes?.some((v) => v.chown))) await (await import('./volume-attach')).rechownForStart(req, spec, host);
  const cgroup = spec.resources ? createCgroup(spec.resources, { manager: spec.cgroupManager, name: dir.id.slice(0, 12) }) : undefined;
  let started;
  try {
    started = await startSupervised({ dir, spec, host, lockFd, cgroup, log: config.log, stdinOnce: config.stdinOnce, timeout: config.timeout });
  } catch (e) {
    cgroup?.remove();
    const code = e instanceof NookError ? e.exitCode : 125;
    writeExitRecord(dir.p('exitcode'), code, now());
    await dir.updateState((s) => ({ ...s, status: 'exited', exitCode: code, finishedAt: now(), pid: undefined, restarting: false }));
    throw e;
  }
  return dir.updateState((s) => ({
      ...s,
      status: 'running',
      pid: started.pid,
      pidStart: processStartTime(started.pid),
      supervisorPid: started.supervisorPid,
      ports: started.ports,
      startedAt: now(),
      finishedAt: undefined,
      exitCode: undefined,
      oomKilled: false,
      cgroup: cgroup?.path,
      stopSignalSent: undefined,
      stopRequested: false,
    restarting: false,
  }));
}

/** docker's restart delay: 100 ms, doubled after each restart, at most a minute. */
function restartDelayMs(restarts: number): number {
  return Math.min(100 * 2 ** restarts, 60_000);
}

function shouldRestart(config: ContainerConfig, state: ContainerState, code: number): boolean {
  const p = config.restart;
  if (p.name === 'no' || state.stopRequested) return false;
  if (p.name === 'always' || p.name === 'unless-stopped') return true;
  if (code === 0) return false;
  return p.maxRetries === 0 || state.restartCount < p.maxRetries;
}

/**
 * `nook __exited ID STATUS [timedout]`: exec'd by the supervisor once the container
 * has exited, with the container's lock on fd 10 ("timedout": its --timeout killed it). Records the exit, then
 * restarts or removes the container as its policy says.
 */
export async function containerExited(id: string, rawStatus: number, lockFd: number, timedOut = false): Promise<number> {
  const store = ContainerStore.open();
  const dir = store.dir(id);
  const config = dir.config();
  let state = dir.state();
  let code = exitCodeFromWaitStatus(rawStatus, state.stopSignalSent ?? null);
  const oom = state.cgroup ? releaseCgroupDir(state.cgroup).oomKilled : false;
  // An OOM kill of the container's init is docker's 137, whatever signal relaying made of it.
  if (oom && (rawStatus & 0x7f) === 9) code = 137;
  // Its supervisor killed it at its --timeout: podman's -1.
  else if (timedOut) code = TIMED_OUT_CODE;
  writeExitRecord(dir.p('exitcode'), code, now());
  state = await dir.updateState((s) => ({ ...s, status: 'exited', exitCode: code, finishedAt: now(), oomKilled: oom, cgroup: undefined, ports: undefined, restarting: shouldRestart(config, s, code) }));
  if (state.restarting) {
    await new Promise((r) => setTimeout(r, restartDelayMs(state.restartCount)));
    // A `nook stop` or `rm -f` during the delay cancels the restart.
    const latest = dir.state();
    if (!latest.stopRequested) {
      await dir.updateState((s) => ({ ...s, restartCount: s.restartCount + 1 }));
      try {
        await startDetached(store, dir, lockFd);
        return 0;
      } catch (e) {
        process.stderr.write(`nook: restarting container ${config.name}: ${(e as Error).message}\n`);
      }
    } else {
      await dir.updateState((s) => ({ ...s, restarting: false }));
    }
  }
  if (config.autoRemove) await removeContainer(store, dir);
  return 0;
}

/**
 * Removes a container that is not running: its cgroup, writable layer and state. Caller holds (or knows nobody holds) the lock.
 * `volumes` (rm -v; default: the container's --rm): its anonymous volumes too, as docker's.
 */
export async function removeContainer(store: ContainerStore, dir: ContainerDir, opts: { volumes?: boolean } = {}): Promise<void> {
  let config: ContainerConfig;
  try {
    config = dir.config();
  } catch {
    return; // already removed (e.g. by its own --rm)
  }
  const state = dir.state();
  if (state.cgroup && fs.existsSync(state.cgroup)) releaseCgroupDir(state.cgroup);
  if (config.rootDir) await removeContainerRootDir(config.rootDir);
  await store.delete(dir, config.name);
  if (opts.volumes ?? config.autoRemove) {
    const { containerVolumes, removeAnonymousVolumes } = await import('./volumes');
    await removeAnonymousVolumes(containerVolumes(config.spec));
  }
}

/**
 * Removes every container that is not running (nor being created, started
 * or removed right now), and what a nook killed midway through create or rm
 * left behind. Returns the removed containers' ids.
 */
export async function pruneContainers(store: ContainerStore): Promise<string[]> {
  const removed: string[] = [];
  for (const l of listContainers(store)) {
    let lock: FileLock | undefined;
    try {
      lock = FileLock.tryAcquire(l.dir.p('lock'), 'exclusive', { createDir: false });
    } catch {
      continue; // its directory is gone: removed meanwhile
    }
    if (!lock) continue; // running (or being created, started or removed)
    try {
      // Removed by someone else since it was listed: nothing to do (and no empty directory left behind).
      if (!fs.existsSync(l.dir.p('config.json'))) continue;
      await removeContainer(store, l.dir);
      removed.push(l.config.id);
    } finally {
      lock.release();
    }
  }
  // Directories without a config are what a nook killed midway through create or rm left behind.
  // Under the store's lock: a container being created has no config.json yet, but holds its lock from the start.
  await store.locked(() => {
    for (const id of store.ids()) {
      const dir = store.dir(id);
      if (!fs.existsSync(dir.p('config.json')) && !dir.isHeld()) fs.rmSync(dir.dir, { recursive: true, force: true });
    }
  });
  return removed;
}
