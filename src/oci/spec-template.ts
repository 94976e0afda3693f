/**
 * The starter config.json of `nook oci spec`: what `runc spec` writes (runc
 * 1.1's libcontainer/specconv Example()), and with `--rootless` what
 * ToRootless() makes of it: a user namespace mapping root to the caller, no
 * network namespace (an unprivileged user could not give it one), no device
 * cgroup rules, /sys bound from the host (sysfs cannot be mounted without a
 * network namespace of one's own), and no gid=5 on /dev/pts (that group is
 * not mapped). Field for field the same, so tools and tutorials written for
 * runc's template work; the ociVersion is runc's too.
 */

export interface SpecTemplateOptions {
  rootless: boolean;
  /** process.args; default ["sh"]. */
  args?: string[];
  /** Host ids root maps to with rootless; default the effective uid/gid, as runc. */
  uid?: number;
  gid?: number;
}

/** The ociVersion runc 1.1 writes. */
export const TEMPLATE_OCI_VERSION = '1.0.2-dev';

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** A fresh object each call: callers may edit it. */
export function specTemplate(opts: SpecTemplateOptions): Record<string, unknown> {
  const { rootless } = opts;
  const namespaces = rootless ? ['pid', 'ipc', 'uts', 'mount', 'user'] : ['pid', 'network', 'ipc', 'uts', 'mount'];
  const idMap = (hostID: number) => [{ containerID: 0, hostID, size: 1 }];
  return {
    ociVersion: TEMPLATE_OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: [...(opts.args ?? ['sh'])],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS], ambient: [...CAPS] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(rootless ? [] : ['gid=5'])],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      rootless
        ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
        : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      ...(rootless
        ? { uidMappings: idMap(opts.uid ?? process.geteuid?.() ?? 0), gidMappings: idMap(opts.gid ?? process.getegid?.() ?? 0) }
        : { resources: { devices: [{ allow: false, access: 'rwm' }] } }),
      namespaces: namespaces.map((type) => ({ type })),
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
