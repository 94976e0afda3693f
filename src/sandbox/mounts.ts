/**
 * The sandbox's filesystem, as plan steps: the rootfs bind-mounted onto
 * itself, fresh /proc, a tmpfs /dev with the usual nodes bound from the host,
 * a new devpts instance, /dev/shm, read-only /sys, the user's bind mounts and
 * tmpfs mounts, then pivot_root. Everything happens inside the child's own
 * mount namespace, so nothing is ever mounted on the host side.
 */
import fs = require('node:fs');
import path = require('node:path');
import type { PlanOp } from '../../ffi/plan-format';
import { NookError } from '../errors';
import { DirView, LayeredView, resolveInView, type RootView } from './rootfs-view';
import type { BindMount, OverlayRoot, SandboxSpec } from './spec';

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  REMOUNT: 0x20,
  BIND: 0x1000,
  REC: 0x4000,
  PRIVATE: 0x40000,
  STRICTATIME: 0x1000000,
} as const;

/** Host device nodes bound into the sandbox's /dev, as docker provides them. */
export const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', 'fd'],
  ['/proc/self/fd/0', 'stdin'],
  ['/proc/self/fd/1', 'stdout'],
  ['/proc/self/fd/2', 'stderr'],
  ['pts/ptmx', 'ptmx'],
];

