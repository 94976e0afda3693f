/**
 * `nook run` flags → a RunRequest (src/container/request.ts): what each flag
 * means, checked here so that bad input fails with a message about the
 * input, not about a syscall. Nothing here decides what depends on the host
 * or the image: src/container/compose.ts does, for every caller alike.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError, UsageError } from '../errors';
import { defaultRequest, type NetworkMode, type NetworkRequest, type RunRequest } from '../container/request';
import { MS } from '../../ffi/linux';
import { resourceLimitsFromFlags } from '../sandbox/cgroups';
import type { BindMount, TmpfsMount } from '../sandbox/spec';
import { stringList, type FlagValues, type ParsedArgs } from './args';
import { securityRequestFromFlags, ulimitsFromFlags } from './security-flags';
import { parsePortSpec } from './port-flags';
import { runDefaults } from './run-defaults';
import { mountsFromFlags } from './mount-flags';

/** --group-add, with podman's keep-groups: alone, it keeps nook's own supplementary groups. */
function groupAddFromFlags(flags: FlagValues): { groupAdd?: string[]; keepGroups?: boolean } {
  if (flags['group-add'] === undefined) return {};
  const groups = stringList(flags['group-add']).flatMap((g) => g.split(',')).filter(Boolean);
  if (!groups.includes('keep-groups')) return { groupAdd: groups };
  // podman's words.
  if (groups.length > 1) throw new UsageError("the '--group-add keep-groups' option is not allowed with any other --group-add options", 'give keep-groups alone');
  return { keepGroups: true };
}

/**
 * The request the flags make. `image`: the first positional is an image
 * name (its arguments follow); otherwise they are all the command.
 */
export function requestFromFlags({ flags, positionals }: ParsedArgs, opts: { image: boolean }): RunRequest {
  const keepId = flags.userns === 'keep-id';
  if (flags.userns !== undefined && !keepId)
    throw new UsageError(`--userns "${flags.userns}" is not supported`, 'use --userns keep-id, or leave it out');
  const req = defaultRequest(opts.image ? positionals.slice(1) : positionals);
  req.hostname = flags.hostname as string | undefined;
  req.name = flags.name as string | undefined;
  req.keepId = keepId;
  req.process = {
    ...req.process,
    entrypoint: parseEntrypoint(flags.entrypoint as string | undefined),
    env: [...stringList(flags['env-file']).flatMap(parseEnvFile), ...stringList(flags.env).flatMap(expandEnv)],
    workdir: flags.workdir as string | undefined,
    user: flags.user as string | undefined,
    tty: Boolean(flags.tty),
    interactive: Boolean(flags.interactive),
    init: Boolean(flags.init),
    ulimits: ulimitsFromFlags(flags),
    ...groupAddFromFlags(flags),
    ...(flags['preserve-fds'] !== undefined ? { preserveFds: preserveFds(flags) } : {}),
    ...(flags.unsetenv !== undefined ? { unsetEnv: stringList(flags.unsetenv) } : {}),
    ...(flags['unsetenv-all'] ? { unsetAllEnv: true } : {}),
  };
  req.network = networkFromFlags(flags);
  const m = mountsFromFlags(flags, stringList(flags.tmpfs).map(parseTmpfs), parseTmpfs);
  req.mounts = { binds: m.binds, tmpfs: m.tmpfs, readOnly: Boolean(flags['read-only']) };
  if (m.volumes.length) req.mounts.volumes = m.volumes;
  if (m.chownBinds.length) req.mounts.chownBinds = m.chownBinds;
  if (flags.tz !== undefined) req.mounts.binds.push(timezoneBind(flags.tz as string));
  req.security = securityRequestFromFlags(flags);
  req.resources = resourceLimitsFromFlags(flags);
  if (flags['kernel-memory'] !== undefined) process.stderr.write('WARNING: The --kernel-memory flag is no longer supported. This flag is a noop.\n');
  req.cgroupManager = cgroupManager(flags['cgroup-manager']);
  if (flags.hostuser !== undefined) {
    if (!opts.image) throw new UsageError('--hostuser needs an image', "nook adds the user to a container's /etc/passwd, never to a --rootfs tree of yours");
    req.hostUsers = stringList(flags.hostuser).map((u) => hostPasswdLine(u));
  }
  return req;
}

/** podman's --hostuser NAME|UID: that user's line of the host's /etc/passwd, its password field as "x". */
export function hostPasswdLine(user: string, passwd = '/etc/passwd'): string {
  let text = '';
  try {
    text = fs.readFileSync(passwd, 'utf8');
  } catch {
    /* none: no user is found */
  }
  const line = text
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f.length >= 7 && (/^\d+$/.test(user) ? f[2] === user : f[0] === user));
  if (!line) throw new UsageError(`--hostuser: no user "${user}" in the host's ${passwd}`, 'give a user name or uid that exists on this host');
  return [line[0], 'x', ...line.slice(2, 7)].join(':');
}

