/**
 * A RunRequest and where the container's / comes from, turned into a
 * SandboxSpec: the one place that decides what depends on the host (id
 * mapping, the user as the rootfs names it, the compiled seccomp filter, the
 * terminal's size) and on the image (command, Env, WorkingDir, User), by
 * docker's rules. Knows nothing of flags; every caller (the CLI's run, a
 * kept container's start, a build step) comes through here.
 */
import path = require('node:path');
import { NookError, UsageError } from '../errors';
import type { ContainerConfig } from '../image/config';
import { imageRunConfig } from '../image/run-config';
import { capabilitySet } from '../sandbox/capabilities';
import { computeIdMapping, mappedUser, type HostIdentity } from '../sandbox/idmap';
import { DEFAULT_PATH } from '../sandbox/plan';
import { rootView, type RootView } from '../sandbox/rootfs-view';
import { compileSeccomp, defaultFilter, hostSeccompArch } from '../sandbox/seccomp';
import type { BindMount, OverlayRoot, SandboxNetwork, SandboxSpec, SecuritySpec } from '../sandbox/spec';
import { terminalSize } from '../sandbox/terminal-size';
import { resolveUser } from '../sandbox/users';
import { randomHex } from '../util/random';
import { privateNetworkAvailable } from '../sandbox/network/available';
import { writeHostFiles, writeIdentityFiles, writePasswd } from './host-files';
import { joinedNetwork, sameIdMapping } from './network-join';
import { publishedPorts, unprivilegedPortStart } from './ports';
import type { NetworkMode, RunRequest, SecurityRequest } from './request';

/** Where the sandbox's / comes from: a directory, or an image's layers (mounted on `rootfs`) and its config. */
export interface RootSource {
  rootfs: string;
  overlay?: OverlayRoot;
  image?: { name: string; config?: ContainerConfig; id?: string };
  /** The container's own directory for its generated /etc/resolv.conf, hosts and hostname (host-files.ts). */
  hostFiles?: string;
  /** A container's id (not a build step's): it gets /run/.containerenv and /.dockerenv (host-files.ts). */
  containerId?: string;
  /**
   * A --rootfs container's own (state) directory, for /run/.containerenv and
   * /.dockerenv (it has no hostFiles: nothing is bound over the tree's /etc),
   * bound only where the tree has those files already. The files are written
   * here when the directory exists (a start); the run that creates the
   * container writes them once it exists (a directory made before would be
   * a leftover to `container prune`).
   */
  identityDir?: string;
}

