/**
 * The sandbox's filesystem, as plan steps: the rootfs bind-mounted onto
 * itself, fresh /proc, a tmpfs /dev with the usual nodes bound from the host,
 * a new devpts instance, /dev/shm, read-only /sys, the user's bind mounts and
 * tmpfs mounts, then pivot_root. Everything happens inside the child's own
 * mount namespace, so nothing is ever mounted on the host side.
 *
 * Every target is an inside path that the executor resolves in the rootfs
 * itself, in the child, right before it mounts there (RESOLVE, ffi/in-root.c):
 * the container's symlinks are followed inside it, missing mount points are
 * created relative to the directories found, and the mount goes onto the fd
 * that was resolved. Nothing here resolves a path of the rootfs on the host:
 * what the container planted in its writable layer, or swaps in while nook
 * works, can never send a mount or a mkdir to a host path.
 */
import fs = require('node:fs');
import { Resolve, type PlanOp } from '../../ffi/plan-format';
import { NookError } from '../errors';
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

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

type Create = 'EXISTING' | 'CREATE_DIR' | 'CREATE_FILE';

/**
 * Makes the inside path `inner` the target of the next MOUNT_AT, SYMLINK_AT or CHDIR_AT, creating it as asked.
 * `optional`: where it cannot be made (a rootfs nook may not write to), the executor skips the mount on it.
 */
export function resolveOp(inner: string, create: Create, what: string, mode = create === 'CREATE_FILE' ? 0o644 : 0o755, optional = false): PlanOp {
  return { op: 'RESOLVE', args: [inner, Resolve[create] | (optional ? Resolve.OPTIONAL : 0), mode], what };
}

/** A mount point: created when missing (a directory, or a file for a file bind). */
function mountpoint(inner: string, create: Create = 'CREATE_DIR', mode?: number): PlanOp {
  return resolveOp(inner, create, create === 'EXISTING' ? `find ${inner}` : `create mount point ${inner}`, mode);
}

function mountAt(source: string | null, fstype: string | null, flags: number, data: string | null, what: string): PlanOp {
  return { op: 'MOUNT_AT', args: [source, fstype, flags, data], what };
}

