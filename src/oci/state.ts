/**
 * Where `nook oci` keeps its containers: ROOT/ID/state.json (what `create`
 * decided, written once it succeeded) and ROOT/ID/exec.fifo (the start
 * barrier, removed by `start`). A container's status is derived, never
 * stored: its init's pid plus that process's start time says whether it
 * still runs (as crun's status does), and the FIFO's presence whether it has
 * been started. Nothing of nook runs between the commands.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { processStartTime } from '../util/proc-stat';
import type { OciConfig } from './config';
import { isFrozen, type OciCgroupRecord } from './cgroups';

export type OciStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** What `create` records (runc's state fields plus what later commands need). */
export interface OciContainerRecord {
  ociVersion: string;
  id: string;
  pid: number;
  /** The init's start time (/proc/PID/stat field 22), against a reused pid. */
  pidStart: number;
  bundle: string;
  rootfs: string;
  /** RFC 3339, as runc prints it. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** The config as `create` read it: hooks for start and delete, the process defaults for exec. */
  config: OciConfig;
  /** Whether the container has a pid namespace of its own (then SIGKILL to init ends every process in it). */
  ownPidNamespace: boolean;
  /** The cgroup nook made for it (cgroups.ts), removed with it. */
  cgroup?: OciCgroupRecord;
}

/** runc's container ids: letters, digits, and _ + - . (no path separators, no leading dot tricks). */
const ID_PATTERN = /^[\w+\-.]+$/;

export function checkContainerId(id: string | undefined): string {
  if (!id) throw new NookError('a container id is needed', { hint: 'e.g. nook oci create --bundle DIR mycontainer' });
  if (!ID_PATTERN.test(id) || id === '.' || id === '..')
    throw new NookError(`invalid container id "${id}"`, { hint: 'ids may hold letters, digits, and _ + - . only' });
  return id;
}

/** --root's default: $XDG_RUNTIME_DIR/nook-oci, /run/nook-oci for root (runc's /run/runc). */
export function defaultStateRoot(): string {
  const uid = process.getuid!();
  if (uid === 0 && !process.env.XDG_RUNTIME_DIR) return '/run/nook-oci';
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'nook-oci');
  return `/tmp/nook-oci-${uid}`;
}

export const notExist = (id: string) =>
  new NookError(`container "${id}" does not exist`, { hint: 'list the containers with `nook oci list` (and check --root)', exitCode: 1 });

export class OciStateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return path.join(this.root, checkContainerId(id));
  }

  fifoPath(id: string): string {
    return path.join(this.dir(id), 'exec.fifo');
  }

  /**
   * The state directory must be this user's and writable by nobody else: state.json names the
   * pids `kill` signals and the hooks `delete` runs, so a directory someone else could write to
   * (a /tmp path made in advance by another user) would hand them this user's rights.
   */
  private checkRoot(): void {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.root);
    } catch {
      return; // not there yet: reserve() makes it
    }
    const uid = process.geteuid!();
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
      throw new NookError(`the state directory ${this.root} is not safe to use: it must be a directory of uid ${uid} that nobody else can write to`, {
        hint: `remove it or fix its owner and mode (chmod go-w), or choose another with --root`,
        exitCode: 1,
      });
  }

  /** Reserves ID: its directory, made exclusively (a second create of the same id fails here). */
  reserve(id: string): string {
    const dir = this.dir(id);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.checkRoot();
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new NookError(`container with id "${id}" already exists`, { hint: `delete it first: nook oci delete --force ${id}`, exitCode: 1 });
      throw new NookError(`cannot create the state directory ${dir}: ${(e as NodeJS.ErrnoException).code}`, { hint: 'choose a writable --root', exitCode: 1 });
    }
    return dir;
  }

  /** Written once, whole (a temporary file renamed into place): a reader never sees half a record. */
  write(rec: OciContainerRecord): void {
    const file = path.join(this.dir(rec.id), 'state.json');
    const tmp = `${file}.tmp`;
    // The config may carry secrets in its environment: for this user's eyes only.
    fs.writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  read(id: string): OciContainerRecord {
    this.checkRoot();
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir(id), 'state.json'), 'utf8');
    } catch {
      throw notExist(id);
    }
    return JSON.parse(text) as OciContainerRecord;
  }

  /** The ids with a state directory, in name order. */
  ids(): string[] {
    this.checkRoot();
    try {
      return fs.readdirSync(this.root).filter((n) => ID_PATTERN.test(n)).sort();
    } catch {
      return [];
    }
  }

  remove(id: string): void {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }
}

/** Whether /proc/PID/stat shows a zombie (an init that ended, not yet reaped by its parent). */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

/** Whether the container's init is the process `create` started and still runs. */
export function initAlive(rec: OciContainerRecord): boolean {
  return processStartTime(rec.pid) === rec.pidStart && !isZombie(rec.pid);
}

function frozen(rec: OciContainerRecord): boolean {
  if (!rec.cgroup) return false;
  return isFrozen(rec.cgroup);
}

export function containerStatus(store: OciStateStore, rec: OciContainerRecord): OciStatus {
  if (!initAlive(rec)) return 'stopped';
  if (fs.existsSync(store.fifoPath(rec.id))) return 'created';
  return frozen(rec) ? 'paused' : 'running';
}

/** runc's `state` JSON. */
export function stateJson(store: OciStateStore, rec: OciContainerRecord) {
  const status = containerStatus(store, rec);
  return {
    ociVersion: rec.ociVersion,
    id: rec.id,
    pid: status === 'stopped' ? 0 : rec.pid,
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: rec.owner,
    ...(Object.keys(rec.annotations).length ? { annotations: rec.annotations } : {}),
  };
}

/** The state hooks get on stdin (runtime.md's state), as of `status`. */
export function hookState(rec: Pick<OciContainerRecord, 'ociVersion' | 'id' | 'bundle' | 'annotations'>, status: OciStatus, pid: number) {
  return { ociVersion: rec.ociVersion, id: rec.id, status, ...(pid ? { pid } : {}), bundle: rec.bundle, annotations: rec.annotations };
}
