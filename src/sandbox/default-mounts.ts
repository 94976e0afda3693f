/**
 * docker's filesystem layout for a container, as an ordered mount list for
 * mounts.ts to compile: a fresh /proc, /sys (its own sysfs, or the host's
 * read-only with --network host), masked and read-only /proc and /sys paths,
 * the user's binds, a tmpfs /dev with the host's basic nodes, /dev/shm,
 * devpts, the container's cgroup, the user's tmpfs mounts. An OCI bundle
 * brings a list of its own instead; nothing here knows how it is mounted.
 */
import fs = require('node:fs');
import { MS } from '../../ffi/linux';
import type { MountEntry } from './mounts';
import { ownNetns, type BindMount, type SandboxSpec } from './spec';

/** Host device nodes bound into the sandbox's /dev, as docker provides them. */
export const DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
  ['pts/ptmx', '/dev/ptmx'],
];

/** docker's masked paths: what a container must not read (kernel memory, keys, timers, firmware). */
export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
/** docker's read-only paths: kernel settings a container must not change. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A filesystem mounted at `destination` (created as a directory when missing). */
const fresh = (destination: string, type: string, source: string, flags: number, data: string | null, what: string, needsIdMaps: boolean): MountEntry => ({
  destination, type, source, flags, data, create: 'dir', needsIdMaps, what,
});

/** The whole list for `spec`, in mount order. */
export function containerMounts(spec: SandboxSpec): MountEntry[] {
  // gid=5 (tty) only exists inside when more than one id is mapped.
  const ptsGid = spec.idmap.gid.some((r) => 5 >= r.inside && 5 - r.inside < r.count) ? ',gid=5' : '';
  const list: MountEntry[] = [
    fresh('/proc', 'proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, null, 'mount a new proc on /proc', false),
    sysMount(spec.network),
    ...(spec.security.maskPaths ? maskMounts() : []),
    ...spec.binds.map(bindMount),
    // Files created in a filesystem mounted inside the namespace need mapped owners (else EOVERFLOW): from here on, after the id maps.
    ...devMounts(),
    fresh('/dev/pts', 'devpts', 'devpts', MS.NOSUID | MS.NOEXEC, `newinstance,ptmxmode=0666,mode=0620${ptsGid}`, 'mount a new devpts instance on /dev/pts', true),
  ];
  if (spec.resources && ownNetns(spec.network))
    // The sandbox's own cgroup, as the root of its cgroup namespace (entered right after the id maps).
    list.push({
      destination: '/sys/fs/cgroup', type: 'cgroup2', source: 'cgroup2', create: 'none', needsIdMaps: true, what: 'mount its cgroup on /sys/fs/cgroup', data: null,
      flags: MS.NOSUID | MS.NODEV | MS.NOEXEC | (spec.security.maskPaths ? MS.RDONLY : 0),
    });
  for (const t of spec.tmpfs) list.push(fresh(t.target, 'tmpfs', 'tmpfs', t.flags, t.options, `mount a tmpfs on ${t.target}`, true));
  return list;
}

function sysMount(network: SandboxSpec['network']): MountEntry {
  // A sysfs of our own needs a network namespace owned by our user namespace.
  if (ownNetns(network)) return fresh('/sys', 'sysfs', 'sysfs', MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RDONLY, null, 'mount sysfs read-only on /sys', false);
  // The host's, read-only with every submount (/sys/fs/cgroup...): the executor sets the
  // attribute on the whole copied tree before attaching it (mount_setattr, Linux 5.12).
  return { destination: '/sys', type: 'bind', source: '/sys', flags: MS.BIND | MS.REC | MS.RDONLY, create: 'dir', needsIdMaps: false, what: "bind the host's /sys read-only" };
}

function bindMount(b: BindMount): MountEntry {
  return {
    destination: b.target,
    type: 'bind',
    source: b.source,
    flags: MS.BIND | MS.REC | (b.readOnly ? MS.RDONLY : 0) | ((b.flags ?? 0) & (MS.NOEXEC | MS.NOSUID | MS.NODEV)),
    create: b.existingOnly ? 'none' : isDirectory(b.source) ? 'dir' : 'file',
    optional: b.optional || b.existingOnly,
    needsIdMaps: false,
    what: `bind ${b.source} on ${b.target}${b.readOnly ? ' read-only' : ''}`,
  };
}

/** A tmpfs /dev with the host's basic nodes bound in, /dev/shm, and the usual links. */
function devMounts(): MountEntry[] {
  const list: MountEntry[] = [fresh('/dev', 'tmpfs', 'tmpfs', MS.NOSUID | MS.STRICTATIME, 'mode=755,size=65536k', 'mount a tmpfs on /dev', true)];
  for (const node of DEV_NODES)
    list.push({
      destination: `/dev/${node}`, type: 'bind', source: `/dev/${node}`, flags: MS.BIND, create: 'file', mode: 0o666, needsIdMaps: true, what: `bind the host's /dev/${node}`,
    });
  list.push(fresh('/dev/shm', 'tmpfs', 'shm', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=65536k', 'mount a tmpfs on /dev/shm', true));
  for (const [text, link] of DEV_LINKS)
    list.push({ destination: link, type: 'symlink', source: text, flags: 0, create: 'none', needsIdMaps: true, what: `link ${link} to ${text}` });
  return list;
}

/**
 * Masked files get /dev/null bound over them, masked directories an empty
 * read-only tmpfs; read-only paths are bound onto themselves, read-only.
 * /proc and /sys show the same entries inside as on the host (they depend on
 * the kernel, not the namespace), so paths missing here are skipped.
 */
function maskMounts(): MountEntry[] {
  const list: MountEntry[] = [];
  for (const p of MASKED_PATHS) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    list.push(
      st.isDirectory()
        ? { destination: p, type: 'tmpfs', source: 'tmpfs', flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'size=0', create: 'none', needsIdMaps: false, what: `mask ${p}` }
        : { destination: p, type: 'bind', source: '/dev/null', flags: MS.BIND, create: 'none', needsIdMaps: false, what: `mask ${p}` },
    );
  }
  for (const p of READONLY_PATHS)
    if (fs.existsSync(p))
      list.push({ destination: p, type: 'bind', source: null, flags: MS.BIND | MS.REC | MS.RDONLY, create: 'none', needsIdMaps: false, what: `make ${p} read-only` });
  return list;
}
