/**
 * What `nook oci features` prints: runc's `features` JSON (runtime-spec
 * features.md), but saying what nook does, not what runc does: cgroup v2
 * only, no AppArmor or SELinux, no seccomp agents, and the mount options
 * MOUNT_OPTIONS can carry out.
 *
 * MOUNT_OPTIONS is also what the OCI mount translation uses, so the list
 * features() gives and the options config.json may use are one table.
 */
import { AT, MOUNT_ATTR, MS } from '../../ffi/linux';
import { CAPABILITIES } from '../sandbox/capabilities';
import { OCI_SECCOMP_ACTIONS, OCI_SECCOMP_ARCHES, OCI_SECCOMP_FLAGS, OCI_SECCOMP_KNOWN_FLAGS, OCI_SECCOMP_OPERATORS } from './seccomp';

declare const NOOK_VERSION: string | undefined;

export const OCI_VERSION_MIN = '1.0.0';
export const OCI_VERSION_MAX = '1.0.2-dev';

export const HOOKS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

/** Namespace types of config.json's linux.namespaces. */
export const NAMESPACES = ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'] as const;

/**
 * What one OCI mount option does, in the terms of mount(2) and mount_setattr(2):
 *   - `set` / `clear`: MS_* flags to add to / take out of the mount's flags;
 *   - `bind`: a bind mount (MS_BIND), of the whole tree with `recursive` (MS_REC);
 *   - `propagation`: MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE, applied
 *     with a separate mount(2) call after the mount, to the whole tree with
 *     `recursive` (MS_REC);
 *   - with `recursive` and set/clear (rro, rnosuid, ...): the flags are applied
 *     to the mount and every mount below it, by mount_setattr(AT_RECURSIVE)
 *     with `attrSet` / `attrClear` (MOUNT_ATTR_*; kernel 5.12). Setting an
 *     atime mode clears the MOUNT_ATTR__ATIME field first, as the kernel
 *     requires, and the atime options that undo one (ratime, rnorelatime,
 *     rnostrictatime) go back to relatime, the kernel's default.
 * An option without any of them ("defaults") changes nothing.
 */
export interface MountOption {
  set?: number;
  clear?: number;
  propagation?: number;
  recursive?: boolean;
  bind?: boolean;
  attrSet?: number;
  attrClear?: number;
}

/** AT_RECURSIVE, the flag mount_setattr(2) takes for a recursive option. */
export const MOUNT_SETATTR_RECURSIVE = AT.RECURSIVE;

const flag = (set: number): MountOption => ({ set });
const unflag = (clear: number): MountOption => ({ clear });
const propagation = (p: number, recursive: boolean): MountOption => (recursive ? { propagation: p, recursive } : { propagation: p });
const ATIME_MODE = MOUNT_ATTR._ATIME;
/** A recursive option: MS_ flags for the record, MOUNT_ATTR_ ones for mount_setattr. */
const rec = (ms: { set?: number; clear?: number }, attrSet: number, attrClear: number): MountOption => ({ ...ms, recursive: true, attrSet, attrClear });

