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
  async create(opts: { name?: string; labels?: Record<string, string>; anonymous?: boolean; hold?: boolean }): Promise<{ volume: VolumeRecord; created: boolean }> {
    const name = opts.name ?? randomHex(32);
    checkVolumeName(name);
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
      const volume: VolumeRecord = { Name: name, CreatedAt: new Date().toISOString(), Labels: opts.labels ?? {}, Options: {}, anonymous: Boolean(opts.anonymous) };
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
