/**
 * Volumes with docker's local driver: a directory per volume under the image
 * store's root, `volumes/NAME/_data` (the data, mounted into containers) and
 * `volumes/NAME/volume.json` (its record). Changes to the set of volumes
 * (create, remove) are made under `volumes/.lock`, as the image store makes
 * changes to its refs under its lock.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { MS } from '../../ffi/linux';
import { storeRoot } from '../image/store/store';
import { FileLock, withLock } from '../util/lock';
import { randomHex } from '../util/random';
import { storedRequest } from './spec-codec';
import { ContainerStore } from './state';
import { listContainers } from './status';
import type { VolumeMount } from './request';

export interface VolumeRecord {
  Name: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  /** Made for a container's -v /path or its image's VOLUME: `volume prune` (without -a) removes these. */
  anonymous: boolean;
}

/** docker's rule for volume names. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkVolumeName(name: string): void {
  if (!NAME_RE.test(name))
    throw new NookError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`, {
      exitCode: 1,
      hint: 'a volume name is at least two characters; pass a host directory with a / in it (e.g. ./dir) to bind mount it',
    });
}

/**
 * Volumes this process mounts (a run, from its volumes' attachment until it
 * ends): a shared lock on each one's `.inuse`, which `remove` must take
 * exclusively. That covers runs with no container record (`nook run IMAGE`)
 * and the moment before a record is written; recorded containers are found
 * by their records.
 */
const held = new Map<string, FileLock>();

export class VolumeStore {
  constructor(readonly root: string) {}

  static open(): VolumeStore {
    const root = path.join(storeRoot(), 'volumes');
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    return new VolumeStore(root);
  }

  dir(name: string): string {
    return path.join(this.root, name);
  }

  dataDir(name: string): string {
    return path.join(this.root, name, '_data');
  }

  locked<T>(fn: () => T | Promise<T>): Promise<T> {
    return withLock(path.join(this.root, '.lock'), fn);
  }

  get(name: string): VolumeRecord | undefined {
    if (!NAME_RE.test(name)) return undefined;
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir(name), 'volume.json'), 'utf8')) as VolumeRecord;
    } catch {
      return undefined;
    }
  }

  /** The volume's record, or docker's "no such volume" (exit 1 from the CLI). */
  need(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new NookError(`get ${name}: no such volume`, { exitCode: 1, hint: 'see nook volume ls' });
    return v;
  }

  list(): VolumeRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    return names
      .map((n) => this.get(n))
      .filter((v): v is VolumeRecord => v !== undefined)
      .sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /**
   * Makes the volume; `created` false when it existed already (then the
   * caller's labels are not applied, as docker's). A new volume's _data is
   * 0755, owned by the user running nook (root in the container).
   */
  async create(opts: { name?: string; labels?: Record<string, string>; options?: Record<string, string>; anonymous?: boolean; hold?: boolean }): Promise<{ volume: VolumeRecord; created: boolean }> {
    const name = opts.name ?? randomHex(32);
    checkVolumeName(name);
    const options = opts.options ?? {};
    volumeMountOf(options, name); // the options' errors before anything is made
    return this.locked(() => {
      const hold = () => {
        if (opts.hold && !held.has(name)) held.set(name, FileLock.tryAcquire(path.join(this.dir(name), '.inuse'), 'shared', { createDir: false })!);
      };
      const existing = this.get(name);
      if (existing) {
        hold();
        return { volume: existing, created: false };
      }
      const dir = this.dir(name);
      fs.rmSync(dir, { recursive: true, force: true }); // what a nook killed midway left
      fs.mkdirSync(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
      fs.chmodSync(path.join(dir, '_data'), 0o755);
      const volume: VolumeRecord = { Name: name, CreatedAt: new Date().toISOString(), Labels: opts.labels ?? {}, Options: options, anonymous: Boolean(opts.anonymous) };
      const tmp = path.join(dir, `.volume.json.${process.pid}`);
      fs.writeFileSync(tmp, JSON.stringify(volume));
      fs.renameSync(tmp, path.join(dir, 'volume.json'));
      hold();
      return { volume, created: true };
    });
  }

  /**
   * Removes the volume unless a container uses it (docker's message); its
   * files may belong to the container's users, so the store helper removes
   * what nook cannot.
   */
  async remove(name: string, opts: { ignoreUse?: string } = {}): Promise<void> {
    await this.locked(async () => {
      this.need(name);
      const users = containersUsing(name).filter((id) => id !== opts.ignoreUse);
      if (users.length)
        throw new NookError(`remove ${name}: volume is in use - [${users.join(', ')}]`, { exitCode: 1, hint: 'remove the containers first (nook rm)' });
      const dir = this.dir(name);
      held.get(name)?.release(); // this process's own use ends here
      held.delete(name);
      const probe = FileLock.tryAcquire(path.join(dir, '.inuse'), 'exclusive', { createDir: false });
      if (!probe) throw new NookError(`remove ${name}: volume is in use - [a running nook run]`, { exitCode: 1, hint: 'let that run end first' });
      probe.release();
      // The record first: a half-removed volume is then no volume at all.
      fs.rmSync(path.join(dir, 'volume.json'), { force: true });
      const { removeContainerRootDir } = await import('./rootfs');
      await removeContainerRootDir(dir);
    });
  }
}

