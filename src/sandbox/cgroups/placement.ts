/**
 * Where the container's cgroup goes, decided the way rootless crun and podman
 * do: in the subtree that systemd (Delegate=yes) or an administrator handed to
 * the user, found from the cgroup nook itself runs in. Or, when there is no
 * such place, a NookError that says which of the reasons it is (cgroup v1,
 * no delegation, a controller missing) and how to fix it.
 *
 * The kernel's "no internal processes" rule: a cgroup other than the root
 * cannot both hold processes and hand controllers to children. nook's own
 * cgroup always holds a process (nook), often also the shell that started it.
 * So, in this order:
 *  - leaf: when nook is alone in its delegated cgroup (`systemd-run --user
 *    --scope -p Delegate=yes nook run`, a service with Delegate=yes, a
 *    container's delegated cgroup namespace), it moves into a leaf of its own
 *    first, as crun does, and the container's cgroup is created beside that
 *    leaf; both go away at exit and nook moves back. Everything stays inside
 *    the cgroup systemd delegated, where no one else writes.
 *  - sibling: when others share nook's cgroup (the shell, in a terminal's
 *    scope under user@UID.service/app.slice) but its parent is the user's
 *    too, the container's cgroup is created next to nook's. Nothing moves:
 *    the shell and nook stay where systemd put them. The parent is a slice of
 *    the user's systemd, which may take back a controller none of its own
 *    units uses when it next touches the slice: the leaf is preferred.
 *  - root: nook in the root cgroup (root user, no systemd) creates it there.
 * With others in nook's cgroup and a parent that is not the user's, there is
 * no place that would not move processes nook does not own: an error with a
 * hint.
 */
import path = require('node:path');
import { NookError } from '../../errors';
import type { ResourceLimits } from '../spec';
import { cgroupDir, detectLayout, isDelegated, ownerName, readControllerList, readProcs, unifiedCgroupPath, CGROUP_MOUNT, type CgroupLayout } from './detect';
import { flagsFor, limitFlagNames, neededControllers, type Controller } from './limits';

/** What placement reads of the host (tests pass their own). */
export interface CgroupHost {
  mountinfo: string;
  /** /proc/self/cgroup */
  selfCgroup: string;
  uid: number;
  pid: number;
  userName: string;
  /** Where the cgroup tree is expected (default /sys/fs/cgroup). */
  cgroupMount?: string;
}

export interface Placement {
  /** The directory the container's cgroup is created in. */
  parent: string;
  /** The directories whose cgroup.subtree_control must offer the controllers, from the top of the delegation down to `parent`. */
  enablePath: string[];
  /** Leaf mode: the cgroup nook moves itself into before enabling controllers in `parent` (its own). */
  leaf?: string;
  /** nook's own cgroup. */
  self: string;
  controllers: Controller[];
}

const DELEGATE_DROPIN =
  'as root, create /etc/systemd/system/user@.service.d/delegate.conf containing\n' +
  '    [Service]\n' +
  '    Delegate=cpu cpuset io memory pids\n' +
  '  then run `systemctl daemon-reload` and log out and in again';

function withoutLimits(limits: ResourceLimits): string {
  return `or run without ${limitFlagNames(limits)}`;
}

function versionError(layout: CgroupLayout, limits: ResourceLimits): NookError {
  const what =
    layout.mode === 'hybrid'
      ? 'this host uses cgroup v1 (a hybrid setup: the controllers are in cgroup v1, and the cgroup v2 tree at /sys/fs/cgroup/unified has none)'
      : layout.mode === 'v1'
        ? 'this host uses cgroup v1'
        : `no cgroup filesystem is mounted on ${CGROUP_MOUNT}`;
  const fix =
    layout.mode === 'none'
      ? `mount cgroup v2 there (mount -t cgroup2 none ${CGROUP_MOUNT})`
      : 'boot the host with cgroup v2: add systemd.unified_cgroup_hierarchy=1 to the kernel command line ' +
        '(GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and reboot)';
  return new NookError(`resource limits (${limitFlagNames(limits)}) need cgroup v2, but ${what}`, { hint: `${fix}, ${withoutLimits(limits)}` });
}

