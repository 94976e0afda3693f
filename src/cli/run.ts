/**
 * `nook run`: flags → SandboxSpec → runSandbox. Everything that can be
 * checked before clone() is checked here, so that bad input fails with a
 * message about the input rather than about a syscall.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError, UsageError } from '../errors';
import { parseArgs, flagHelp, stringList, type FlagSpec, type ParsedArgs } from './args';
import { computeIdMapping, hostIdentity, mappedUser, type HostIdentity } from '../sandbox/idmap';
import { DEFAULT_PATH } from '../sandbox/plan';
import { MS } from '../sandbox/mounts';
import { rootView } from '../sandbox/rootfs-view';
import { resolveUser } from '../sandbox/users';
import { randomHex } from '../util/random';
import { terminalSize } from '../sandbox/terminal-size';
import type { BindMount, OverlayRoot, SandboxSpec, TmpfsMount } from '../sandbox/spec';
import type { ImageRunConfig } from '../image/run-config';
import { resourceLimitsFromFlags } from '../sandbox/cgroups';
import { SECURITY_FLAGS, securityFromFlags, ulimitsFromFlags } from './security-flags';
import { CONTAINER_FLAGS, wantsContainer } from './container-flags';

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
  { name: 'env-file', type: 'string', multiple: true, value: 'FILE', help: 'read environment variables from a file, one K=V per line' },
  { name: 'workdir', short: 'w', type: 'string', value: 'DIR', help: 'working directory inside (created if missing)' },
  { name: 'user', short: 'u', type: 'string', value: 'UID[:GID]', help: 'run as this user (numbers, or names from the rootfs\'s /etc/passwd)' },
  { name: 'hostname', short: 'h', type: 'string', value: 'NAME', help: 'hostname inside (default: a random id)' },
  { name: 'init', type: 'boolean', help: 'run a minimal init as PID 1 that forwards signals to the command and reaps zombies' },
  { name: 'volume', short: 'v', type: 'string', multiple: true, value: 'HOST:DEST[:ro]', help: 'bind mount a host path' },
  { name: 'tmpfs', type: 'string', multiple: true, value: 'DEST[:OPTS]', help: 'mount a tmpfs (default options: rw,noexec,nosuid,nodev)' },
  { name: 'read-only', type: 'boolean', help: 'mount / read-only' },
  { name: 'network', type: 'string', value: 'none|host', help: 'none (default): own network with loopback only; host: share the host network' },
  { name: 'net', type: 'string', value: 'none|host', help: 'same as --network' },
  { name: 'userns', type: 'string', value: 'keep-id', help: 'keep-id: your uid and gid are the same inside and run the command' },
  ...SECURITY_FLAGS,
  { name: 'memory', short: 'm', type: 'string', value: 'SIZE', help: 'memory limit, e.g. 512m or 2g (cgroup v2)' },
  { name: 'memory-swap', type: 'string', value: 'SIZE', help: 'memory plus swap limit, as docker (-1: unlimited swap)' },
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

function parseBind(v: string): BindMount {
  const parts = v.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1])
    throw new UsageError(`invalid volume "${v}"`, 'use -v HOST:DEST or -v HOST:DEST:ro');
  const [src, dest, mode = 'rw'] = parts;
  if (!['ro', 'rw'].includes(mode)) throw new UsageError(`invalid volume mode "${mode}" in "${v}"`, 'the mode is ro or rw');
  if (!src.includes('/') && !src.startsWith('.'))
    throw new UsageError(`named volumes are not supported: "${src}"`, 'give a host path, e.g. -v ./data:/data or -v /abs/path:/data');
  if (!dest.startsWith('/')) throw new UsageError(`the destination of a volume must be an absolute path: "${dest}"`);
  const source = path.resolve(src);
  if (!fs.existsSync(source))
    throw new NookError(`bind mount source ${source} does not exist`, { hint: `create it first (mkdir -p ${source})` });
  return { source, target: path.posix.normalize(dest), readOnly: mode === 'ro' };
}

const TMPFS_FLAG_WORDS: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, true], rw: [MS.RDONLY, false],
  noexec: [MS.NOEXEC, true], exec: [MS.NOEXEC, false],
  nosuid: [MS.NOSUID, true], suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true], dev: [MS.NODEV, false],
};

export function parseTmpfs(v: string): TmpfsMount {
  const i = v.indexOf(':');
  const target = i < 0 ? v : v.slice(0, i);
  const opts = i < 0 ? '' : v.slice(i + 1);
  if (!target.startsWith('/')) throw new UsageError(`the tmpfs destination must be an absolute path: "${target}"`);
  let flags = MS.NOEXEC | MS.NOSUID | MS.NODEV;
  const data: string[] = [];
  for (const o of opts.split(',').filter(Boolean)) {
    const f = TMPFS_FLAG_WORDS[o];
    if (f) flags = f[1] ? flags | f[0] : flags & ~f[0];
    else if (/^(size|mode|nr_inodes|nr_blocks|uid|gid)=/.test(o)) data.push(o);
    else throw new UsageError(`unknown tmpfs option "${o}" in --tmpfs ${v}`, 'known: ro, rw, (no)exec, (no)suid, (no)dev, size=, mode=, nr_inodes=, uid=, gid=');
  }
  if (!data.some((d) => d.startsWith('mode='))) data.push('mode=1777');
  return { target: path.posix.normalize(target), options: data.join(','), flags };
}

function parseEnvFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new NookError(`reading env file ${file}: ${(e as Error).message}`);
  }
  return text
    .split('\n')
    .map((l, i) => {
      if (l.includes('\0')) throw new UsageError(`env file ${file}, line ${i + 1}: contains a NUL byte`, 'an env file is text: one K=V per line');
      return l.replace(/\r$/, '');
    })
    .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
    .flatMap((l) => expandEnv(l));
}

/** K=V stays; a bare K takes its value from nook's environment, and is dropped when unset (as docker does). */
export function expandEnv(entry: string): string[] {
  if (entry.includes('=')) {
    if (entry.startsWith('=')) throw new UsageError(`invalid environment variable "${entry}"`, 'use K=V');
    return [entry];
  }
  const v = process.env[entry];
  return v === undefined ? [] : [`${entry}=${v}`];
}

