/**
 * nook on this host as a whole: what `nook info` reports (where things are,
 * the id mapping, cgroups, overlayfs, user namespaces, network helpers:
 * what a user checks first when something fails), what `system df` counts,
 * and which images containers use (kept by `system prune -a`).
 * Nothing here fails for a missing piece: each is reported as it is.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { findImage } from '../image/store/lookup';
import { ImageStore, storeRoot } from '../image/store/store';
import { cgroupDir, detectLayout, isDelegated, readControllerList, unifiedCgroupPath } from '../sandbox/cgroups/detect';
import { userNamespaceBlocker } from '../sandbox/diagnose';
import { computeIdMapping, hostIdentity } from '../sandbox/idmap';
import { runtimeDirProblem } from '../util/dirs';
import { findExecutable } from '../util/which';
import { overlayRefusal, rootMode } from './overlay-support';
import { ContainerStore, stateRoot } from './state';
import { listContainers, type Listed } from './status';

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function osName(): string {
  const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(read('/etc/os-release'));
  return m?.[1] ?? 'Linux';
}

/** Where nook's cgroup is and whether the user may manage it, as `run --memory` and friends need. */
function cgroupInfo(uid: number): Record<string, unknown> {
  const layout = detectLayout(read('/proc/self/mountinfo'));
  const version = layout.mode === 'v2' ? '2' : layout.mode === 'none' ? 'none' : '1';
  const own = unifiedCgroupPath(read('/proc/self/cgroup'));
  const dir = layout.unified && own !== undefined ? cgroupDir(own, layout.unified) : undefined;
  const delegated = dir ? isDelegated(dir, uid) || isDelegated(path.dirname(dir), uid) : false;
  return {
    Version: version,
    Mode: layout.mode,
    Path: own ?? null,
    Delegated: delegated,
    Controllers: dir ? readControllerList(path.join(dir, 'cgroup.controllers')) : [],
    Limits:
      layout.mode !== 'v2'
        ? `unavailable: resource limits need cgroup v2 (this host has ${layout.mode === 'none' ? 'no cgroups mounted' : `cgroup ${layout.mode}`})`
        : delegated
          ? 'available'
          : 'unavailable: no cgroup is delegated to this user (systemd: Delegate=yes for user@.service)',
  };
}

function count(store: ImageStore): number {
  try {
    return store.images().length;
  } catch {
    return 0;
  }
}

/** `nook info`'s data; keys are docker info's where it has the same thing, nook's own sections otherwise. */
export function hostInfo(version: string): Record<string, unknown> {
  const host = hostIdentity();
  const mapping = computeIdMapping(host, { keepId: false });
  let root = '';
  let storeProblem: string | null = null;
  let store: ImageStore | undefined;
  try {
    root = storeRoot();
    store = new ImageStore(root);
  } catch (e) {
    storeProblem = errorText(e);
  }
  let containers: Listed[] = [];
  let stateProblem: string | null = null;
  try {
    containers = listContainers(ContainerStore.open());
  } catch (e) {
    stateProblem = errorText(e);
  }
  const running = containers.filter((c) => c.state.display === 'running' || c.state.display === 'restarting').length;
  const blocker = userNamespaceBlocker();
  const overlay = store ? rootMode(store) : 'overlay';
  const cgroups = cgroupInfo(host.uid);
  return {
    ServerVersion: version,
    OperatingSystem: osName(),
    OSType: 'linux',
    KernelVersion: os.release(),
    Architecture: os.machine(),
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    Name: os.hostname(),
    Rootless: host.uid !== 0,
    User: { Name: host.userName, Uid: host.uid, Gid: host.gid },
    Containers: containers.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: containers.length - running,
    Images: store ? count(store) : 0,
    Driver: overlay,
    DockerRootDir: root,
    CgroupVersion: cgroups.Version,
    CgroupDriver: 'cgroupfs',
    Store: { Root: root, Driver: overlay, Problem: storeProblem },
    RuntimeDir: { Path: stateRoot(), XdgRuntimeDir: process.env.XDG_RUNTIME_DIR ?? null, Problem: stateProblem ?? runtimeDirProblem() },
    IdMapping: {
      Method: mapping.method === 'helpers' ? 'newuidmap/newgidmap' : 'direct (one id)',
      Uids: mapping.uid.map((r) => `${r.inside}:${r.outside}:${r.count}`),
      Gids: mapping.gid.map((r) => `${r.inside}:${r.outside}:${r.count}`),
      SubUids: host.subUids.map((r) => `${r.start}:${r.count}`),
      SubGids: host.subGids.map((r) => `${r.start}:${r.count}`),
      Newuidmap: host.newuidmap ?? findExecutable('newuidmap'),
      Newgidmap: host.newgidmap ?? findExecutable('newgidmap'),
      Problem: mapping.singleIdReason ?? null,
    },
    UserNamespaces: { Allowed: blocker === null, Problem: blocker },
    Cgroups: cgroups,
    Overlay: {
      Mode: overlay,
      Forced: process.env.NOOK_OVERLAY === 'copy' || process.env.NOOK_OVERLAY === 'overlay' ? process.env.NOOK_OVERLAY : null,
      Refused: store ? overlayRefusal(store) : null,
      KernelHasOverlay: /\toverlay$/m.test(read('/proc/filesystems')),
    },
    NetworkHelpers: Object.fromEntries(['pasta', 'slirp4netns'].map((n) => [n, findExecutable(n)])),
  };
}

