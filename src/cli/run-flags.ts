/**
 * `nook run`'s flags and help text. Kept apart from what the flags mean
 * (run-request.ts) so that `--help` and the parser share one list.
 */
import { flagHelp, type FlagSpec } from './args';
import { SECURITY_FLAGS } from './security-flags';
import { CONTAINER_FLAGS } from './container-flags';

export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'rootfs', type: 'string', value: 'DIR', help: 'run in this directory tree as / instead of an image' },
  { name: 'pull', type: 'string', value: 'POLICY', help: 'missing (default): pull the image when it is not in the store; always; never' },
  { name: 'platform', type: 'string', value: 'OS/ARCH', help: 'pull the image for this platform (default: this host\'s)' },
  { name: 'entrypoint', type: 'string', allowEmpty: true, value: 'CMD', help: 'replace the image\'s Entrypoint (and drop its Cmd); "" clears it' },
  { name: 'tls-verify', type: 'boolean', tristate: true, help: 'when pulling: require HTTPS with a valid certificate (default true)' },
  { name: 'squash-ids', type: 'boolean', help: 'when pulling: make files whose owner does not exist here owned by root' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'when pulling: no progress output' },
  { name: 'max-layer-expansion', type: 'string', value: 'N', help: 'when pulling: refuse a layer that decompresses to more than N times its size (default 100; 0: no limit)' },
  { name: 'interactive', short: 'i', type: 'boolean', help: 'keep stdin attached (otherwise it is /dev/null)' },
  { name: 'tty', short: 't', type: 'boolean', help: 'allocate a pseudo-terminal' },
  { name: 'env', short: 'e', type: 'string', multiple: true, value: 'K=V', help: 'set an environment variable (K alone: take it from nook\'s environment)' },
  { name: 'unsetenv', type: 'string', multiple: true, value: 'NAME', help: "leave out a default or image variable (podman); -e still sets it" },
  { name: 'unsetenv-all', type: 'boolean', help: 'no default or image variables, only -e/--env-file ones (podman)' },
  { name: 'env-file', type: 'string', multiple: true, value: 'FILE', help: 'read environment variables from a file, one K=V per line' },
  { name: 'workdir', short: 'w', type: 'string', value: 'DIR', help: 'working directory inside (created if missing)' },
  { name: 'user', short: 'u', type: 'string', value: 'UID[:GID]', help: 'run as this user (numbers, or names from the rootfs\'s /etc/passwd)' },
  { name: 'group-add', type: 'string', multiple: true, value: 'GROUP', help: "an extra supplementary group (a gid, or a name from the rootfs's /etc/group)" },
  { name: 'timeout', type: 'string', value: 'SECONDS', help: 'kill the container (SIGKILL) after this many seconds; run exits 255, a kept container records -1 (podman; with -d or create its supervisor kills it, at every start)' },
  { name: 'tz', type: 'string', value: 'TZ', help: "the container's timezone: an area name such as Europe/Paris, or local (the host's): /etc/localtime from the host's zoneinfo (podman)" },
  { name: 'hostname', short: 'h', type: 'string', value: 'NAME', help: 'hostname inside (default: a random id)' },
  { name: 'init', type: 'boolean', help: 'run a minimal init as PID 1 that forwards signals to the command and reaps zombies' },
  { name: 'volume', short: 'v', type: 'string', multiple: true, value: 'SRC:DEST[:OPTS]', help: 'bind mount a host path (SRC with a /), mount a named volume (made on first use), or DEST alone: a new anonymous volume; OPTS: ro, rw, z, Z (no-ops), U (chown to the container\'s user), nocopy' },
  { name: 'mount', type: 'string', multiple: true, value: 'type=TYPE,...', help: "docker's --mount: type=bind|volume|tmpfs,source=,target=,readonly,volume-nocopy,volume-label=,tmpfs-size=,tmpfs-mode=" },
  { name: 'tmpfs', type: 'string', multiple: true, value: 'DEST[:OPTS]', help: 'mount a tmpfs (default options: rw,noexec,nosuid,nodev)' },
  { name: 'read-only', type: 'boolean', help: 'mount / read-only' },
  { name: 'image-volume', type: 'string', value: 'bind|tmpfs|ignore', help: "podman's: the image's VOLUMEs as new anonymous volumes (bind, the default), tmpfs mounts, or not at all" },
  { name: 'network', type: 'string', value: 'MODE', help: "none (default: a sandbox is closed unless asked; loopback only), host (the host's network), pasta or private (a private network with outbound access, via pasta), slirp4netns, container:NAME (share a running container's network); $XDG_CONFIG_HOME/nook/nook.json {\"network\": \"pasta\"} changes the default" },
  { name: 'net', type: 'string', value: 'MODE', help: 'same as --network' },
  { name: 'publish', short: 'p', type: 'string', multiple: true, value: '[IP:]HPORT:CPORT[/PROTO]', help: "publish a container port on the host (CPORT alone: on a free host port; ranges LOW-HIGH); without --network: a private network (pasta) where /dev/net/tun allows one, else nook's port proxy" },
  { name: 'publish-all', short: 'P', type: 'boolean', help: "publish the image's EXPOSE ports, each on a free host port" },
  { name: 'dns', type: 'string', multiple: true, value: 'IP', help: "a nameserver for the container's /etc/resolv.conf (instead of the host's)" },
  { name: 'dns-search', type: 'string', multiple: true, value: 'DOMAIN', help: "a search domain for the container's /etc/resolv.conf" },
  { name: 'add-host', type: 'string', multiple: true, value: 'NAME:IP', help: "an extra line in the container's /etc/hosts" },
  { name: 'rmi', type: 'boolean', help: 'remove the image after the run (implies --rm), unless another container uses it (podman)' },
  { name: 'conmon-pidfile', type: 'string', value: 'FILE', help: "write the pid of the container's keeper to FILE: a detached container's supervisor, else nook itself (podman's conmon)" },
  { name: 'preserve-fds', type: 'string', value: 'N', help: 'pass nook\'s file descriptors 3 to 3+N-1 on to the command (podman; foreground runs)' },
  { name: 'hostuser', type: 'string', multiple: true, value: 'USER', help: "add this host user's /etc/passwd entry (name or uid) to the container's /etc/passwd (podman)" },
  { name: 'userns', type: 'string', value: 'keep-id', help: 'keep-id: your uid and gid are the same inside and run the command' },
  ...SECURITY_FLAGS,
  { name: 'memory', short: 'm', type: 'string', value: 'SIZE', help: 'memory limit, e.g. 512m or 2g (cgroup v2)' },
  { name: 'memory-swap', type: 'string', value: 'SIZE', help: 'memory plus swap limit, as docker (-1: unlimited swap)' },
  { name: 'kernel-memory', type: 'string', value: 'SIZE', help: 'accepted for compatibility and ignored, with a warning (a no-op in docker and podman too)' },
  { name: 'cpus', type: 'string', value: 'N', help: 'CPU time limit in CPUs, e.g. 0.5' },
  { name: 'cpu-shares', short: 'c', type: 'string', value: 'N', help: 'relative CPU weight, docker style (default 1024)' },
  { name: 'cpu-weight', type: 'string', value: 'N', help: 'relative CPU weight, cgroup v2 style (1-10000)' },
  { name: 'pids-limit', type: 'string', value: 'N', help: 'maximum number of processes' },
  { name: 'blkio-weight', type: 'string', value: 'N', help: 'relative block I/O weight (10-1000)' },
  { name: 'cgroup-manager', type: 'string', value: 'cgroupfs|systemd', help: 'how to create the cgroup for limits (default cgroupfs)' },
  ...CONTAINER_FLAGS,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** Built on demand: formatting it on every start would cost `nook run` time for nothing. */
export const runUsage = (): string => `Usage: nook run [FLAGS] IMAGE [COMMAND [ARG...]]
       nook run [FLAGS] --rootfs DIR [--] COMMAND [ARG...]

Runs a command in a rootless sandbox whose / is IMAGE (pulled when missing,
with a writable layer of its own that is removed at exit) or the directory
DIR: new user, mount, pid, uts, ipc, cgroup and network namespaces; fresh
/proc, a minimal /dev, read-only /sys. nook exits with the command's status
(128+N if signal N killed it), 125 when nook itself fails, 126 when the
command cannot run, 127 when it is not found.

Flags:
${flagHelp(RUN_FLAGS)}
`;
