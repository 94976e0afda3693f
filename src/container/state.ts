/**
 * Containers' state on disk, with no daemon: every nook command is a
 * short-lived process that reads and writes this directory.
 *
 *   $XDG_RUNTIME_DIR/nook/          (else a private /tmp/nook-UID/run)
 *     lock                          held while names are given or taken
 *     names/NAME                    holds the id; created O_EXCL, so a name is unique
 *     containers/ID/
 *       config.json                 what to run (written once, at create)
 *       state.json                  status, pid, times, exit code (replaced atomically)
 *       lock                        flock held by whoever keeps the container alive
 *       exitcode                    created empty; written in place at each exit
 *       container.log[.N]           its output (a detached container's, or a kept foreground run's)
 *       attach.sock                 (made with -i, not -t) its supervisor takes the container's stdin here, 0600
 *
 * The container's lock is the truth about "running": the supervisor (or the
 * foreground nook) holds it, and the kernel drops it when that process dies,
 * even by SIGKILL. So `ps` can never show a dead container as running.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { readJson, writeFileAtomic } from '../util/atomic';
import { ensurePrivateDir, runtimeDirProblem } from '../util/dirs';
import { FileLock, withLock } from '../util/lock';
import type { PublishedPort } from '../sandbox/spec';


/** docker's "No such container: REF" (rm -f and stop --ignore let it pass). */
export class NoSuchContainer extends NookError {
  constructor(ref: string) {
    super(`No such container: ${ref}`, { hint: 'see `nook ps -a` for the containers that exist' });
  }
}

export type RestartPolicy =
  | { name: 'no' }
  | { name: 'on-failure'; maxRetries: number /* 0: no limit */ }
  /** docker's: restarted after any exit but one `nook stop`/`kill`/`rm -f` asked for (nook has no daemon to restart them at boot, so the two are alike). */
  | { name: 'always' }
  | { name: 'unless-stopped' };

export interface LogOptions {
  maxSize: number;
  maxFiles: number;
  /** --log-driver none: no log file is kept (`nook logs` says so). */
  none?: boolean;
  /** --log-driver as given (k8s-file and json-file keep the same log), shown by inspect. */
  driver?: string;
}

/** What to run, fixed at create time. */
export interface ContainerConfig {
  id: string;
  name: string;
  /** The image as the user named it, or the --rootfs directory. */
  image: string;
  command: string[];
  created: string;
  detached: boolean;
  autoRemove: boolean;
  restart: RestartPolicy;
  stopSignal: number;
  /** --stop-timeout: seconds `nook stop` waits before SIGKILL when not told (docker's default 10). */
  stopTimeout?: number;
  /** podman's --timeout of a detached container: its supervisor SIGKILLs it this many seconds after each start. */
  timeout?: number;
  /** --label/--label-file, over the image's labels (inspect's Config.Labels, ps's {{.Labels}}). */
  labels?: Record<string, string>;
  log: LogOptions;
  /** docker's StdinOnce: created with -i by `create` or a foreground run (not `run -d`), an attached client's EOF closes its stdin. */
  stdinOnce?: boolean;
  /** The image store's container directory (writable layer), when run from an image. */
  rootDir?: string;
  storeRoot?: string;
  /** The container record (spec-codec.ts): a version, the sandbox as encodeSpec serialises it, and a place for the request. */
  spec: unknown;
}

export type Status = 'created' | 'running' | 'exited';

/** What a container killed by --timeout records as its exit code (podman's); `nook run` then exits 255. */
export const TIMED_OUT_CODE = -1;

/** What changes as the container runs. */
export interface ContainerState {
  status: Status;
  /** Host pid of the container's init, and its start time (/proc/PID/stat field 22) against pid reuse. */
  pid?: number;
  pidStart?: number;
  /** The published ports as bound while it runs (a free port chosen for each -p CPORT). */
  ports?: PublishedPort[];
  /** The supervisor's pid (detached containers). */
  supervisorPid?: number;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled?: boolean;
  restartCount: number;
  /** The cgroup the container runs in, when limits were asked for. */
  cgroup?: string;
  /** A signal that `nook stop` turned into SIGKILL (init had no handler): the exit code is 128 + it. */
  stopSignalSent?: number;
  /** `nook stop`, `kill` or `rm -f` asked for the exit: no restart follows. */
  stopRequested?: boolean;
  /** Set while a restart is pending or in progress. */
  restarting?: boolean;
  /** Why the container is not running although it was, when nook had to find out itself. */
  note?: string;
}