/** Resolves `inner` (an absolute path inside) to a host path under the directory `root`, following its symlinks as they resolve inside. */
export function resolveInRoot(root: string, inner: string): string {
  return path.join(root, resolveInView(new DirView(root), inner));
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function mountpointOp(target: string, dir: boolean, what: string): PlanOp {
  return dir
    ? { op: 'MKDIR_P', args: [target, 0o755], what: `create mount point ${what}` }
    : { op: 'TOUCH', args: [target, 0o644], what: `create mount point ${what}` };
}

/**
 * Where the rootfs is assembled. Normally the rootfs bound onto itself. For
 * `--rootfs /` that cannot work: a bind of / onto / is unreachable (chdir("/")
 * stays on the mount below it) and pivot_root refuses it, so / is bound onto
 * /proc instead, which always exists and gets a fresh proc mounted over its
 * copy anyway.
 */
export function assemblyRoot(rootfs: string): string {
  return rootfs === '/' ? '/proc' : rootfs;
}

/** The mount steps, split by whether they need the id maps to be in place. */
export interface MountSteps {
  /**
   * Steps the child can take while the parent is still writing its id maps:
   * the kernel checks them against capabilities in the new user namespace
   * (held from the start) and the unchanged host ids, not against the maps.
   * Running them early overlaps them with newuidmap/newgidmap.
   */
  beforeIdMaps: PlanOp[];
  /** Steps that create files on filesystems mounted inside (/dev) or name ids inside (devpts gid=5, tmpfs uid=), then pivot_root. */
  afterIdMaps: PlanOp[];
}

/** Steps that mount everything under the rootfs, then make it /. */
/** The root filesystem as the sandbox will see it, readable from the host before anything is mounted. */
export function rootView(spec: Pick<SandboxSpec, 'rootfs' | 'overlay'>): RootView {
  return spec.overlay ? new LayeredView(spec.overlay.lowerDirs) : new DirView(spec.rootfs);
}

/**
 * The image's layers under the container's writable layer. lowerdir names
 * the layers by their short links relative to the store's l/ directory (the
 * executor changes into it first), so that even long layer chains fit the
 * single page the kernel accepts for mount options.
 */
function overlayOps(o: OverlayRoot, target: string): PlanOp[] {
  const data = `lowerdir=${o.lowers.join(':')},upperdir=${o.upper},workdir=${o.work},userxattr`;
  if (data.length >= 4096)
    throw new NookError(`the image has too many layers (${o.lowers.length}) for one overlay mount`, {
      hint: 'squash the image into fewer layers (e.g. docker build --squash, or export and import it)',
    });
  return [
    { op: 'CHDIR', args: [o.linkDir], what: `change to the layer links in ${o.linkDir}` },
    { op: 'MOUNT', args: ['overlay', target, 'overlay', 0, data], what: `mount the image's ${o.lowers.length} layers with overlayfs on ${target}` },
  ];
}

export function mountOps(spec: SandboxSpec): MountSteps {
  const R = assemblyRoot(spec.rootfs);
  // Paths are resolved as they will be seen inside, then placed under R.
  const view = rootView(spec);
  const inRoot = (p: string) => path.join(R, resolveInView(view, p));
  const dev = inRoot('/dev');
  const assembly: PlanOp[] = [
    ...(spec.overlay
      ? overlayOps(spec.overlay, R)
      : [{ op: 'MOUNT', args: [spec.rootfs, R, null, MS.BIND | MS.REC, null], what: `bind the rootfs ${spec.rootfs} onto ${R}` } as PlanOp]),
    mountpointOp(inRoot('/proc'), true, '/proc'),
    {
      op: 'MOUNT',
      args: ['proc', inRoot('/proc'), 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, null],
      what: 'mount a new proc on /proc',
    },
    ...sysOps(inRoot('/sys'), spec.network),
    ...(spec.security.maskPaths ? maskOps(inRoot('/proc'), inRoot('/sys')) : []),
    ...spec.binds.flatMap((b) => bindOps(b, inRoot(b.target))),
  ];
  const privateNs: PlanOp = { op: 'MOUNT', args: [null, '/', null, MS.REC | MS.PRIVATE, null], what: 'make the mount namespace private' };
  // overlayfs checks the mounter's rights on its layers with the ids of the user namespace, and
  // mount points created on it get owners from it: with an image, everything waits for the maps.
  const beforeIdMaps = spec.overlay ? [privateNs] : [privateNs, ...assembly];

  // gid=5 (tty) only exists inside when more than one id is mapped.
  const ptsGid = spec.idmap.gid.some((r) => 5 >= r.inside && 5 - r.inside < r.count) ? ',gid=5' : '';
  const devpts = path.join(dev, 'pts');
  const afterIdMaps: PlanOp[] = [
    ...(spec.overlay ? assembly : []),
    // Files created in a filesystem mounted inside the namespace need mapped owners (else EOVERFLOW).
    ...devOps(dev),
    { op: 'MKDIR_P', args: [devpts, 0o755], what: 'create /dev/pts' },
    {
      op: 'MOUNT',
      args: ['devpts', devpts, 'devpts', MS.NOSUID | MS.NOEXEC, `newinstance,ptmxmode=0666,mode=0620${ptsGid}`],
      what: 'mount a new devpts instance on /dev/pts',
    },
  ];
  if (spec.resources && spec.network === 'none')
    // The sandbox's own cgroup, as the root of its cgroup namespace (entered just before these steps).
    afterIdMaps.push({
      op: 'MOUNT',
      args: ['cgroup2', path.join(inRoot('/sys'), 'fs/cgroup'), 'cgroup2', MS.NOSUID | MS.NODEV | MS.NOEXEC | (spec.security.maskPaths ? MS.RDONLY : 0), null],
      what: 'mount its cgroup on /sys/fs/cgroup',
    });
  for (const t of spec.tmpfs) {
    const target = inRoot(t.target);
    afterIdMaps.push(mountpointOp(target, true, t.target));
    afterIdMaps.push({ op: 'MOUNT', args: ['tmpfs', target, 'tmpfs', t.flags, t.options], what: `mount a tmpfs on ${t.target}` });
  }
  afterIdMaps.push({ op: 'PIVOT_ROOT', args: [R], what: `pivot_root into ${spec.rootfs}` });
  if (spec.readOnly) afterIdMaps.push({ op: 'REMOUNT_BIND', args: ['/', MS.RDONLY], what: 'make / read-only' });
  return { beforeIdMaps, afterIdMaps };
}

/** A tmpfs /dev with the host's basic nodes bound in, /dev/shm, and the usual links. */
function devOps(dev: string): PlanOp[] {
  const ops: PlanOp[] = [
    mountpointOp(dev, true, '/dev'),
    {
      op: 'MOUNT',
      args: ['tmpfs', dev, 'tmpfs', MS.NOSUID | MS.STRICTATIME, 'mode=755,size=65536k'],
      what: 'mount a tmpfs on /dev',
    },
  ];
  for (const node of DEV_NODES) {
    const target = path.join(dev, node);
    ops.push({ op: 'TOUCH', args: [target, 0o666], what: `create /dev/${node}` });
    ops.push({ op: 'MOUNT', args: [`/dev/${node}`, target, null, MS.BIND, null], what: `bind the host's /dev/${node}` });
  }
  const shm = path.join(dev, 'shm');
  ops.push({ op: 'MKDIR_P', args: [shm, 0o755], what: 'create /dev/shm' });
  ops.push({
    op: 'MOUNT',
    args: ['shm', shm, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=65536k'],
    what: 'mount a tmpfs on /dev/shm',
  });
  for (const [target, name] of DEV_LINKS)
    ops.push({ op: 'SYMLINK', args: [target, path.join(dev, name)], what: `link /dev/${name} to ${target}` });
  return ops;
}

function sysOps(sys: string, network: SandboxSpec['network']): PlanOp[] {
  if (network === 'none')
    // A sysfs of our own needs a network namespace owned by our user namespace.
    return [
      mountpointOp(sys, true, '/sys'),
      {
        op: 'MOUNT',
        args: ['sysfs', sys, 'sysfs', MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY, null],
        what: 'mount sysfs read-only on /sys',
      },
    ];
  return [
    mountpointOp(sys, true, '/sys'),
    { op: 'MOUNT', args: ['/sys', sys, null, MS.BIND | MS.REC, null], what: "bind the host's /sys" },
    { op: 'REMOUNT_BIND', args: [sys, MS.RDONLY], what: 'make /sys read-only' },
  ];
}

function bindOps(b: BindMount, target: string): PlanOp[] {
  const ops: PlanOp[] = [
    mountpointOp(target, isDirectory(b.source), b.target),
    { op: 'MOUNT', args: [b.source, target, null, MS.BIND | MS.REC, null], what: `bind ${b.source} on ${b.target}` },
  ];
  if (b.readOnly) ops.push({ op: 'REMOUNT_BIND', args: [target, MS.RDONLY], what: `make ${b.target} read-only` });
  return ops;
}

/** docker's masked paths: what a container must not read (kernel memory, keys, timers, firmware). */
export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
/** docker's read-only paths: kernel settings a container must not change. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * Masked files get /dev/null bound over them, masked directories an empty
 * read-only tmpfs; read-only paths are bound onto themselves and remounted
 * read-only. /proc and /sys show the same entries inside as on the host (they
 * depend on the kernel, not the namespace), so paths missing here are skipped.
 */
function maskOps(proc: string, sys: string): PlanOp[] {
  const inside = (p: string) => (p.startsWith('/proc/') ? path.join(proc, p.slice(6)) : path.join(sys, p.slice(5)));
  const ops: PlanOp[] = [];
  for (const p of MASKED_PATHS) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    ops.push(
      st.isDirectory()
        ? { op: 'MOUNT', args: ['tmpfs', inside(p), 'tmpfs', MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, 'size=0'], what: `mask ${p}` }
        : { op: 'MOUNT', args: ['/dev/null', inside(p), null, MS.BIND, null], what: `mask ${p}` },
    );
  }
  for (const p of READONLY_PATHS) {
    if (!fs.existsSync(p)) continue;
    ops.push({ op: 'MOUNT', args: [inside(p), inside(p), null, MS.BIND | MS.REC, null], what: `bind ${p} onto itself` });
    ops.push({ op: 'REMOUNT_BIND', args: [inside(p), MS.RDONLY], what: `make ${p} read-only` });
  }
  return ops;
}
