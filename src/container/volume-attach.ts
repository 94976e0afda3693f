/**
 * A run's volumes made ready before its spec is composed: the image's
 * VOLUMEs not covered by a mount become anonymous volumes, each volume is
 * made on first use, a new (empty) one is filled from the image's content at
 * its mount point (docker's copy-up), :U chowns to the container's user, and
 * each becomes a bind mount of its _data. The request keeps the volumes and
 * their binds, so that `start` mounts the same and `rm -v` finds them.
 *
 * Copy-up and :U run in nook's build helper (root of a user namespace with
 * the container's id mapping, in a mount namespace of its own): the files get
 * the owners the container sees, and the image path is resolved inside the
 * image, so a symlink there can never make nook read or write a host path.
 */
import fs = require('node:fs');
import type { ContainerConfig } from '../image/config';
import { computeIdMapping, type HostIdentity } from '../sandbox/idmap';
import type { SandboxSpec } from '../sandbox/spec';
import { LayeredView, resolveInView, rootView } from '../sandbox/rootfs-view';
import { resolveUser } from '../sandbox/users';
import { withLock } from '../util/lock';
import { randomHex } from '../util/random';
import type { RootSource } from './compose';
import type { RunRequest, VolumeMount } from './request';
import { VolumeStore, removeAnonymousVolumes, volumeMountOf } from './volumes';
import { MS } from '../../ffi/linux';
import path = require('node:path');

/** The image's VOLUMEs that no mount of the request covers, each a new anonymous volume (docker's way), or with podman's --image-volume a tmpfs, or nothing. */
export function addImageVolumes(req: RunRequest, config: ContainerConfig | undefined, mode: 'bind' | 'tmpfs' | 'ignore' = 'bind'): void {
  const paths = Object.keys(config?.Volumes ?? {});
  if (!paths.length || mode === 'ignore') return;
  const m = req.mounts;
  const taken = new Set([...m.binds, ...m.tmpfs, ...(m.volumes ?? [])].map((x) => x.target));
  const added: VolumeMount[] = paths
    .filter((p) => p.startsWith('/'))
    .map((p) => path.posix.normalize(p))
    .filter((p) => !taken.has(p))
    .map((target) => ({ name: randomHex(32), target, readOnly: false, anonymous: true }));
  // podman's --image-volume tmpfs: a fresh tmpfs on each instead (nosuid, nodev, as podman's).
  if (mode === 'tmpfs') {
    m.tmpfs.push(...added.map((v) => ({ target: v.target, options: '', flags: MS.NOSUID | MS.NODEV })));
    return;
  }
  if (added.length) m.volumes = [...(m.volumes ?? []), ...added];
}