/** podman's --timeout N in seconds, checked; undefined when not asked. */
export function timeoutSeconds(flags: FlagValues): number | undefined {
  const v = flags.timeout as string | undefined;
  if (v === undefined) return undefined;
  if (!/^\d{1,7}$/.test(v) || v === '0') throw new UsageError(`invalid --timeout "${v}"`, 'give whole seconds, at least 1, e.g. --timeout 60');
  return Number(v);
}

/**
 * podman's --timeout N in the foreground: the sandbox is killed N seconds
 * after its command started (not counting a pull), through RunHooks.cancel;
 * undefined when not asked. As podman's, a run that timed out exits 255 and
 * a kept container records exit code -1 (TIMED_OUT_CODE). A detached
 * container's supervisor kills it instead (ContainerConfig.timeout).
 */
export function timeoutHooks(flags: FlagValues): { cancel: AbortSignal; started(): void } | undefined {
  const seconds = timeoutSeconds(flags);
  if (seconds === undefined) return undefined;
  const controller = new AbortController();
  return { cancel: controller.signal, started: () => void setTimeout(() => controller.abort(), seconds * 1000).unref() };
}

/**
 * podman's --preserve-fds N: the descriptors 3..3+N-1 nook was started with
 * reach the command. Each must be open, and be the caller's: Node's event
 * loop takes the lowest free numbers at start-up for its epoll and eventfd
 * descriptors and its self-pipes (both ends of a pipe held by nook), which
 * never reach a container. (Node marks inherited descriptors close-on-exec
 * too, so that flag cannot tell them apart.)
 */
export function preserveFds(flags: FlagValues): number {
  const v = flags['preserve-fds'] as string;
  if (!/^\d{1,4}$/.test(v)) throw new UsageError(`invalid --preserve-fds "${v}"`, 'give a number of descriptors, e.g. --preserve-fds 2 passes fds 3 and 4');
  const n = Number(v);
  if (!n) return 0;
  if (flags.detach) throw new UsageError('--preserve-fds is not supported with -d', 'nook passes descriptors to a command that runs in the foreground');
  if (flags.init) throw new UsageError('--preserve-fds is not supported with --init', "nook's init takes fd 3 for itself");
  const target = (fd: number | string): string | undefined => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
  };
  const held = new Map<string, number>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    const t = target(fd);
    if (t?.startsWith('pipe:')) held.set(t, (held.get(t) ?? 0) + 1);
  }
  for (let fd = 3; fd < 3 + n; fd++) {
    const t = target(fd);
    if (t === undefined || t.startsWith('anon_inode:') || (t.startsWith('pipe:') && held.get(t)! > 1))
      throw new UsageError(`file descriptor ${fd} is not available - --preserve-fds ${n} needs descriptors 3 to ${2 + n} open`, 'open them for nook, e.g. nook run --preserve-fds 1 IMAGE CMD 3<FILE');
  }
  return n;
}

/** The status `run` exits with: 255 once --timeout fired, else the command's. */
export function afterTimeout(code: number, timeout: { cancel: AbortSignal } | undefined): number {
  return timeout?.cancel.aborted ? 255 : code;
}

const ZONEINFO = '/usr/share/zoneinfo';

/** podman's --tz: the host's zone file for TZ (or its own /etc/localtime for "local"), bind-mounted read-only on /etc/localtime. */
export function timezoneBind(tz: string): BindMount {
  let source: string;
  if (tz === 'local') source = '/etc/localtime';
  else {
    // An area name, never a path out of the zoneinfo directory.
    if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) throw new UsageError(`invalid --tz "${tz}"`, 'give an area name such as Europe/Paris or UTC, or local');
    source = path.join(ZONEINFO, tz);
  }
  let real: string;
  try {
    real = fs.realpathSync(source);
    if (!fs.statSync(real).isFile()) throw new Error('not a file');
  } catch {
    throw new UsageError(`--tz: unknown timezone "${tz}": ${source} is not a zone file on this host`, `see the names under ${ZONEINFO}`);
  }
  return { source: real, target: '/etc/localtime', readOnly: true };
}

/** --entrypoint CMD, or a JSON array of strings (podman's and compose's exec form): '["/bin/sh","-c"]'. */
export function parseEntrypoint(v: string | undefined): string | string[] | undefined {
  if (v === undefined || !v.trimStart().startsWith('[')) return v;
  let list: unknown;
  try {
    list = JSON.parse(v);
  } catch {
    return v; // not JSON: a command whose name starts with "[", as docker takes it
  }
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))
    throw new UsageError(`invalid --entrypoint ${v}`, 'a JSON entrypoint is an array of strings, e.g. --entrypoint \'["/bin/sh","-c"]\'');
  return list;
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