function notDelegatedError(self: string, mountPoint: string, host: CgroupHost, limits: ResourceLimits): NookError {
  const rel = `/${path.relative(mountPoint, self)}`;
  return new NookError(
    `resource limits (${limitFlagNames(limits)}) need a cgroup delegated to you, but nook runs in the cgroup ${rel}, which belongs to ${ownerName(self)}`,
    {
      hint:
        'start nook in a scope of your systemd user manager, which delegates cgroups to you:\n' +
        '  systemd-run --user --scope -p Delegate=yes nook run ...\n' +
        `  (it needs a user session: \`loginctl enable-linger ${host.userName}\` keeps one; a login via su or sudo has none), ` +
        `${withoutLimits(limits)}`,
    },
  );
}

function crowdedError(self: string, mountPoint: string, others: number, limits: ResourceLimits): NookError {
  const rel = `/${path.relative(mountPoint, self)}`;
  return new NookError(
    `no place for the container's cgroup: nook's cgroup ${rel} is delegated to you, but ${others} other ${others === 1 ? 'process shares' : 'processes share'} it ` +
      'and its parent is not yours, and the kernel lets a cgroup hand controllers to children only when it holds no processes itself',
    {
      hint: 'give nook a delegated cgroup of its own: `systemd-run --user --scope -p Delegate=yes nook run ...`, ' +
        `or exec nook from a shell alone in that cgroup, ${withoutLimits(limits)}`,
    },
  );
}

function missingControllerError(missing: Controller[], top: string, mountPoint: string, offered: string[], limits: ResourceLimits): NookError {
  const rel = `/${path.relative(mountPoint, top)}`;
  const names = missing.map((c) => `${c} (for ${flagsFor(c, limits)})`).join(', ');
  return new NookError(
    `the cgroup controller${missing.length > 1 ? 's' : ''} ${names} ${missing.length > 1 ? 'are' : 'is'} not delegated to you: ` +
      `your cgroup ${rel} offers ${offered.length ? offered.join(' ') : 'no controllers'}`,
    { hint: `${DELEGATE_DROPIN}; ${withoutLimits(limits)}` },
  );
}

/** Decides where the container's cgroup goes, or throws the NookError that says why it can't have one. */
export function placeCgroup(limits: ResourceLimits, host: CgroupHost, name: string): Placement {
  const layout = detectLayout(host.mountinfo, host.cgroupMount);
  if (layout.mode !== 'v2' || !layout.unified) throw versionError(layout, limits);
  const { mountPoint } = layout.unified;
  const own = unifiedCgroupPath(host.selfCgroup);
  const self = own === undefined ? undefined : cgroupDir(own, layout.unified);
  if (self === undefined || !readProcsSafe(self).includes(host.pid))
    throw new NookError(`cannot find nook's own cgroup (${own ?? 'no cgroup v2 entry in /proc/self/cgroup'}) under ${mountPoint}`, {
      hint: `mount the cgroup v2 tree nook runs in on ${mountPoint} (in a container: give it a cgroup namespace of its own), ${withoutLimits(limits)}`,
    });
  const controllers = neededControllers(limits);

  let parent: string;
  let leaf: string | undefined;
  if (self === mountPoint) {
    if (!isDelegated(self, host.uid)) throw notDelegatedError(self, mountPoint, host, limits);
    parent = self; // the root cgroup is exempt from the no-internal-processes rule
  } else if (!isDelegated(self, host.uid)) {
    throw notDelegatedError(self, mountPoint, host, limits);
  } else {
    const others = readProcsSafe(self).filter((p) => p !== host.pid).length;
    if (others === 0) {
      parent = self;
      leaf = path.join(self, `nook-${name}-supervisor`);
    } else if (path.dirname(self) !== mountPoint && isDelegated(path.dirname(self), host.uid)) {
      parent = path.dirname(self);
    } else {
      throw crowdedError(self, mountPoint, others, limits);
    }
  }

  // Up to the top of the delegation: the highest cgroup the user owns (not the root cgroup, whose controllers are all there).
  const enablePath = [parent];
  while (enablePath[0] !== mountPoint && path.dirname(enablePath[0]) !== mountPoint && isDelegated(path.dirname(enablePath[0]), host.uid))
    enablePath.unshift(path.dirname(enablePath[0]));
  const top = enablePath[0];
  const offered = readControllerList(path.join(top, 'cgroup.controllers'));
  const missing = controllers.filter((c) => !offered.includes(c));
  if (missing.length) throw missingControllerError(missing, top, mountPoint, offered, limits);
  return { parent, enablePath, leaf, self, controllers };
}

function readProcsSafe(dir: string): number[] {
  try {
    return readProcs(dir);
  } catch {
    return [];
  }
}
