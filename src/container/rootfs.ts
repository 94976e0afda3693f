/**
 * A container's root filesystem from an image: a directory of its own in
 * the store (containers/<id>/) with the writable layer (upper), overlayfs's
 * work directory and the mount point; the image's layers below, read-only
 * and shared. The directory's lock is held for the container's life: it
 * tells garbage collection which layers are in use (so `rmi` of a running
 * container's image leaves its layers alone) and which directories are
 * leftovers of a nook that was killed.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { ImageStore, type ImageRecord } from '../image/store/store';
import type { OverlayRoot } from '../sandbox/spec';
import { FileLock } from '../util/lock';
import { LowerTree } from '../image/layer/lower-tree';
import { randomHex } from '../util/random';

/** 'overlay': the kernel's overlayfs in the user namespace; 'copy': a private copy of the layers. */
export type RootMode = 'overlay' | 'copy';

export class ContainerRoot {
  private constructor(
    readonly id: string,
    readonly dir: string,
    /** Set in 'overlay' mode; in 'copy' mode the root is the plain directory `rootfs`. */
    readonly overlay: OverlayRoot | undefined,
    private lock: FileLock,
  ) {}

  /** Where the container's generated /etc/resolv.conf, hosts and hostname live (removed with it). */
  get hostFilesDir(): string {
    return path.join(this.dir, 'etc');
  }

  /** The directory that becomes / (the overlay's mount point, or the copy). */
  get rootfs(): string {
    return path.join(this.dir, this.overlay ? 'merged' : 'rootfs');
  }

  static async create(store: ImageStore, image: ImageRecord, name: string, mode: RootMode = 'overlay'): Promise<ContainerRoot> {
    const id = randomHex(32);
    const dir = store.p('containers', id);
    // Shared store lock until our own lock is held: garbage collection can't take the layers meanwhile.
    const storeLock = await store.lockShared();
    try {
      const diffIds = [...new Set(image.layers.map((l) => l.diffId))];
      const missing = diffIds.filter((d) => !store.hasLayer(d));
      if (missing.length)
        throw new NookError(`the image ${name} is incomplete in the store: layer ${missing[0]} is missing`, {
          hint: `pull it again: nook pull ${name}`,
        });
      fs.mkdirSync(store.p('containers'), { recursive: true });
      fs.mkdirSync(dir, { mode: 0o755 });
      for (const sub of mode === 'overlay' ? ['upper', 'work', 'merged'] : ['rootfs']) fs.mkdirSync(path.join(dir, sub), { mode: 0o755 });
      const lock = FileLock.tryAcquire(path.join(dir, 'lock'))!;
      fs.writeFileSync(path.join(dir, 'layers.json'), JSON.stringify(diffIds));
      if (mode === 'copy') {
        const helper = await storeHelper();
        try {
          await helper.assemble(image.layers.map((l) => store.layerDir(l.diffId)), path.join(dir, 'rootfs'));
        } catch (e) {
          lock.release();
          await removeTree(dir);
          throw e;
        } finally {
          await helper.close();
        }
        return new ContainerRoot(id, dir, undefined, lock);
      }
      // Topmost first, as overlayfs's lowerdir wants; the store keeps them bottom first.
      const top = [...image.layers].reverse();
      const overlay: OverlayRoot = {
        linkDir: store.p('l'),
        lowers: top.map((l) => ImageStore.layerLinkName(l.diffId)),
        lowerDirs: top.map((l) => store.layerDir(l.diffId)),
        upper: path.join(dir, 'upper'),
        work: path.join(dir, 'work'),
      };
      return new ContainerRoot(id, dir, overlay, lock);
    } finally {
      storeLock.release();
    }
  }

  /**
   * Deletes the container's directory. Files the container created as root
   * are the user's own and go at once; anything owned by other ids inside
   * needs the store helper in the user namespace.
   */
  async remove(): Promise<void> {
    await removeTree(this.dir);
    this.lock.release();
  }

  /**
   * Keeps the directory after this process lets go of it (a named or
   * detached container): garbage collection leaves a kept directory alone
   * while the container's state (under `stateDir`) exists.
   */
  keep(stateDir: string): void {
    fs.writeFileSync(path.join(this.dir, KEPT_FILE), stateDir);
  }

  release(): void {
    this.lock.release();
  }

  /**
   * As podman: when the image has an /etc but no /etc/mtab, a symlink
   * /etc/mtab -> /proc/mounts (which mount, df and older tools read), made in
   * the container's own layer, never in the image's. Best effort: an image
   * nook cannot read this way goes without.
   */
  addMtab(): void {
    const absent = (p: string) => !fs.lstatSync(p, { throwIfNoEntry: false });
    try {
      if (!this.overlay) {
        const etc = path.join(this.rootfs, 'etc');
        if (fs.lstatSync(etc, { throwIfNoEntry: false })?.isDirectory() && absent(path.join(etc, 'mtab'))) fs.symlinkSync('/proc/mounts', path.join(etc, 'mtab'));
        return;
      }
      const tree = new LowerTree([...this.overlay.lowerDirs].reverse());
      const etc = tree.lookup('etc');
      if (!etc?.stat.isDirectory() || tree.lookup('etc/mtab')) return;
      const upperEtc = path.join(this.overlay.upper, 'etc');
      if (absent(upperEtc)) {
        fs.mkdirSync(upperEtc);
        fs.chmodSync(upperEtc, Number(etc.stat.mode) & 0o7777);
      }
      fs.symlinkSync('/proc/mounts', path.join(upperEtc, 'mtab'));
    } catch {
      /* an unreadable layer, or an /etc nook may not write to */
    }
  }
}

/** In a kept container directory: the path of the container's state directory. */
export const KEPT_FILE = 'kept';

/** Deletes a kept container directory once its container is removed. */
export async function removeContainerRootDir(dir: string): Promise<void> {
  await removeTree(dir);
}

async function removeTree(dir: string): Promise<void> {
  try {
    removeOwnTree(dir);
  } catch {
    const helper = await storeHelper();
    try {
      await helper.remove([dir]);
    } finally {
      await helper.close();
    }
  }
}

/** rm -rf that also enters the directory overlayfs leaves without permissions (work/work is mode 000). */
function removeOwnTree(dir: string): void {
  try {
    fs.chmodSync(path.join(dir, 'work', 'work'), 0o700);
  } catch {
    /* not there: copy mode, or overlayfs never got that far */
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The store helper, loaded only when needed: `run` of an image on overlayfs never is, and it costs start-up time. */
async function storeHelper() {
  const { StoreHelper } = await import('../image/store/helper-client');
  return new StoreHelper();
}