function uid(): number {
  return process.getuid!();
}

/** The state directory: $XDG_RUNTIME_DIR/nook when usable, else a private one under /tmp. */
export function stateRoot(): string {
  const env = process.env;
  if (env.NOOK_STATE_DIR) return path.resolve(env.NOOK_STATE_DIR);
  if (env.XDG_RUNTIME_DIR && runtimeDirProblem() === null) return path.join(env.XDG_RUNTIME_DIR, 'nook');
  return path.join('/tmp', `nook-${uid()}`, 'run');
}

const ID_RE = /^[0-9a-f]{64}$/;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function checkName(name: string): void {
  if (!NAME_RE.test(name) || name.length > 128)
    throw new NookError(`invalid container name "${name}"`, {
      hint: 'names start with a letter or digit and contain only letters, digits, _ . and - (at most 128 characters)',
    });
}

export class ContainerDir {
  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly store: ContainerStore,
  ) {}

  p(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  config(): ContainerConfig {
    const c = readJson<ContainerConfig | null>(this.p('config.json'), null);
    if (!c) throw new NookError(`container ${this.id.slice(0, 12)} has no configuration (it is being created or removed)`);
    return c;
  }

  state(): ContainerState {
    return readJson<ContainerState>(this.p('state.json'), { status: 'created', restartCount: 0 });
  }

  writeState(s: ContainerState): void {
    writeFileAtomic(this.p('state.json'), JSON.stringify(s), 0o600);
  }

  /**
   * Reads, changes and writes state.json holding the store's lock, so that
   * two writers (a `nook stop` and the container's keeper) never lose each
   * other's fields. A container removed meanwhile is not brought back.
   */
  updateState(change: (s: ContainerState) => ContainerState): Promise<ContainerState> {
    return this.store.locked(() => {
      if (!fs.existsSync(this.p('config.json')))
        throw new NookError(`container ${this.id.slice(0, 12)} was removed`, { hint: 'see the containers that exist with: nook ps -a' });
      const next = change(this.state());
      this.writeState(next);
      return next;
    });
  }

  /** Whether someone (supervisor, foreground nook, an exit handler) holds the container's lock. */
  isHeld(): boolean {
    let lock: FileLock | undefined;
    try {
      lock = FileLock.tryAcquire(this.p('lock'), 'shared', { createDir: false });
    } catch {
      return false;
    }
    if (!lock) return true;
    lock.release();
    return false;
  }

  /** The last exit recorded in place by the exit handler: [code, finishedAt]. */
  lastExit(): { code: number; finishedAt: string } | undefined {
    let text = '';
    try {
      text = fs.readFileSync(this.p('exitcode'), 'utf8');
    } catch {
      return undefined;
    }
    return parseExitRecord(text);
  }
}

export function parseExitRecord(text: string): { code: number; finishedAt: string } | undefined {
  const m = /^(-?\d+) (\S+)/.exec(text);
  return m ? { code: Number(m[1]), finishedAt: m[2] } : undefined;
}

/** Writes the exit record in place (same inode), so a `nook wait` that opened it first still reads it after removal. */
export function writeExitRecord(file: string, code: number, finishedAt: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o600);
  try {
    const data = Buffer.from(`${code} ${finishedAt}\n`);
    fs.writeSync(fd, data, 0, data.length, 0);
    fs.ftruncateSync(fd, data.length);
  } finally {
    fs.closeSync(fd);
  }
}

export class ContainerStore {
  constructor(readonly root: string) {}

  static open(): ContainerStore {
    const root = stateRoot();
    const parent = path.dirname(root);
    const problem = (parent.startsWith('/tmp/nook-') ? ensurePrivateDir(parent) : null) ?? ensurePrivateDir(root);
    if (problem)
      throw new NookError(`no usable state directory for containers: ${problem}`, {
        hint: 'set XDG_RUNTIME_DIR to a private directory of yours (or NOOK_STATE_DIR)',
      });
    return new ContainerStore(root);
  }

