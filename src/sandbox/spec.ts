/**
 * What a sandbox should be, fully decided: the CLI (and later the image and
 * container layers) fill this in; plan.ts turns it into syscalls.
 */
import type { IdMapping } from './idmap';

export interface BindMount {
  source: string; // absolute host path
  target: string; // absolute path inside the sandbox
  readOnly: boolean;
  /** More MS_* flags for the mount: MS_NOEXEC, MS_NOSUID, MS_NODEV (podman's -v noexec,nosuid,nodev; a volume's o=). */
  flags?: number;
  /** Skipped, not fatal, where the mount point cannot be made (nook's generated /etc files on a rootfs it may not write). */
  optional?: boolean;
  /** Bound only where the mount point exists already: nothing is made in the tree (a --rootfs container's /run/.containerenv). */
  existingOnly?: boolean;
}

export interface TmpfsMount {
  target: string;
  options: string; // tmpfs mount data, e.g. "mode=1777,size=64m"
  flags: number;   // MS_* flags
}

export interface ProcessUser {
  uid: number;
  gid: number;
  /** Supplementary groups; only set when the id mapping allows setgroups(). */
  groups: number[];
  /** podman's --group-add keep-groups: no setgroups(), the groups nook runs with stay (unmapped ones show as the overflow gid). */
  keepGroups?: boolean;
}

/** An image's root filesystem: its layers under a writable layer of the container's own, joined by overlayfs. */
export interface OverlayRoot {
  /** The store's l/ directory, where the layers' short links live. */
  linkDir: string;
  /** Short link names of the layers, topmost first. */
  lowers: string[];
  /** The layers' host directories, topmost first (to read the image before it is mounted). */
  lowerDirs: string[];
  upper: string;
  work: string;
}

/** What the command may do: capabilities, no_new_privs, seccomp, masked /proc and /sys paths. */
export interface SecuritySpec {
  /** Capabilities kept, as a bit mask (see capabilities.ts). */
  caps: bigint;
  /** Their names, for seccomp rules that depend on them. */
  capNames: string[];
  /** prctl(PR_SET_NO_NEW_PRIVS): setuid binaries and file capabilities gain nothing. */
  noNewPrivs: boolean;
  /** The compiled seccomp filter (struct sock_filter[]); undefined: unconfined. */
  seccomp?: Buffer;
  /** Hide /proc/kcore and friends, make /proc/sys and friends read-only (not with --privileged). */
  maskPaths: boolean;
}

/** cgroup v2 limits; a field left out is not limited. */
export interface ResourceLimits {
  memoryBytes?: number;
  /** memory + swap, as docker's --memory-swap (-1: unlimited swap). */
  memorySwapBytes?: number;
  /** CPUs' worth of time, e.g. 0.5. */
  cpus?: number;
  /** cpu.weight, 1..10000 (--cpu-shares is converted). */
  cpuWeight?: number;
  pidsLimit?: number;
  /** io.weight, 1..10000 (--blkio-weight is converted). */
  ioWeight?: number;
}

export interface Rlimit {
  name: string;
  resource: number;
  soft: number;
  hard: number;
}

/**
 * 'none': a network namespace of its own with only loopback up; 'host': the
 * host's; 'pasta' and 'slirp4netns': a namespace of its own that the helper of
 * that name connects to the host's network (user-mode NAT, see network/);
 * 'container': another running sandbox's (SandboxSpec.joinNetns).
 */
export type SandboxNetwork = 'none' | 'host' | 'pasta' | 'slirp4netns' | 'container';

/**
 * The running sandbox whose network namespace a 'container' sandbox joins.
 * An unprivileged process may join a network namespace only from inside the
 * user namespace that owns it, so the new sandbox joins that one too (its id
 * mapping must be the same), then makes its other namespaces there.
 */
export interface JoinedNetns {
  /** Host pid of the other sandbox's init, and its start time (against a reused pid). */
  pid: number;
  pidStart?: number;
  /** For messages and inspect: its id and name. */
  id: string;
  name: string;
}

/** The same shape as the container layer's PortMapping (request.ts). */
export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** Whether the sandbox gets a network namespace of its own (every mode but the host's and another container's). */
export const ownNetns = (network: SandboxNetwork): boolean => network !== 'host' && network !== 'container';

/** The network as docker names it in inspect and ps: the mode, or container:ID for a shared one. */
export const networkName = (spec: Pick<SandboxSpec, 'network' | 'joinNetns'>): string =>
  spec.network === 'container' && spec.joinNetns ? `container:${spec.joinNetns.id}` : spec.network;

/** The ports nook's own proxy serves: those of a loopback-only sandbox (a helper serves the private modes'). */
export const proxiedPorts = (spec: Pick<SandboxSpec, 'network' | 'ports'>): PublishedPort[] => (spec.network === 'none' ? (spec.ports ?? []) : []);

export interface SandboxSpec {
  rootfs: string;             // absolute host path of the directory that becomes / (with overlay: the mount point)
  overlay?: OverlayRoot;      // an image's layers, mounted on rootfs
  argv: string[];             // command and arguments, argv[0] looked up in PATH when it has no '/'
  env: string[];              // final environment, K=V
  cwd: string;                // working directory inside
  user: ProcessUser;
  hostname: string;
  network: SandboxNetwork;
  /**
   * Published host ports: served by the network helper (pasta -t/-u,
   * slirp4netns add_hostfwd) in the private modes, by nook's port proxy
   * into the loopback-only namespace with 'none' (proxiedPorts).
   * hostPort 0: a free one, chosen when the ports are bound.
   */
  ports?: PublishedPort[];
  /** network 'container': whose network namespace (and user namespace) it joins. */
  joinNetns?: JoinedNetns;
  readOnly: boolean;          // read-only /
  binds: BindMount[];
  tmpfs: TmpfsMount[];
  tty: boolean;               // allocate a pty for the command
  ttySize?: { rows: number; cols: number }; // its initial size: the user's terminal's
  interactive: boolean;       // keep stdin attached
  /** Without a tty: an fd of nook's that becomes the command's stdout and stderr (a quiet build's /dev/null). */
  outputFd?: number;
  /** With outputFd: the command's stderr goes here instead (a logged foreground run's stderr pipe). */
  errorFd?: number;
  idmap: IdMapping;
  security: SecuritySpec;
  /** Resource limits: when set, the sandbox gets a cgroup of its own. */
  resources?: ResourceLimits;
  /** 'cgroupfs' (default) or 'systemd' (through the user's systemd, over D-Bus). */
  cgroupManager?: 'cgroupfs' | 'systemd';
  ulimits: Rlimit[];
  /** --init: a minimal init as PID 1 that forwards signals to the command and reaps zombies. */
  init?: boolean;
  /** --preserve-fds N: nook's descriptors 3..3+N-1 reach the command. */
  preserveFds?: number;
}