/**
 * --network/--net: none (the default, or nook.json's "network"), host, pasta
 * (alias private), slirp4netns, container:NAME|ID. `publishing` (-p or -P)
 * with no mode given anywhere: 'auto', a private network where the host
 * allows one (compose.ts decides), as docker's -p implies a network.
 */
export function networkMode(
  flags: Record<string, unknown>,
  publishing = false,
  defaults: () => { network?: string } = () => runDefaults(),
): NetworkMode {
  const given = flags.network ?? flags.net ?? defaults().network;
  if (given === undefined && publishing) return 'auto';
  const v = String(given ?? 'none');
  if (v === 'none' || v === 'host' || v === 'pasta' || v === 'slirp4netns') return v;
  if (v === 'private') return 'pasta';
  if (v.startsWith('container:') && v.length > 'container:'.length) return { container: v.slice('container:'.length) };
  throw new UsageError(`network mode "${v}" is not supported`, 'use --network none (the default: loopback only), host, pasta (or private), slirp4netns or container:NAME');
}



/** --add-host NAME:IP (docker's syntax; IPv6 addresses keep their colons: the name ends at the first one). */
function parseAddHost(v: string): { name: string; ip: string } {
  const i = v.indexOf(':');
  const name = i < 0 ? '' : v.slice(0, i);
  const ip = i < 0 ? '' : v.slice(i + 1);
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name) || !(isIp(ip) || ip === 'host-gateway'))
    throw new UsageError(`invalid --add-host "${v}"`, 'use --add-host NAME:IP or NAME:host-gateway, e.g. --add-host db:10.0.0.5');
  return { name, ip };
}

function isIp(s: string): boolean {
  return /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) ? s.split('.').every((o) => Number(o) <= 255) : /^[0-9a-fA-F:]+$/.test(s) && s.includes(':');
}

function networkFromFlags(flags: FlagValues): NetworkRequest {
  const dns = stringList(flags.dns);
  for (const d of dns) if (!isIp(d)) throw new UsageError(`invalid --dns "${d}": not an IP address`, 'e.g. --dns 9.9.9.9');
  const dnsSearch = stringList(flags['dns-search']);
  for (const d of dnsSearch)
    if (!/^[A-Za-z0-9.-]+$/.test(d)) throw new UsageError(`invalid --dns-search "${d}"`, 'give a domain name, e.g. --dns-search example.com');
  const ports = stringList(flags.publish).flatMap(parsePortSpec);
  const publishAll = Boolean(flags['publish-all']);
  const mode = networkMode(flags, ports.length > 0 || publishAll);
  if (typeof mode === 'object') {
    // As docker: the other container's network comes with its name, ports and /etc files.
    const conflicts: [string, boolean][] = [
      ['--hostname', flags.hostname !== undefined],
      ['-p/-P', ports.length > 0 || publishAll],
      ['--dns', dns.length > 0],
      ['--dns-search', dnsSearch.length > 0],
      ['--add-host', stringList(flags['add-host']).length > 0],
    ];
    const clash = conflicts.find(([, given]) => given);
    if (clash)
      throw new UsageError(`conflicting options: ${clash[0]} and --network container:${mode.container}`, `a container sharing ${mode.container}'s network has its hostname, ports and /etc files; give them to ${mode.container}`);
  }
  // As docker: the host's network has the host's ports already.
  if (mode === 'host' && (ports.length || publishAll)) process.stderr.write('WARNING: Published ports are discarded when using host network mode\n');
  return { mode, ports, publishAll, dns, dnsSearch, addHosts: stringList(flags['add-host']).map(parseAddHost) };
}

/** Checks --rootfs DIR and the command after it; returns the rootfs's absolute path. */
export function rootfsFromFlags({ flags, positionals }: ParsedArgs): string {
  const rootfs = path.resolve(flags.rootfs as string);
  let st: fs.Stats;
  try {
    st = fs.statSync(rootfs);
  } catch {
    throw new NookError(`rootfs ${rootfs} does not exist`, { hint: 'give --rootfs the directory that should become /' });
  }
  if (!st.isDirectory()) throw new NookError(`rootfs ${rootfs} is not a directory`);
  if (!positionals.length) throw new UsageError('no command given', 'e.g. nook run --rootfs DIR -- sh -c "echo hi"');
  return rootfs;
}


function cgroupManager(v: unknown): RunRequest['cgroupManager'] {
  if (v === undefined || v === 'cgroupfs' || v === 'systemd') return v;
  throw new UsageError(`unknown --cgroup-manager "${String(v)}"`, 'use cgroupfs (the default) or systemd');
}

