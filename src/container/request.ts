/**
 * What a caller asks of a container, typed and already validated: where its
 * / comes from, the process, mounts, network, security, limits. The CLI
 * makes one from `nook run` flags; an image build step, an OCI bundle or a
 * kept container's `nook start` make one without any flags. compose.ts turns
 * it into a SandboxSpec (as runc's specconv turns an OCI spec into its
 * config), deciding everything that depends on the host and the image.
 *
 * Plain data, JSON-safe: a container's record keeps its request, so `start`
 * composes the container again on the host as it is then.
 */
import type { SeccompProfile } from '../sandbox/seccomp';
import type { BindMount, ResourceLimits, Rlimit, TmpfsMount } from '../sandbox/spec';

export interface ProcessRequest {
  /** The command (with a rootfs) or the arguments that replace the image's Cmd (with an image). */
  args: string[];
  /** Replaces the image's Entrypoint and drops its Cmd; "" (or []) clears it; a list is the exec form. */
  entrypoint?: string | string[];
  /** K=V entries on top of the image's Env, later ones winning. */
  env: string[];
  /** podman's --unsetenv: names left out of the defaults and the image's Env (an `env` entry still sets them). */
  unsetEnv?: string[];
  /** podman's --unsetenv-all: only the `env` entries, no defaults, nothing of the image's. */
  unsetAllEnv?: boolean;
  workdir?: string;
  /** docker's -u syntax: UID, NAME, UID:GID or NAME:GROUP. */
  user?: string;
  tty: boolean;
  interactive: boolean;
  /** A minimal init as PID 1 (forwards signals, reaps zombies). */
  init: boolean;
  /** --group-add: supplementary groups (gids or names from the rootfs's /etc/group). */
  groupAdd?: string[];
  /** podman's --group-add keep-groups: the process keeps nook's own supplementary groups (no setgroups()). */
  keepGroups?: boolean;
  /** --preserve-fds N: nook's fds 3..3+N-1 passed on to the command. */
  preserveFds?: number;
  ulimits: Rlimit[];
}

export interface PortMapping {
  /** Host address to listen on ('' = all). */
  hostIp: string;
  /** 0: a free port chosen at run time. */
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/**
 * 'none': loopback only; 'host': the host's network; 'pasta' and
 * 'slirp4netns': a private network through that helper; container: another
 * container's network namespace. 'auto' (-p with no mode asked for): pasta
 * where the host allows it, else loopback with nook's own port proxy.
 */
export type NetworkMode = 'none' | 'host' | 'pasta' | 'slirp4netns' | 'auto' | { container: string };

export interface NetworkRequest {
  mode: NetworkMode;
  /** -p: host ports published to the container's. */
  ports: PortMapping[];
  /** -P: the image's EXPOSE ports, each on a free host port. */
  publishAll: boolean;
  /** /etc/resolv.conf's nameservers instead of the host's. */
  dns: string[];
  dnsSearch: string[];
  /** Extra /etc/hosts lines. */
  addHosts: { name: string; ip: string }[];
}

export interface SecurityRequest {
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  noNewPrivs: boolean;
  /** docker's default profile, none, or a profile the caller read (kept whole, so start needs no file). */
  seccomp: 'default' | 'unconfined' | { profile: SeccompProfile };
}

/** A volume mounted into the container (-v NAME:/dest, -v /dest, --mount type=volume, the image's VOLUMEs). */
export interface VolumeMount {
  /** The volume; an anonymous one gets a random name when the request is made, so that `start` mounts the same. */
  name: string;
  target: string;
  readOnly: boolean;
  /** Made for this container: removed with it by rm -v and --rm. */
  anonymous: boolean;
  /** :U (podman's): chown the volume's files to the container's user. */
  chown?: boolean;
  /** --mount volume-nocopy: a new volume is not filled from the image. */
  noCopy?: boolean;
  /** MS_NOEXEC, MS_NOSUID, MS_NODEV for its mount (podman's -v options). */
  flags?: number;
  /** --mount volume-label=K=V: labels of a volume made for this mount. */
  labels?: string[];
}

export interface RunRequest {
  /** The hostname inside; a random one when left out. */
  hostname?: string;
  /** The container's name when the user gave one (--name): /etc/hosts names its address so too, as podman's. */
  name?: string;
  process: ProcessRequest;
  network: NetworkRequest;
  mounts: { binds: BindMount[]; tmpfs: TmpfsMount[]; readOnly: boolean; volumes?: VolumeMount[]; /** :U on a bind: host paths chowned to the container's user. */ chownBinds?: string[] };
  security: SecurityRequest;
  /** Your uid and gid the same inside (podman's --userns keep-id). */
  keepId: boolean;
  resources?: ResourceLimits;
  cgroupManager?: 'cgroupfs' | 'systemd';
  /** podman's --hostuser: host /etc/passwd lines added to the container's /etc/passwd (host-files.ts). */
  hostUsers?: string[];
}

/** A request with nothing asked beyond the command: the defaults every caller starts from. */
export function defaultRequest(args: string[]): RunRequest {
  return {
    process: { args, env: [], tty: false, interactive: false, init: false, ulimits: [] },
    network: { mode: 'none', ports: [], publishAll: false, dns: [], dnsSearch: [], addHosts: [] },
    mounts: { binds: [], tmpfs: [], readOnly: false },
    security: { capAdd: [], capDrop: [], privileged: false, noNewPrivs: true, seccomp: 'default' },
    keepId: false,
  };
}