/** The ids of the images that containers were made from (as far as the store still knows them). */
export function imagesInUse(store: ImageStore, containers: Listed[]): Set<string> {
  const ids = new Set<string>();
  for (const c of containers) {
    if (!c.config.rootDir) continue; // run from a directory, not an image
    try {
      const found = findImage(store, c.config.image);
      if (found) ids.add(found.record.id);
    } catch {
      /* a name that no longer resolves */
    }
  }
  return ids;
}

/** Bytes under `p` (regular files and symlinks, hardlinks once); what cannot be read counts as nothing. */
function du(p: string, seen: Set<string>): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  const key = `${st.dev}:${st.ino}`;
  if (seen.has(key)) return 0;
  seen.add(key);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  let names: string[] = [];
  try {
    names = fs.readdirSync(p);
  } catch {
    /* a directory the container's root made private: not ours to read */
  }
  for (const n of names) total += du(path.join(p, n), seen);
  return total;
}

export interface UsageRow {
  type: 'Images' | 'Containers';
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

/** `nook system df`: images (blobs and extracted layers, shared ones once) and containers (writable layers and logs). */
export function diskUsage(store: ImageStore, containers: Listed[]): UsageRow[] {
  const used = imagesInUse(store, containers);
  const images = store.images();
  const seen = new Set<string>();
  const itemSize = new Map<string, number>();
  const sizeOf = (item: string, p: string) => {
    if (!itemSize.has(item)) itemSize.set(item, du(p, seen));
    return itemSize.get(item)!;
  };
  const itemsOf = (img: (typeof images)[number]) => [
    ...[img.id, img.manifestDigest, ...img.layers.map((l) => l.digest)].map((d) => [`blob:${d}`, store.blobPath(d)] as const),
    ...img.layers.map((l) => [`layer:${l.diffId}`, store.layerDir(l.diffId)] as const),
  ];
  const all = new Set<string>();
  const active = new Set<string>();
  for (const img of images)
    for (const [item, p] of itemsOf(img)) {
      sizeOf(item, p);
      all.add(item);
      if (used.has(img.id)) active.add(item);
    }
  const sum = (items: Iterable<string>) => [...items].reduce((n, i) => n + (itemSize.get(i) ?? 0), 0);
  const imageSize = sum(all);

  let containerSize = 0;
  let containerReclaimable = 0;
  for (const c of containers) {
    const bytes = (c.config.rootDir ? du(c.config.rootDir, seen) : 0) + du(c.dir.dir, seen);
    containerSize += bytes;
    if (c.state.display !== 'running' && c.state.display !== 'restarting') containerReclaimable += bytes;
  }
  return [
    { type: 'Images', total: images.length, active: images.filter((i) => used.has(i.id)).length, size: imageSize, reclaimable: imageSize - sum(active) },
    {
      type: 'Containers',
      total: containers.length,
      active: containers.filter((c) => c.state.display === 'running' || c.state.display === 'restarting').length,
      size: containerSize,
      reclaimable: containerReclaimable,
    },
  ];
}