function labelsOf(v: VolumeMount): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of v.labels ?? []) {
    const i = l.indexOf('=');
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

/** Unreadable (chowned to a container user who keeps it to itself): not empty, nothing copied. */
function isEmpty(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

const depth = (p: string) => p.split('/').filter(Boolean).length;

/** Makes, fills and chowns the request's volumes, and adds their bind mounts to it. */
export async function attachVolumes(req: RunRequest, root: RootSource, host: HostIdentity): Promise<void> {
  const volumes = req.mounts.volumes ?? [];
  const chownBinds = req.mounts.chownBinds ?? [];
  if (!volumes.length && !chownBinds.length) return;
  const { BuildHelper } = await import('../build/helper/client');
  let helper: InstanceType<typeof BuildHelper> | undefined;
  // nook's usual id mapping (a --userns keep-id container maps ids otherwise: it sees these owners shifted).
  const useHelper = () => (helper ??= new BuildHelper(host));
  const owner = () => {
    const u = resolveUser(rootView(root), req.process.user ?? (root.image?.config?.User || undefined), req.keepId ? { uid: host.uid, gid: host.gid } : { uid: 0, gid: 0 });
    return { uid: u.uid, gid: u.gid };
  };
  const made: VolumeMount[] = [];
  try {
    const store = volumes.length ? VolumeStore.open() : undefined;
    for (const v of volumes) {
      const { volume, created } = await store!.create({ name: v.name, anonymous: v.anonymous, labels: labelsOf(v), hold: true });
      if (created) made.push(v);
      const source = volumeMountOf(volume.Options ?? {}, v.name);
      if (source.kind === 'tmpfs') {
        // A fresh tmpfs for each container (docker's is shared while mounted; an unprivileged nook mounts it in the container only).
        if (!req.mounts.tmpfs.some((t) => t.target === v.target))
          req.mounts.tmpfs.push({ target: v.target, options: source.data, flags: source.flags | (v.readOnly ? MS.RDONLY : 0) | ((v.flags ?? 0) & ~MS.RDONLY) });
        continue;
      }
      const data = source.kind === 'bind' ? source.device : store!.dataDir(v.name);
      if (source.kind === 'data' && !v.noCopy && root.image) {
        // One filler at a time: two runs starting on the same new volume copy once.
        await withLock(path.join(store!.dir(v.name), '.populate.lock'), async () => {
          if (!isEmpty(data)) return;
          const lowerDirs = root.overlay ? root.overlay.lowerDirs : [root.rootfs];
          const view = new LayeredView(lowerDirs);
          const inImage = resolveInView(view, v.target);
          const st = view.lstat(inImage);
          if (!st?.isDirectory()) return;
          // An empty directory of root's (the usual VOLUME): its mode is all there is to copy, no helper needed.
          if (st.uid === host.uid && st.gid === host.gid && view.isEmptyDir(inImage)) fs.chmodSync(data, st.mode & 0o7777);
          else await useHelper().populate({ lowerDirs, path: inImage, dataDir: data });
        });
      }
      if (v.chown) await useHelper().chown({ dir: data, ...owner() });
      const flags = (v.flags ?? 0) | source.flags;
      // Once only: a run retried on a copy of the layers (overlayfs refused) comes through here again.
      if (!req.mounts.binds.some((b) => b.source === data && b.target === v.target))
        req.mounts.binds.push({ source: data, target: v.target, readOnly: v.readOnly || source.readOnly, ...(flags ? { flags } : {}) });
    }
    for (const dir of chownBinds) await useHelper().chown({ dir, ...owner() });
  } catch (e) {
    await helper?.close();
    helper = undefined;
    await removeAnonymousVolumes(made.filter((v) => v.anonymous));
    throw e;
  } finally {
    await helper?.close();
  }
  // Mounted parents first, as docker sorts them: a volume at /a/b lands inside one at /a.
  req.mounts.binds.sort((a, b) => depth(a.target) - depth(b.target));
}

/** The host id that `inside` has under `ranges` (undefined: not mapped). */
function outsideId(ranges: { inside: number; outside: number; count: number }[], inside: number): number | undefined {
  const r = ranges.find((x) => inside >= x.inside && inside < x.inside + x.count);
  return r ? r.outside + (inside - r.inside) : undefined;
}

/**
 * podman's :U on each start: a volume or bind source whose top directory no
 * longer belongs to the container's user (someone chowned it meanwhile) is
 * chowned again, recursively; one whose top still does is left alone, files
 * under it included. Owners are compared as nook's helper maps them, as
 * attachVolumes chowns them.
 */
export async function rechownForStart(req: RunRequest, spec: SandboxSpec, host: HostIdentity): Promise<void> {
  const dirs = [
    ...(req.mounts.volumes ?? []).filter((v) => v.chown).map((v) => spec.binds.find((b) => b.target === v.target)?.source),
    ...(req.mounts.chownBinds ?? []),
  ].filter((d): d is string => d !== undefined);
  if (!dirs.length) return;
  const map = computeIdMapping(host, { keepId: false });
  const { uid, gid } = spec.user;
  const want = { uid: outsideId(map.uid, uid), gid: outsideId(map.gid, gid) };
  const { BuildHelper } = await import('../build/helper/client');
  let helper: InstanceType<typeof BuildHelper> | undefined;
  try {
    for (const dir of dirs) {
      const st = fs.statSync(dir, { throwIfNoEntry: false });
      if (!st || (st.uid === want.uid && st.gid === want.gid)) continue;
      await (helper ??= new BuildHelper(host)).chown({ dir, uid, gid });
    }
  } finally {
    await helper?.close();
  }
}