export function composeSpec(req: RunRequest, host: HostIdentity, root: RootSource): SandboxSpec {
  const p = req.process;
  const image = root.image
    ? imageRunConfig(root.image.config, { entrypoint: p.entrypoint, args: p.args, workdir: p.workdir, user: p.user }, root.image.name)
    : undefined;
  const argv = image?.argv ?? p.args;
  if (!argv.length) throw new UsageError('no command given', 'e.g. nook run --rootfs DIR -- sh -c "echo hi"');

  const mode = req.network.mode;
  const joined = typeof mode === 'object' ? joinedNetwork(mode.container) : undefined;
  let idmap = computeIdMapping(host, { keepId: req.keepId });
  if (joined) {
    if (!sameIdMapping(joined.idmap, idmap))
      throw new NookError(`cannot join the network of container ${joined.netns.name}: it maps user ids differently`, {
        hint: 'a container that shares another\'s network lives in its user namespace: give both the same --userns',
      });
    idmap = joined.idmap;
  }
  const fallback = req.keepId ? { uid: host.uid, gid: host.gid } : { uid: 0, gid: 0 };
  const view = withHostUsers(rootView(root), req.hostUsers);
  const user = resolveUser(view, image ? image.user : p.user, fallback, p.groupAdd);
  const ids = mappedUser(user, idmap, host.userName, 'the sandbox');
  if (p.groupAdd?.length) checkGroupsAdded(user.groups, ids.groups, idmap.setgroups);

  const cwd = image?.cwd ?? p.workdir ?? '/';
  if (!cwd.startsWith('/')) throw new UsageError(`the working directory must be an absolute path: "${cwd}"`);
  // Sharing a network is sharing its name too (as docker does).
  const hostname = joined?.hostname ?? req.hostname ?? randomHex(6);
  if (Buffer.byteLength(hostname) > 64) throw new UsageError(`hostname "${hostname.slice(0, 80)}" is longer than 64 bytes`);
  // It becomes a line of the container's /etc/hosts and /etc/hostname: no blanks or control characters.
  if (/[\s\x00-\x1f\x7f]/.test(hostname)) throw new UsageError(`invalid hostname ${JSON.stringify(hostname)}`, 'a hostname has no spaces, newlines or control characters');

  // With the host's network, published ports are discarded, as docker does: the ports are the host's already.
  // Another container's network has that container's ports (the CLI refuses -p with it).
  const asked = mode !== 'host' && !joined ? publishedPorts(req.network, root.image?.config, unprivilegedPortStart()) : [];
  const network: SandboxNetwork = typeof mode === 'object' ? (joined!.network === 'host' ? 'host' : 'container') : sandboxNetwork(mode, asked.length > 0);
  const ports = network === 'host' ? [] : asked;
  // The host files say what the shared network is: the other container's.
  const filesMode = joined ? (joined.network === 'container' ? 'none' : joined.network) : network;

  // --userns keep-id: an /etc/passwd entry for the user, when the image has none for their uid (keep-id-user.ts).
  const keepIdFiles =
    req.keepId && root.hostFiles && host.uid !== 0 && user.uid === host.uid
      ? (require('./keep-id-user') as typeof import('./keep-id-user')).keepIdUserFiles(root.hostFiles, view, { uid: user.uid, gid: user.gid, name: host.userName }, path.posix.normalize(cwd), [
          ...req.mounts.binds.map((b) => b.target),
          ...(req.mounts.volumes ?? []).map((v) => v.target),
        ])
      : undefined;
  if (keepIdFiles?.home) user.home = keepIdFiles.home;

  // container=nook: as podman's container=podman, what systemd and others read to know they run in a container.
  const defaults = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`, `HOME=${user.home}`, ...(p.tty ? ['TERM=xterm'] : []), 'container=nook'];
  const identity = root.containerId
    ? { name: req.name ?? '', id: root.containerId, image: root.image?.name ?? root.rootfs, imageId: (root.image?.id ?? '').replace(/^sha256:/, '') }
    : undefined;
  return checkStrings({
    rootfs: root.rootfs,
    overlay: root.overlay,
    argv,
    env: mergeEnv(...(p.unsetAllEnv ? [] : [defaults, image?.env ?? []].map((l) => l.filter((e) => !p.unsetEnv?.includes(e.slice(0, e.indexOf('=')))))), p.env),
    cwd: path.posix.normalize(cwd),
    user: p.keepGroups ? { ...ids, keepGroups: true } : ids,
    hostname,
    network,
    ports: ports.length ? ports : undefined,
    joinNetns: network === 'container' ? joined?.netns : undefined,
    readOnly: req.mounts.readOnly,
    // The user's binds come after: a -v onto /etc/hosts is mounted over nook's.
    binds: [
      ...(root.hostFiles ? writeHostFiles(root.hostFiles, { ...req.network, mode: filesMode === 'container' ? 'none' : filesMode }, hostname, req.name, identity) : []),
      ...(!root.hostFiles && root.identityDir && identity ? writeIdentityFiles(root.identityDir, identity, true) : []),
      ...(keepIdFiles?.binds ?? []),
      ...hostUserBinds(req, root, view, keepIdFiles?.binds),
      ...req.mounts.binds,
    ],
    tmpfs: req.mounts.tmpfs,
    tty: p.tty,
    ttySize: p.tty ? terminalSize() : undefined,
    interactive: p.interactive,
    idmap,
    security: securitySpec(req.security),
    resources: req.resources,
    cgroupManager: req.cgroupManager,
    ulimits: p.ulimits,
    init: p.init,
    ...(p.preserveFds ? { preserveFds: p.preserveFds } : {}),
  });
}

/**
 * --hostuser's lines in the container's own /etc/passwd, over the image's;
 * with keep-id, the file keep-id writes already holds them.
 */
function hostUserBinds(req: RunRequest, root: RootSource, view: RootView, keepIdBinds: readonly BindMount[] | undefined): BindMount[] {
  if (!root.hostFiles || !req.hostUsers?.length || keepIdBinds?.some((b) => b.target === '/etc/passwd')) return [];
  return [writePasswd(root.hostFiles, view.readFile('/etc/passwd'))];
}

/** The rootfs as seen with --hostuser's lines added to its /etc/passwd (a name it has already keeps its own line). */
function withHostUsers(view: RootView, lines: string[] | undefined): RootView {
  if (!lines?.length) return view;
  return {
    readFile: (inner) => {
      const text = view.readFile(inner);
      if (inner !== '/etc/passwd') return text;
      const names = new Set(text.split('\n').map((l) => l.split(':')[0]));
      const extra = lines.filter((l) => !names.has(l.split(':')[0]));
      return extra.length ? `${text}${text && !text.endsWith('\n') ? '\n' : ''}${extra.join('\n')}\n` : text;
    },
  };
}

/** --group-add's groups must all reach the process: refused rather than dropped where the id map cannot carry them. */
function checkGroupsAdded(wanted: number[], got: number[], setgroups: boolean): void {
  if (!setgroups)
    throw new UsageError('--group-add needs subordinate ids: without them the kernel forbids setgroups() in the sandbox', 'add a range for your user to /etc/subuid and /etc/subgid (and install newuidmap/newgidmap)');
  const missing = wanted.filter((g) => !got.includes(g));
  if (missing.length) throw new UsageError(`--group-add: group ${missing[0]} is outside the container's id range`, 'use a gid within the range /etc/subgid gives you');
}

/**
 * The sandbox's network mode. 'auto' (-p with no mode asked for): pasta
 * where it is installed and the user may open /dev/net/tun, else loopback
 * only with nook's port proxy serving the ports.
 */
function sandboxNetwork(mode: Exclude<NetworkMode, { container: string }>, publishing: boolean): SandboxNetwork {
  if (mode === 'auto') return publishing && privateNetworkAvailable() ? 'pasta' : 'none';
  return mode;
}

/** Capabilities (docker's default set, with drops then adds), no_new_privs and the compiled seccomp filter. */
export function securitySpec(s: SecurityRequest): SecuritySpec {
  const caps = capabilitySet(s.capAdd, s.capDrop, s.privileged);
  let seccomp: Buffer | undefined;
  if (!s.privileged && s.seccomp !== 'unconfined') {
    const arch = hostSeccompArch();
    const capNames = caps.names.map((n) => `CAP_${n}`);
    // docker's default profile is compiled at build time (default-filters.ts) for the usual capability sets.
    seccomp = s.seccomp === 'default' ? defaultFilter(arch, capNames) : compileSeccomp(s.seccomp.profile, arch, capNames);
  }
  return { caps: caps.mask, capNames: caps.names, noNewPrivs: s.noNewPrivs, seccomp, maskPaths: !s.privileged };
}

/** Later entries override earlier ones with the same name; order of first appearance is kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const m = new Map<string, string>();
  for (const list of lists) for (const e of list) m.set(e.slice(0, e.indexOf('=')), e);
  return [...m.values()];
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
