/**
 * The local image store, under `--root`, $NOOK_ROOT or $XDG_DATA_HOME/nook:
 *
 *   blobs/sha256/<hex>      manifests, configs and compressed layers (content-addressed, verified)
 *   layers/<hex>/           a layer extracted for overlayfs, named by its diff_id
 *   l/<16 hex>              short links to layers/, so that long lowerdir lists fit a mount's option page
 *   images/<hex>.json       one image (named by its config digest, docker's IMAGE ID), written last
 *   refs.json               names ("docker.io/library/debian:12") → image id, and each
 *                           image's names history (podman's NamesHistory)
 *   containers/<id>/        a running container's writable layer, and its lock
 *
 * Everything appears by rename, so readers see whole files and whole layers
 * only. Locks: pulls (and other writers of layers and blobs) hold store.lock
 * shared, garbage collection holds it exclusive; refs.json changes under
 * refs.lock.
 */
import fs = require('node:fs');
import path = require('node:path');
import { libcFs } from '../../../ffi/libc-fs';
import { describeErrno, NookError } from '../../errors';
import { BlobStore } from '../blobs';
import { parseImageConfig, type ImageConfig } from '../config';
import type { Platform } from '../manifest';
import { readJson, writeFileAtomic } from '../../util/atomic';
import { FileLock, withLock } from '../../util/lock';

export interface LayerRecord {
  /** Compressed blob, as in the manifest. */
  digest: string;
  size: number;
  mediaType: string;
  /** Uncompressed content digest, from the config: names the extracted layer. */
  diffId: string;
}

export interface ImageRecord {
  /** Config digest: docker's IMAGE ID. */
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  /** The index the manifest was chosen from, when there was one. */
  indexDigest?: string;
  platform: Platform;
  layers: LayerRecord[];
  /** From the config, when set. */
  created?: string;
  /** When it entered this store. */
  stored: string;
  /** "registry/repo@sha256:..." by which a registry serves it. */
  repoDigests: string[];
}

/** An image's size: its compressed layers, as docker counts for pulled images. */
export function imageSize(r: ImageRecord): number {
  return r.layers.reduce((sum, l) => sum + l.size, 0);
}

interface RefsFile {
  version: 1;
  refs: Record<string, string>;
  /** Image id → the names it has had, its current names first, then older ones, newest first. */
  namesHistory?: Record<string, string[]>;
}

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);

/** The store's directory: --root, then $NOOK_ROOT, then $XDG_DATA_HOME/nook, then ~/.local/share/nook. */
export function storeRoot(flag?: string): string {
  const env = process.env;
  if (flag) return path.resolve(flag);
  if (env.NOOK_ROOT) return path.resolve(env.NOOK_ROOT);
  if (env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME)) return path.join(env.XDG_DATA_HOME, 'nook');
  if (env.HOME && path.isAbsolute(env.HOME) && env.HOME !== '/') return path.join(env.HOME, '.local', 'share', 'nook');
  throw new NookError('no place for the image store: HOME is not set', {
    hint: 'give one with --root DIR or NOOK_ROOT=DIR (a local disk, not NFS)',
  });
}

export class ImageStore {
  private blobStore?: BlobStore;

  constructor(readonly root: string) {}

  get blobs(): BlobStore {
    this.blobStore ??= new BlobStore(this.root);
    return this.blobStore;
  }