/**
 * Where the rootfs is assembled. Normally the rootfs bound onto itself. For
 * `--rootfs /` that cannot work: a bind of / onto / is unreachable (chdir("/")
 * stays on the mount below it) and pivot_root refuses it, so / is bound onto
 * /proc instead, which always exists and gets a fresh proc mounted over its
 * copy anyway. (HOLD_PROC keeps the host's /proc/self/fd reachable meanwhile.)
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

/** Steps that mount everything under the rootfs, then make it /. */
export function mountOps(spec: SandboxSpec): MountSteps {
  const R = assemblyRoot(spec.rootfs);
  const assembly: PlanOp[] = [
    ...(spec.overlay
      ? overlayOps(spec.overlay, R)
      : [{ op: 'MOUNT', args: [spec.rootfs, R, null, MS.BIND | MS.REC, null], what: `bind the rootfs ${spec.rootfs} onto ${R}` } as PlanOp]),
    // From here on, every target is resolved inside this directory.
    { op: 'SET_ROOT', args: [R], what: `open the rootfs ${spec.rootfs}` },
    mountpoint('/proc'),
    mountAt('proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, null, 'mount a new proc on /proc'),
    ...sysOps(spec.network),
    ...(spec.security.maskPaths ? maskOps() : []),
    ...spec.binds.flatMap(bindOps),
  ];
  const privateNs: PlanOp = { op: 'MOUNT', args: [null, '/', null, MS.REC | MS.PRIVATE, null], what: 'make the mount namespace private' };
  // Before anything covers /proc (the assembly of --rootfs / does): mount() names resolved fds through it.
  const holdProc: PlanOp = { op: 'HOLD_PROC', args: [], what: 'open /proc/self/fd' };
  // overlayfs checks the mounter's rights on its layers with the ids of the user namespace, and
  // mount points created on it get owners from it: with an image, everything waits for the maps.
  const beforeIdMaps = spec.overlay ? [privateNs, holdProc] : [privateNs, holdProc, ...assembly];

  // gid=5 (tty) only exists inside when more than one id is mapped.
  const ptsGid = spec.idmap.gid.some((r) => 5 >= r.inside && 5 - r.inside < r.count) ? ',gid=5' : '';
  const afterIdMaps: PlanOp[] = [
    ...(spec.overlay ? assembly : []),
    // Files created in a filesystem mounted inside the namespace need mapped owners (else EOVERFLOW).
    ...devOps(),
    mountpoint('/dev/pts'),
    mountAt('devpts', 'devpts', MS.NOSUID | MS.NOEXEC, `newinstance,ptmxmode=0666,mode=0620${ptsGid}`, 'mount a new devpts instance on /dev/pts'),
  ];
  if (spec.resources && spec.network === 'none')
    // The sandbox's own cgroup, as the root of its cgroup namespace (entered just before these steps).
    afterIdMaps.push(
      mountpoint('/sys/fs/cgroup', 'EXISTING'),
      mountAt('cgroup2', 'cgroup2', MS.NOSUID | MS.NODEV | MS.NOEXEC | (spec.security.maskPaths ? MS.RDONLY : 0), null, 'mount its cgroup on /sys/fs/cgroup'),
    );
  for (const t of spec.tmpfs) afterIdMaps.push(mountpoint(t.target), mountAt('tmpfs', 'tmpfs', t.flags, t.options, `mount a tmpfs on ${t.target}`));
  afterIdMaps.push({ op: 'PIVOT_ROOT', args: [R], what: `pivot_root into ${spec.rootfs}` });
  if (spec.readOnly) afterIdMaps.push({ op: 'REMOUNT_BIND', args: ['/', MS.RDONLY], what: 'make / read-only' });
  return { beforeIdMaps, afterIdMaps };
}

/** A tmpfs /dev with the host's basic nodes bound in, /dev/shm, and the usual links. */
function devOps(): PlanOp[] {
  const ops: PlanOp[] = [mountpoint('/dev'), mountAt('tmpfs', 'tmpfs', MS.NOSUID | MS.STRICTATIME, 'mode=755,size=65536k', 'mount a tmpfs on /dev')];
  for (const node of DEV_NODES)
    ops.push(
      resolveOp(`/dev/${node}`, 'CREATE_FILE', `create /dev/${node}`, 0o666),
      mountAt(`/dev/${node}`, null, MS.BIND, null, `bind the host's /dev/${node}`),
    );
  ops.push(mountpoint('/dev/shm'), mountAt('shm', 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=65536k', 'mount a tmpfs on /dev/shm'));
  ops.push(resolveOp('/dev', 'EXISTING', 'find /dev'));
  for (const [target, name] of DEV_LINKS) ops.push({ op: 'SYMLINK_AT', args: [target, name], what: `link /dev/${name} to ${target}` });
  return ops;
}

function sysOps(network: SandboxSpec['network']): PlanOp[] {
  if (network === 'none')
    // A sysfs of our own needs a network namespace owned by our user namespace.
    return [mountpoint('/sys'), mountAt('sysfs', 'sysfs', MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY, null, 'mount sysfs read-only on /sys')];
  // The host's, read-only with every submount (/sys/fs/cgroup...): the executor sets the
  // attribute on the whole copied tree before attaching it (mount_setattr, Linux 5.12).
  return [mountpoint('/sys'), mountAt('/sys', null, MS.BIND | MS.REC | MS.RDONLY, null, "bind the host's /sys read-only")];
}

function bindOps(b: BindMount): PlanOp[] {
  const create = isDirectory(b.source) ? 'CREATE_DIR' : 'CREATE_FILE';
  return [
    b.optional ? resolveOp(b.target, create, `create mount point ${b.target} (or go without it)`, undefined, true) : mountpoint(b.target, create),
    mountAt(b.source, null, MS.BIND | MS.REC | (b.readOnly ? MS.RDONLY : 0), null, `bind ${b.source} on ${b.target}${b.readOnly ? ' read-only' : ''}`),
  ];
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
 * read-only tmpfs; read-only paths are bound onto themselves, read-only.
 * /proc and /sys show the same entries inside as on the host (they depend on
 * the kernel, not the namespace), so paths missing here are skipped.
 */
function maskOps(): PlanOp[] {
  const ops: PlanOp[] = [];
  for (const p of MASKED_PATHS) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    ops.push(
      mountpoint(p, 'EXISTING'),
      st.isDirectory()
        ? mountAt('tmpfs', 'tmpfs', MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, 'size=0', `mask ${p}`)
        : mountAt('/dev/null', null, MS.BIND, null, `mask ${p}`),
    );
  }
  for (const p of READONLY_PATHS) {
    if (!fs.existsSync(p)) continue;
    ops.push(mountpoint(p, 'EXISTING'), mountAt(null, null, MS.BIND | MS.REC | MS.RDONLY, null, `make ${p} read-only`));
  }
  return ops;
}