/** runc's mount option names (its `features` list), less tmpcopyup (no MS_ flag: a copy runc makes itself). */
export const MOUNT_OPTIONS: Readonly<Record<string, MountOption>> = {
  defaults: {},
  ro: flag(MS.RDONLY),
  rw: unflag(MS.RDONLY),
  nosuid: flag(MS.NOSUID),
  suid: unflag(MS.NOSUID),
  nodev: flag(MS.NODEV),
  dev: unflag(MS.NODEV),
  noexec: flag(MS.NOEXEC),
  exec: unflag(MS.NOEXEC),
  sync: flag(MS.SYNCHRONOUS),
  async: unflag(MS.SYNCHRONOUS),
  dirsync: flag(MS.DIRSYNC),
  remount: flag(MS.REMOUNT),
  mand: flag(MS.MANDLOCK),
  nomand: unflag(MS.MANDLOCK),
  noatime: flag(MS.NOATIME),
  atime: unflag(MS.NOATIME),
  nodiratime: flag(MS.NODIRATIME),
  diratime: unflag(MS.NODIRATIME),
  relatime: flag(MS.RELATIME),
  norelatime: unflag(MS.RELATIME),
  strictatime: flag(MS.STRICTATIME),
  nostrictatime: unflag(MS.STRICTATIME),
  iversion: flag(MS.I_VERSION),
  noiversion: unflag(MS.I_VERSION),
  lazytime: flag(MS.LAZYTIME),
  nolazytime: unflag(MS.LAZYTIME),
  acl: flag(MS.POSIXACL),
  noacl: unflag(MS.POSIXACL),
  silent: flag(MS.SILENT),
  loud: unflag(MS.SILENT),
  nosymfollow: flag(MS.NOSYMFOLLOW),
  symfollow: unflag(MS.NOSYMFOLLOW),
  bind: { bind: true },
  rbind: { bind: true, recursive: true },
  private: propagation(MS.PRIVATE, false),
  rprivate: propagation(MS.PRIVATE, true),
  shared: propagation(MS.SHARED, false),
  rshared: propagation(MS.SHARED, true),
  slave: propagation(MS.SLAVE, false),
  rslave: propagation(MS.SLAVE, true),
  unbindable: propagation(MS.UNBINDABLE, false),
  runbindable: propagation(MS.UNBINDABLE, true),
  rro: rec({ set: MS.RDONLY }, MOUNT_ATTR.RDONLY, 0),
  rrw: rec({ clear: MS.RDONLY }, 0, MOUNT_ATTR.RDONLY),
  rnosuid: rec({ set: MS.NOSUID }, MOUNT_ATTR.NOSUID, 0),
  rsuid: rec({ clear: MS.NOSUID }, 0, MOUNT_ATTR.NOSUID),
  rnodev: rec({ set: MS.NODEV }, MOUNT_ATTR.NODEV, 0),
  rdev: rec({ clear: MS.NODEV }, 0, MOUNT_ATTR.NODEV),
  rnoexec: rec({ set: MS.NOEXEC }, MOUNT_ATTR.NOEXEC, 0),
  rexec: rec({ clear: MS.NOEXEC }, 0, MOUNT_ATTR.NOEXEC),
  rnodiratime: rec({ set: MS.NODIRATIME }, MOUNT_ATTR.NODIRATIME, 0),
  rdiratime: rec({ clear: MS.NODIRATIME }, 0, MOUNT_ATTR.NODIRATIME),
  rnosymfollow: rec({ set: MS.NOSYMFOLLOW }, MOUNT_ATTR.NOSYMFOLLOW, 0),
  rsymfollow: rec({ clear: MS.NOSYMFOLLOW }, 0, MOUNT_ATTR.NOSYMFOLLOW),
  rnoatime: rec({ set: MS.NOATIME }, MOUNT_ATTR.NOATIME, ATIME_MODE),
  ratime: rec({ clear: MS.NOATIME }, MOUNT_ATTR.RELATIME, ATIME_MODE),
  rrelatime: rec({ set: MS.RELATIME }, MOUNT_ATTR.RELATIME, ATIME_MODE),
  rnorelatime: rec({ clear: MS.RELATIME }, MOUNT_ATTR.RELATIME, ATIME_MODE),
  rstrictatime: rec({ set: MS.STRICTATIME }, MOUNT_ATTR.STRICTATIME, ATIME_MODE),
  rnostrictatime: rec({ clear: MS.STRICTATIME }, MOUNT_ATTR.RELATIME, ATIME_MODE),
};

const sorted = (xs: Iterable<string>) => [...xs].sort();

/** The features JSON (runtime-spec features.md); a fresh object each call. */
export function features(): Record<string, unknown> {
  return {
    ociVersionMin: OCI_VERSION_MIN,
    ociVersionMax: OCI_VERSION_MAX,
    hooks: [...HOOKS],
    mountOptions: sorted(Object.keys(MOUNT_OPTIONS)),
    linux: {
      namespaces: [...NAMESPACES],
      capabilities: Object.keys(CAPABILITIES)
        .sort((a, b) => CAPABILITIES[a] - CAPABILITIES[b])
        .map((c) => `CAP_${c}`),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: sorted(OCI_SECCOMP_ACTIONS),
        operators: sorted(OCI_SECCOMP_OPERATORS),
        archs: sorted(OCI_SECCOMP_ARCHES),
        knownFlags: [...OCI_SECCOMP_KNOWN_FLAGS],
        supportedFlags: Object.keys(OCI_SECCOMP_FLAGS),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: { 'nook.version': typeof NOOK_VERSION === 'string' ? NOOK_VERSION : '0.0.0-dev' },
  };
}