  p(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  /** Runs `fn` holding the store's lock: names and container directories appear and vanish only under it. */
  locked<T>(fn: () => T | Promise<T>): Promise<T> {
    return withLock(this.p('lock'), fn);
  }

  dir(id: string): ContainerDir {
    return new ContainerDir(id, this.p('containers', id), this);
  }

  ids(): string[] {
    try {
      return fs.readdirSync(this.p('containers')).filter((f) => ID_RE.test(f));
    } catch {
      return [];
    }
  }

  /** The id a name is given to, if any. */
  nameOwner(name: string): string | undefined {
    try {
      return fs.readFileSync(this.p('names', name), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** Gives `name` to `id`; call under the lock. Fails when the name is taken by a container that exists. */
  claimName(name: string, id: string): void {
    fs.mkdirSync(this.p('names'), { recursive: true, mode: 0o700 });
    const file = this.p('names', name);
    const owner = this.nameOwner(name);
    if (owner && fs.existsSync(this.dir(owner).p('config.json')))
      throw new NookError(`the container name "${name}" is already in use by container ${owner.slice(0, 12)}`, {
        hint: `remove that container (nook rm -f ${name}) or choose another name`,
      });
    writeFileAtomic(file, id, 0o600);
  }

  releaseName(name: string, id: string): void {
    if (this.nameOwner(name) === id) fs.rmSync(this.p('names', name), { force: true });
  }

  /**
   * A container by name, full id or unique id prefix, as docker resolves
   * them. Throws a NookError naming the problem otherwise.
   */
  resolve(ref: string): ContainerDir {
    const byName = this.nameOwner(ref);
    if (byName && fs.existsSync(this.dir(byName).p('config.json'))) return this.dir(byName);
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = this.ids().filter((id) => id.startsWith(ref) && fs.existsSync(this.dir(id).p('config.json')));
      if (matches.length === 1) return this.dir(matches[0]);
      if (matches.length > 1)
        throw new NookError(`container id prefix "${ref}" is ambiguous: it matches ${matches.length} containers`, {
          hint: 'give more digits of the id, or the name',
        });
    }
    // docker's wording, which scripts match on.
    throw new NoSuchContainer(ref);
  }

  /**
   * Creates the container's directory and claims its name, under the store's
   * lock, and returns it with the container's own lock held: taken before
   * config.json exists, so that no prune or rm can see the container
   * unlocked, and remove it, before its creator starts it.
   */
  async create(config: ContainerConfig): Promise<{ dir: ContainerDir; lock: FileLock }> {
    return this.locked(() => {
      this.claimName(config.name, config.id);
      const d = this.dir(config.id);
      fs.mkdirSync(d.dir, { recursive: true, mode: 0o700 });
      const lock = FileLock.tryAcquire(d.p('lock'), 'exclusive', { createDir: false });
      if (!lock) throw new NookError(`container ${config.id.slice(0, 12)} exists already`, { hint: 'choose another id' });
      try {
        fs.writeFileSync(d.p('exitcode'), '', { mode: 0o600 });
        d.writeState({ status: 'created', restartCount: 0 });
        writeFileAtomic(d.p('config.json'), JSON.stringify(config), 0o600);
      } catch (e) {
        lock.release();
        throw e;
      }
      return { dir: d, lock };
    });
  }

  /**
   * Gives the container `name` instead of its own, under the store's lock:
   * the new name is claimed first (failing when another container has it),
   * then the record says it, then the old name is freed.
   */
  async rename(d: ContainerDir, name: string): Promise<void> {
    checkName(name);
    await this.locked(() => {
      const config = d.config();
      if (config.name === name) throw new NookError(`Renaming a container with the same name as its current name`, { exitCode: 1 });
      this.claimName(name, d.id);
      writeFileAtomic(d.p('config.json'), JSON.stringify({ ...config, name }), 0o600);
      this.releaseName(config.name, d.id);
    });
  }

  /** Deletes the container's state and frees its name (under the lock). */
  async delete(d: ContainerDir, name: string): Promise<void> {
    await this.locked(() => {
      // config.json first: from then on the container no longer exists for anyone resolving it.
      fs.rmSync(d.p('config.json'), { force: true });
      this.releaseName(name, d.id);
      fs.rmSync(d.dir, { recursive: true, force: true });
    });
  }
}