/** Later entries override earlier ones with the same name; order of first appearance is kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const m = new Map<string, string>();
  for (const list of lists) for (const e of list) m.set(e.slice(0, e.indexOf('=')), e);
  return [...m.values()];
}

function networkMode(flags: Record<string, unknown>): 'none' | 'host' {
  const v = (flags.network ?? flags.net ?? 'none') as string;
  if (v === 'none' || v === 'host') return v;
  throw new UsageError(`network mode "${v}" is not supported`, 'use --network none (the default: loopback only) or --network host');
}

/** Where the sandbox's / comes from: a directory (--rootfs), or an image's layers and config. */
export interface RootSource {
  rootfs: string;
  overlay?: OverlayRoot;
  /** The image's run settings (command, Env, WorkingDir, User), already combined with the flags. */
  image?: ImageRunConfig;
}

/** Checks --rootfs DIR and the command after it. */
export function directoryRoot({ flags, positionals }: ParsedArgs): RootSource {
  const rootfs = path.resolve(flags.rootfs as string);
  let st: fs.Stats;
  try {
    st = fs.statSync(rootfs);
  } catch {
    throw new NookError(`rootfs ${rootfs} does not exist`, { hint: 'give --rootfs the directory that should become /' });
  }
  if (!st.isDirectory()) throw new NookError(`rootfs ${rootfs} is not a directory`);
  if (!positionals.length) throw new UsageError('no command given', 'e.g. nook run --rootfs DIR -- sh -c "echo hi"');
  return { rootfs };
}

function cgroupManager(v: unknown): SandboxSpec['cgroupManager'] {
  if (v === undefined || v === 'cgroupfs' || v === 'systemd') return v;
  throw new UsageError(`unknown --cgroup-manager "${String(v)}"`, 'use cgroupfs (the default) or systemd');
}