/** What the local driver's options make of a volume: its own directory, a host directory (bind) or a tmpfs. */
export type VolumeSource =
  | { kind: 'data'; flags: number; readOnly: boolean }
  | { kind: 'bind'; device: string; flags: number; readOnly: boolean }
  | { kind: 'tmpfs'; data: string; flags: number };

const FLAG_WORDS: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, true], rw: [MS.RDONLY, false],
  noexec: [MS.NOEXEC, true], exec: [MS.NOEXEC, false],
  nosuid: [MS.NOSUID, true], suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true], dev: [MS.NODEV, false],
};
const TMPFS_KEYS = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks']);

/**
 * docker's local driver options (type, device, o) in the subset an
 * unprivileged user can mount: no type (a directory of the store's, o= flags
 * only), type=tmpfs (device any name; o= size, mode, uid, gid, nr_inodes and
 * flags), and a bind of a host directory (docker's type=none with o=bind, or
 * podman's type=bind; device the directory). Errors name the bad option.
 */
export function volumeMountOf(options: Record<string, string>, name: string): VolumeSource {
  const bad = (msg: string, hint?: string) => new NookError(`create ${name || 'volume'}: ${msg}`, { exitCode: 1, hint });
  for (const k of Object.keys(options))
    if (!['type', 'device', 'o'].includes(k)) throw bad(`invalid option key: "${k}"`, 'the local driver takes type, device and o');
  const type = options.type ?? '';
  const words = (options.o ?? '').split(',').filter(Boolean);
  let flags = 0;
  let readOnly = false;
  let bind = type === 'bind';
  const tmpfsData: string[] = [];
  for (const w of words) {
    const i = w.indexOf('=');
    const key = i < 0 ? w : w.slice(0, i);
    if (FLAG_WORDS[key] && i < 0) {
      const [bit, set] = FLAG_WORDS[key];
      if (bit === MS.RDONLY) readOnly = set;
      else flags = set ? flags | bit : flags & ~bit;
    } else if ((key === 'bind' || key === 'rbind') && i < 0 && type !== 'tmpfs') bind = true;
    else if (type === 'tmpfs' && TMPFS_KEYS.has(key) && i > 0) {
      const value = w.slice(i + 1);
      if (!(key === 'mode' ? /^[0-7]{1,4}$/ : key === 'size' ? /^\d+[kmgKMG%]?$/ : /^\d+$/).test(value)) throw bad(`invalid value in o=: ${w}`);
      tmpfsData.push(w);
    } else throw bad(`invalid volume option o=${w}`, type === 'tmpfs' ? 'for a tmpfs: size, mode, uid, gid, nr_inodes, ro, noexec, nosuid, nodev' : 'flags such as ro, noexec, nosuid, nodev (and bind with type=none and device=DIR)');
  }
  if (type === 'tmpfs') {
    return { kind: 'tmpfs', data: tmpfsData.join(','), flags: flags | (readOnly ? MS.RDONLY : 0) };
  }
  if (bind) {
    if (type && type !== 'none' && type !== 'bind') throw bad(`o=bind needs type=none, not type=${type}`);
    if (!options.device) throw bad('a bind volume needs device=DIRECTORY', 'e.g. -o type=none -o o=bind -o device=/srv/data');
    // Absolute: the volume is mounted from wherever a later nook runs.
    if (!options.device.startsWith('/')) throw bad(`invalid volume option device for driver 'local': ${options.device} is not an absolute path`, 'e.g. -o device=/srv/data');
    const device = path.normalize(options.device);
    let st: fs.Stats;
    try {
      st = fs.statSync(device);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
      throw bad(`invalid volume option device for driver 'local': stat ${options.device}: ${why}`);
    }
    if (!st.isDirectory()) throw bad(`invalid volume option device for driver 'local': ${options.device} is not a directory`);
    return { kind: 'bind', device, flags, readOnly };
  }
  if (type || options.device)
    throw bad(`volume type "${type || 'none'}" with device=${options.device ?? ''} is not supported`, 'an unprivileged user can mount type=tmpfs, or a bind of a directory (type=none, o=bind, device=DIR); nfs and block devices need mount privileges');
  return { kind: 'data', flags, readOnly };
}

/** The volumes a container's stored request mounts. */
export function containerVolumes(record: unknown): VolumeMount[] {
  return storedRequest(record)?.request.mounts.volumes ?? [];
}

/** Ids of the containers (any state) whose mounts name the volume. */
export function containersUsing(name: string): string[] {
  let store: ContainerStore;
  try {
    store = ContainerStore.open();
  } catch {
    return [];
  }
  return listContainers(store)
    .filter((c) => containerVolumes(c.config.spec).some((v) => v.name === name))
    .map((c) => c.config.id);
}

/** Removes a container's anonymous volumes (rm -v, --rm); a volume another container uses stays. */
export async function removeAnonymousVolumes(volumes: VolumeMount[], containerId?: string): Promise<void> {
  const anon = volumes.filter((v) => v.anonymous);
  if (!anon.length) return;
  const store = VolumeStore.open();
  for (const v of anon) {
    try {
      if (store.get(v.name)) await store.remove(v.name, { ignoreUse: containerId });
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      process.stderr.write(`nook: keeping volume ${v.name}: ${e.message}\n`);
    }
  }
}