  /** Where the blob `digest` is (or would be) stored. */
  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', hex(digest));
  }

  static open(rootFlag?: string): ImageStore {
    const root = storeRoot(rootFlag);
    try {
      fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new NookError(`cannot create the image store ${root}: ${(e as Error).message}`, {
        hint: 'choose another place with --root DIR or NOOK_ROOT=DIR',
      });
    }
    return new ImageStore(root);
  }

  /**
   * Layers need extended attributes (opaque directories are marked with
   * user.overlay.opaque), which NFS and some other network filesystems lack.
   * Checked once per store, before the first layer is written, so the user
   * hears about it up front instead of midway through a pull.
   */
  checkFilesystem(): void {
    const marker = this.p('.xattr-ok');
    if (fs.existsSync(marker)) return;
    const probe = this.p(`.xattr-probe-${process.pid}`);
    fs.writeFileSync(probe, '');
    try {
      const lib = libcFs();
      const value = Buffer.from('y');
      if (lib.lsetxattr(probe, 'user.nook.probe', value, value.length, 0) !== 0) {
        const errno = lib.errno();
        throw new NookError(`the image store ${this.root} is on a filesystem without extended attributes (setting user.* xattrs: ${describeErrno(errno)})`, {
          hint: 'overlayfs layers need them; put the store on a local disk with --root DIR or NOOK_ROOT=DIR (e.g. under /var/tmp or a local scratch disk)',
        });
      }
    } finally {
      fs.rmSync(probe, { force: true });
    }
    fs.writeFileSync(marker, '');
  }

  p(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  layerDir(diffId: string): string {
    return this.p('layers', hex(diffId));
  }

  /** Name of the layer's short link, relative to l/. */
  static layerLinkName(diffId: string): string {
    return hex(diffId).slice(0, 16);
  }

  hasLayer(diffId: string): boolean {
    return fs.existsSync(this.layerDir(diffId));
  }

  /** Shared while pulling or starting a container; exclusive while collecting garbage. */
  lockShared(): Promise<FileLock> {
    return FileLock.acquire(this.p('store.lock'), 'shared');
  }

  lockExclusive(): Promise<FileLock> {
    return FileLock.acquire(this.p('store.lock'), 'exclusive');
  }

  // ---- refs

  refs(): Record<string, string> {
    return readJson<RefsFile>(this.p('refs.json'), { version: 1, refs: {} }).refs;
  }

  /** The names an image has had (podman's NamesHistory): its current names first, then older ones, newest first. */
  namesHistory(id: string): string[] {
    return readJson<RefsFile>(this.p('refs.json'), { version: 1, refs: {} }).namesHistory?.[id] ?? [];
  }

  /**
   * Changes refs.json under its lock; `fn` edits the map in place. The names
   * history of each image whose names changed is brought up to date, as
   * podman's store does it: its names now, then the history before, once each.
   */
  updateRefs<T>(fn: (refs: Record<string, string>) => T): Promise<T> {
    return withLock(this.p('refs.lock'), () => {
      const file = readJson<RefsFile>(this.p('refs.json'), { version: 1, refs: {} });
      const refs = file.refs;
      const before = { ...refs };
      const out = fn(refs);
      const history = file.namesHistory ?? {};
      const changed = new Set<string>();
      for (const [name, id] of Object.entries(refs)) if (before[name] !== id) changed.add(id);
      for (const [name, id] of Object.entries(before)) if (refs[name] !== id) changed.add(id);
      for (const id of changed) history[id] = [...new Set([...this.namesOf(id, refs), ...(history[id] ?? [])])];
      // An image that is gone takes its history with it.
      for (const id of Object.keys(history)) if (!fs.existsSync(this.p('images', `${hex(id)}.json`))) delete history[id];
      writeFileAtomic(this.p('refs.json'), `${JSON.stringify({ version: 1, refs, namesHistory: history }, null, 2)}\n`);
      return out;
    });
  }

  // ---- images

  image(id: string): ImageRecord | undefined {
    return readJson<ImageRecord | undefined>(this.p('images', `${hex(id)}.json`), undefined);
  }

  writeImage(rec: ImageRecord): void {
    writeFileAtomic(this.p('images', `${hex(rec.id)}.json`), `${JSON.stringify(rec, null, 2)}\n`);
  }

  /**
   * Adds a "registry/repo@digest" the image is served by (after a push).
   * Under refs.lock, the lock of edits to names and records, so that two
   * pushes of one image do not lose each other's digest.
   */
  addRepoDigest(id: string, repoDigest: string): Promise<void> {
    return withLock(this.p('refs.lock'), () => {
      const rec = this.image(id);
      if (!rec || rec.repoDigests.includes(repoDigest)) return;
      rec.repoDigests = [...rec.repoDigests, repoDigest];
      this.writeImage(rec);
    });
  }

  deleteImage(id: string): void {
    fs.rmSync(this.p('images', `${hex(id)}.json`), { force: true });
  }

  images(): ImageRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.p('images'));
    } catch {
      return [];
    }
    return names
      .filter((n) => /^[a-f0-9]{64}\.json$/.test(n))
      .map((n) => this.image(`sha256:${n.slice(0, 64)}`))
      .filter((r): r is ImageRecord => r !== undefined);
  }

  config(rec: ImageRecord): ImageConfig {
    return parseImageConfig(fs.readFileSync(this.blobPath(rec.id)), rec.id);
  }

  /** All names that point at `id`. */
  namesOf(id: string, refs = this.refs()): string[] {
    return Object.keys(refs).filter((r) => refs[r] === id).sort();
  }
}