export function buildRunSpec({ flags, positionals }: ParsedArgs, host: HostIdentity, root: RootSource): SandboxSpec {
  const { rootfs } = root;
  const keepId = flags.userns === 'keep-id';
  if (flags.userns !== undefined && !keepId)
    throw new UsageError(`--userns "${flags.userns}" is not supported`, 'use --userns keep-id, or leave it out');
  const idmap = computeIdMapping(host, { keepId });
  const view = rootView(root);
  const user = resolveUser(view, root.image ? root.image.user : (flags.user as string | undefined), keepId ? { uid: host.uid, gid: host.gid } : { uid: 0, gid: 0 });
  const ids = mappedUser(user, idmap, host.userName, 'the sandbox');

  const cwd = root.image?.cwd ?? (flags.workdir as string | undefined) ?? '/';
  if (!cwd.startsWith('/')) throw new UsageError(`the working directory must be an absolute path: "${cwd}"`);
  const hostname = (flags.hostname as string | undefined) ?? randomHex(6);
  if (Buffer.byteLength(hostname) > 64) throw new UsageError(`hostname "${hostname.slice(0, 80)}" is longer than 64 bytes`);

  const tty = Boolean(flags.tty);
  const defaults = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`, `HOME=${user.home}`, ...(tty ? ['TERM=xterm'] : [])];
  const env = mergeEnv(
    defaults,
    root.image?.env ?? [],
    stringList(flags['env-file']).flatMap(parseEnvFile),
    stringList(flags.env).flatMap(expandEnv),
  );

  return checkStrings({
    rootfs,
    overlay: root.overlay,
    argv: root.image?.argv ?? positionals,
    env,
    cwd: path.posix.normalize(cwd),
    user: ids,
    hostname,
    network: networkMode(flags),
    readOnly: Boolean(flags['read-only']),
    binds: stringList(flags.volume).map(parseBind),
    tmpfs: stringList(flags.tmpfs).map(parseTmpfs),
    tty,
    ttySize: tty ? terminalSize() : undefined,
    interactive: Boolean(flags.interactive),
    idmap,
    security: securityFromFlags(flags),
    resources: resourceLimitsFromFlags(flags),
    cgroupManager: cgroupManager(flags['cgroup-manager']),
    ulimits: ulimitsFromFlags(flags),
    init: Boolean(flags.init),
  });
}

/**
 * The last check before a spec becomes a plan: every string the kernel gets
 * is a C string. Flags, env files and image configs are checked where they
 * are read; this names the field should anything else bring a NUL byte.
 */
function checkStrings(spec: SandboxSpec): SandboxSpec {
  const fields: [string, string[]][] = [
    ['the command', spec.argv],
    ['the environment', spec.env],
    ['the working directory', [spec.cwd]],
    ['the hostname', [spec.hostname]],
    ['a volume', spec.binds.flatMap((b) => [b.source, b.target])],
    ['a tmpfs', spec.tmpfs.flatMap((t) => [t.target, t.options])],
  ];
  for (const [what, list] of fields)
    if (list.some((s) => s.includes('\0'))) throw new UsageError(`${what} contains a NUL byte`, 'a NUL byte cannot be passed to the kernel; remove it');
  return spec;
}

export async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, RUN_FLAGS, 'run');
  if (parsed.flags.help) {
    process.stdout.write(runUsage());
    return 0;
  }
  const host = hostIdentity();
  if (wantsContainer(parsed.flags)) {
    const { runContainer } = await import('./run-container');
    return runContainer(parsed, host);
  }
  if (parsed.flags.rootfs === undefined) {
    if (!parsed.positionals.length)
      throw new UsageError('nook run needs an image (or --rootfs DIR)', 'e.g. nook run debian:12 cat /etc/os-release, or nook run --rootfs ./rootfs -- sh');
    const { runImage } = await import('./run-image');
    return runImage(parsed, host);
  }
  const spec = buildRunSpec(parsed, host, directoryRoot(parsed));
  const { runSandbox } = await import('../sandbox/process');
  return runSandbox(spec, host);
}
