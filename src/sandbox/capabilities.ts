/**
 * Linux capabilities by name, and the set a container keeps: docker's
 * default (its own list, not "all but a few"), changed by --cap-add and
 * --cap-drop ("ALL" works in both), or every capability with --privileged.
 * The set is a bit mask the plan applies to the bounding, effective,
 * permitted and inheritable sets; ambient capabilities are always cleared.
 */
import { UsageError } from '../errors';

/** Number of each capability (include/uapi/linux/capability.h). */
export const CAPABILITIES: Record<string, number> = {
  CHOWN: 0, DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8,
  LINUX_IMMUTABLE: 9, NET_BIND_SERVICE: 10, NET_BROADCAST: 11, NET_ADMIN: 12, NET_RAW: 13, IPC_LOCK: 14, IPC_OWNER: 15,
  SYS_MODULE: 16, SYS_RAWIO: 17, SYS_CHROOT: 18, SYS_PTRACE: 19, SYS_PACCT: 20, SYS_ADMIN: 21, SYS_BOOT: 22, SYS_NICE: 23,
  SYS_RESOURCE: 24, SYS_TIME: 25, SYS_TTY_CONFIG: 26, MKNOD: 27, LEASE: 28, AUDIT_WRITE: 29, AUDIT_CONTROL: 30, SETFCAP: 31,
  MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34, WAKE_ALARM: 35, BLOCK_SUSPEND: 36, AUDIT_READ: 37, PERFMON: 38, BPF: 39,
  CHECKPOINT_RESTORE: 40,
};

/** docker's default set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPS = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP',
  'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
];

const ALL = Object.keys(CAPABILITIES);

/** "cap_sys_admin", "CAP_SYS_ADMIN" and "sys_admin" all name SYS_ADMIN; "ALL" is every one. */
function normalise(name: string, flag: string): string[] {
  const n = name.trim().toUpperCase().replace(/^CAP_/, '');
  if (n === 'ALL') return ALL;
  if (!(n in CAPABILITIES))
    throw new UsageError(`unknown capability "${name}" in ${flag}`, `capabilities are e.g. NET_ADMIN, SYS_PTRACE or ALL (see capabilities(7))`);
  return [n];
}

export interface CapabilitySet {
  /** Names without the CAP_ prefix, sorted by number. */
  names: string[];
  mask: bigint;
}

export function capabilitySet(add: string[], drop: string[], privileged: boolean): CapabilitySet {
  let keep = new Set(privileged ? ALL : DEFAULT_CAPS);
  // docker applies drops, then adds: "--cap-drop ALL --cap-add NET_ADMIN" keeps only NET_ADMIN.
  const dropped = drop.flatMap((d) => normalise(d, '--cap-drop'));
  if (dropped.length === ALL.length) keep = new Set();
  else for (const d of dropped) keep.delete(d);
  for (const a of add.flatMap((x) => normalise(x, '--cap-add'))) keep.add(a);
  const names = [...keep].sort((a, b) => CAPABILITIES[a] - CAPABILITIES[b]);
  return { names, mask: names.reduce((m, n) => m | (1n << BigInt(CAPABILITIES[n])), 0n) };
}
