/**
 * Compiles an ordered mount list (default-mounts.ts makes docker's; an OCI
 * bundle brings its own) into plan steps: the rootfs bind-mounted onto itself
 * (or an image's layers with overlayfs), each entry in order, then
 * pivot_root. Everything happens inside the child's own mount namespace, so
 * nothing is ever mounted on the host side.
 *
 * Every destination is an inside path that the executor resolves in the
 * rootfs itself, in the child, right before it mounts there (RESOLVE,
 * ffi/in-root.c): the container's symlinks are followed inside it, missing
 * mount points are created relative to the directories found, and the mount
 * goes onto the fd that was resolved. Nothing here resolves a path of the
 * rootfs on the host: what the container planted in its writable layer, or
 * swaps in while nook works, can never send a mount or a mkdir to a host path.
 */
import path = require('node:path');
import { Resolve, type PlanOp } from '../../ffi/plan-format';
import { NookError } from '../errors';
import { MS } from '../../ffi/linux';
import type { OverlayRoot, SandboxSpec } from './spec';


/** One entry of a mount list, in the spirit of an OCI config's `mounts`. */
export interface MountEntry {
  /** The inside path. */
  destination: string;
  /** 'bind', 'symlink' (source is the link's text), or a filesystem type. */
  type: string;
  /** For a bind, the host path (null: the destination itself); for a filesystem, its source name. */
  source: string | null;
  /** MS_* flags (a bind includes MS_BIND; MS_RDONLY on a bind is applied to the whole bound tree). */
  flags: number;
  data?: string | null;
  /** What to make when the destination is missing. */
  create: 'dir' | 'file' | 'none';
  mode?: number;
  /** Skipped, not fatal, where the destination cannot be made. */
  optional?: boolean;
  /** Needs the id maps in place: it creates files in, or mounts with ids of, the user namespace. */
  needsIdMaps: boolean;
  /** For error messages: "mount a new proc on /proc". */
  what: string;
}

type Create = 'EXISTING' | 'CREATE_DIR' | 'CREATE_FILE';

/**
 * Makes the inside path `inner` the target of the next MOUNT_AT, SYMLINK_AT or CHDIR_AT, creating it as asked.
 * `optional`: where it cannot be made (a rootfs nook may not write to), the executor skips the mount on it.
 */
export function resolveOp(inner: string, create: Create, what: string, mode = create === 'CREATE_FILE' ? 0o644 : 0o755, optional = false): PlanOp {
  return { op: 'RESOLVE', args: [inner, Resolve[create] | (optional ? Resolve.OPTIONAL : 0), mode], what };
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

/** The plan steps of one entry: resolve its destination (made as asked), then mount (or link) there. */
function entryOps(e: MountEntry): PlanOp[] {
  if (e.type === 'symlink') {
    const dir = path.posix.dirname(e.destination);
    return [resolveOp(dir, 'EXISTING', `find ${dir}`), { op: 'SYMLINK_AT', args: [e.source, path.posix.basename(e.destination)], what: e.what }];
  }
  const create = e.create === 'file' ? 'CREATE_FILE' : e.create === 'dir' ? 'CREATE_DIR' : 'EXISTING';
  const what = create === 'EXISTING' ? `find ${e.destination}` : `create mount point ${e.destination}${e.optional ? ' (or go without it)' : ''}`;
  return [
    resolveOp(e.destination, create, what, e.mode, e.optional),
    { op: 'MOUNT_AT', args: [e.source, e.type === 'bind' ? null : e.type, e.flags, e.data ?? null], what: e.what },
  ];
}

/**
 * Steps that mount the rootfs and then `mounts`, in order, under it, then
 * make it /. With a directory rootfs, the entries before the first that needs
 * the id maps run while nook writes them.
 */
export function compileMounts(spec: Pick<SandboxSpec, 'rootfs' | 'overlay' | 'readOnly'>, mounts: readonly MountEntry[]): MountSteps {
  const R = assemblyRoot(spec.rootfs);
  const rootOps: PlanOp[] = [
    ...(spec.overlay
      ? overlayOps(spec.overlay, R)
      : [{ op: 'MOUNT', args: [spec.rootfs, R, null, MS.BIND | MS.REC, null], what: `bind the rootfs ${spec.rootfs} onto ${R}` } as PlanOp]),
    // From here on, every destination is resolved inside this directory.
    { op: 'SET_ROOT', args: [R], what: `open the rootfs ${spec.rootfs}` },
  ];
  const privateNs: PlanOp = { op: 'MOUNT', args: [null, '/', null, MS.REC | MS.PRIVATE, null], what: 'make the mount namespace private' };
  // Before anything covers /proc (the assembly of --rootfs / does): mount() names resolved fds through it.
  const holdProc: PlanOp = { op: 'HOLD_PROC', args: [], what: 'open /proc/self/fd' };
  // overlayfs checks the mounter's rights on its layers with the ids of the user namespace, and
  // mount points created on it get owners from it: with an image, everything waits for the maps.
  const split = spec.overlay ? 0 : mounts.findIndex((m) => m.needsIdMaps) < 0 ? mounts.length : mounts.findIndex((m) => m.needsIdMaps);
  const early = mounts.slice(0, split).flatMap(entryOps);
  const late = mounts.slice(split).flatMap(entryOps);
  const beforeIdMaps = spec.overlay ? [privateNs, holdProc] : [privateNs, holdProc, ...rootOps, ...early];
  const afterIdMaps: PlanOp[] = [...(spec.overlay ? rootOps : []), ...late];
  afterIdMaps.push({ op: 'PIVOT_ROOT', args: [R], what: `pivot_root into ${spec.rootfs}` });
  if (spec.readOnly) afterIdMaps.push({ op: 'REMOUNT_BIND', args: ['/', MS.RDONLY], what: 'make / read-only' });
  return { beforeIdMaps, afterIdMaps };
}
