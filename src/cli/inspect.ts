/**
 * `nook inspect [-f FORMAT] [--type container|image] CONTAINER|IMAGE...`:
 * docker inspect's view of containers (state, config, pid, mounts, log path)
 * and of images (config, platform, layers, plus nook's manifest), as JSON or
 * through a Go template. Keys are docker's wherever nook has the same thing.
 */
import fs = require('node:fs');
import { NookError, UsageError } from '../errors';
import { decodeSpec, storedRequest } from '../container/spec-codec';
import { listContainers, liveState } from '../container/status';
import { keepsLog } from '../container/logs';
import { ContainerStore, type ContainerDir } from '../container/state';
import { familiarReference, formatReference, parseReference } from '../image/reference';
import { findImage, requireImage } from '../image/store/lookup';
import { ImageStore, imageSize } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { humanSize, parseFormat, renderTemplate, writeOut } from './format';
import { portMap } from './port';
import { withTemplateAliases } from './template-aliases';
import { networkName, type PublishedPort, type SandboxSpec } from '../sandbox/spec';
import { PRIVATE_NET } from '../sandbox/network/layout';

/** docker's zero time, for a container never started or never stopped. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** docker inspect's view of a container: state, config, pid, mounts, log path. */
export function inspectContainer(dir: ContainerDir, images?: () => ImageStore): Record<string, unknown> {
  const config = dir.config();
  const s = liveState(dir);
  const spec = decodeSpec(config.spec, `container ${config.name}`);
  const image = containerImage(config.image, storedRequest(config.spec)?.root.image?.id, images);
  return {
    Id: config.id,
    Name: `/${config.name}`,
    Created: config.created,
    Path: spec.argv[0],
    Args: spec.argv.slice(1),
    // docker's: the image's id; podman's ImageName and ImageDigest: its full name and manifest digest.
    Image: image.id,
    ImageName: image.name,
    ImageDigest: image.digest,
    State: {
      Status: s.paused ? 'paused' : s.display,
      Running: s.display === 'running',
      Paused: Boolean(s.paused),
      Restarting: s.display === 'restarting',
      OOMKilled: Boolean(s.oomKilled),
      Dead: false,
      Pid: s.display === 'running' ? (s.pid ?? 0) : 0,
      ExitCode: s.exitCode ?? 0,
      Error: s.note ?? '',
      StartedAt: s.startedAt ?? ZERO_TIME,
      FinishedAt: s.finishedAt ?? ZERO_TIME,
      // podman's: the pid of what keeps the container (conmon there, the supervisor here).
      ConmonPid: s.display === 'running' ? (s.supervisorPid ?? 0) : 0,
    },
    RestartCount: s.restartCount,
    LogPath: keepsLog(dir) ? dir.p('container.log') : null,
    Config: {
      Hostname: spec.hostname,
      User: `${spec.user.uid}:${spec.user.gid}`,
      Env: spec.env,
      Cmd: spec.argv,
      WorkingDir: spec.cwd,
      Tty: spec.tty,
      // docker's: made with -i; its stdin closes at an attached client's EOF (create -i, not run -d -i).
      OpenStdin: Boolean(storedRequest(config.spec)?.request.process.interactive ?? spec.interactive),
      StdinOnce: Boolean(config.stdinOnce),
      StopSignal: config.stopSignal,
      Image: config.image,
      Labels: config.labels ?? {},
      ...(config.stopTimeout !== undefined ? { StopTimeout: config.stopTimeout } : {}),
    },
    HostConfig: {
      AutoRemove: config.autoRemove,
      RestartPolicy: { Name: config.restart.name, MaximumRetryCount: config.restart.name === 'on-failure' ? config.restart.maxRetries : 0 },
      NetworkMode: networkName(spec),
      PortBindings: portMap(spec.ports, true),
      PublishAllPorts: Boolean(storedRequest(config.spec)?.request.network.publishAll),
      ReadonlyRootfs: spec.readOnly,
      // docker's field: "" for the default user namespace (nook's mapping), podman's "keep-id" for --userns keep-id.
      UsernsMode: storedRequest(config.spec)?.request.keepId ? 'keep-id' : '',
      Init: Boolean((spec as { init?: boolean }).init),
      Resources: spec.resources ?? {},
      CapAdd: null,
      Privileged: !spec.security.maskPaths,
      // Path, Tag and Size as podman adds them.
      LogConfig: {
        Type: config.log.driver ?? (config.log.none ? 'none' : 'k8s-file'),
        Config: { 'max-size': String(config.log.maxSize), 'max-file': String(config.log.maxFiles) },
        // podman's: the log file ('' when none is kept).
        Path: config.detached && !config.log?.none ? dir.p('container.log') : '',
        Tag: '',
        Size: humanSize(config.log.maxSize, 4),
      },
    },
    GraphDriver: spec.overlay
      ? { Name: 'overlay', Data: { LowerDir: spec.overlay.lowerDirs.join(':'), UpperDir: spec.overlay.upper, WorkDir: spec.overlay.work, MergedDir: spec.rootfs } }
      : { Name: spec.overlay === undefined && config.rootDir ? 'copy' : 'rootfs', Data: { RootDir: spec.rootfs } },
    Mounts: [
      ...spec.binds.map((b) => {
        // A volume's bind, as docker shows a volume mount.
        // (A bind volume's source is its device: the target alone names it, no two mounts share one.)
        const v = storedRequest(config.spec)?.request.mounts.volumes?.find((x) => x.target === b.target);
        return v
          ? { Type: 'volume', Name: v.name, Source: b.source, Destination: b.target, Driver: 'local', Mode: '', RW: !b.readOnly, Propagation: '' }
          : { Type: 'bind', Source: b.source, Destination: b.target, RW: !b.readOnly };
      }),
      ...spec.tmpfs.map((t) => {
        // A tmpfs volume (volume create -o type=tmpfs) is shown as the volume it is.
        const v = storedRequest(config.spec)?.request.mounts.volumes?.find((x) => x.target === t.target);
        return v
          ? { Type: 'volume', Name: v.name, Source: '', Destination: t.target, Driver: 'local', Mode: '', RW: !v.readOnly, Propagation: '' }
          : { Type: 'tmpfs', Source: '', Destination: t.target, Options: t.options };
      }),
    ],
    NetworkSettings: networkSettings(spec, s.display === 'running' ? s.ports : []),
    Platform: 'linux',
    Cgroup: s.cgroup ?? null,
  };
}

/**
 * The image a container was made from: its id (docker's .Image; '' for a
 * --rootfs tree), the name it was asked for in full ("quay.io/libpod/alpine:latest";
 * an id as given), and the manifest digest while the store still has it.
 */
function containerImage(asked: string, id: string | undefined, images?: () => ImageStore): { id: string; name: string; digest: string } {
  if (!id) return { id: '', name: '', digest: '' };
  let name = asked;
  if (!/^(sha256:)?[0-9a-f]{6,64}$/.test(asked) || !id.replace(/^sha256:/, '').startsWith(asked.replace(/^sha256:/, ''))) {
    try {
      name = formatReference(parseReference(asked));
    } catch {
      // kept as asked
    }
  }
  let digest = '';
  try {
    digest = images?.().image(id)?.manifestDigest ?? '';
  } catch {
    // no store: no digest
  }
  return { id, name, digest };
}

/** Containers are looked up first, as docker does; a name that is no container is taken for an image. */
function containerLookup(): (ref: string) => Record<string, unknown> | undefined {
  const containers = ContainerStore.open();
  let store: ImageStore | undefined;
  const images = () => (store ??= ImageStore.open());
  return (ref) => {
    let dir;
    try {
      dir = containers.resolve(ref);
    } catch {
      return undefined; // no such container: maybe an image
    }
    // A container that cannot be read (a record from another nook) says so, rather than "no such image".
    return inspectContainer(dir, images);
  };
}

const INSPECT_FLAGS: readonly FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', value: 'FORMAT', help: "json (default) or a Go template as docker's, e.g. -f '{{.State.Pid}}'" },
  { name: 'type', type: 'string', value: 'container|image', help: 'only look for this kind of object' },
  { name: 'latest', short: 'l', type: 'boolean', help: 'the most recently created container (podman)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function inspectImage(store: ImageStore, ref: string, refs: Record<string, string>): Record<string, unknown> {
  const { record } = requireImage(store, ref);
  const config = store.config(record);
  const repoTags = store.namesOf(record.id, refs).filter((n) => !n.includes('@')).map((n) => familiarReference(parseReference(n)));
  const data = {
    Id: record.id,
    RepoTags: repoTags,
    RepoDigests: record.repoDigests,
    Parent: '',
    Comment: '',
    Created: record.created ?? ZERO_TIME,
    Author: config.author ?? '',
    // docker's keys are there even when the image leaves them out (as an imported one does).
    Config: { User: '', Env: null, Cmd: null, Entrypoint: null, WorkingDir: '', Labels: {}, ExposedPorts: null, Volumes: null, StopSignal: '', ...config.config },
    Architecture: config.architecture,
    Os: config.os,
    ...(config.variant ? { Variant: config.variant } : {}),
    Size: imageSize(record),
    RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: record.stored },
    // nook's own: where the image came from.
    Platform: record.platform,
    ManifestDigest: record.manifestDigest,
    IndexDigest: record.indexDigest ?? null,
    Manifest: JSON.parse(fs.readFileSync(store.blobs.path(record.manifestDigest), 'utf8')),
  };
  // podman image inspect's fields, for templates: its ID is the bare hex, Digest the manifest's.
  return withTemplateAliases(data, {
    ID: record.id.slice(7),
    Digest: record.manifestDigest,
    Labels: config.config?.Labels ?? null,
    User: config.config?.User ?? '',
    ManifestType: record.manifestMediaType,
    VirtualSize: data.Size,
    NamesHistory: store.namesHistory(record.id),
  });
}

export async function inspectCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, INSPECT_FLAGS, 'inspect', { interleaved: true });
  if (flags.latest) positionals.push(latestContainer());
  if (flags.help || !positionals.length) {
    if (!positionals.length && !flags.help) throw new UsageError('nook inspect needs at least one container or image', 'e.g. nook inspect debian:12');
    writeOut(`Usage: nook inspect [FLAGS] CONTAINER|IMAGE...\n\nPrints containers' state, config and mounts, or images' config, layers and manifest, as JSON\n(keys as docker's), or each through a Go template.\n\nFlags:\n${flagHelp(INSPECT_FLAGS)}\n`);
    return 0;
  }
  const type = flags.type as string | undefined;
  if (type !== undefined && type !== 'container' && type !== 'image') throw new UsageError(`unknown --type "${type}"`, 'use --type container or --type image');
  const format = parseFormat(flags.format as string | undefined, '--format');
  if (format.kind === 'table' && flags.format !== undefined) throw new UsageError('nook inspect has no table format', "use -f json or a template, e.g. -f '{{.State.Status}}'");
  const containers = type === 'image' ? () => undefined : containerLookup();
  let store: ImageStore | undefined;
  let refs: Record<string, string> = {};
  const out = positionals.map((p) => {
    const container = containers(p);
    if (container) return container;
    if (type === 'container') throw new NookError(`No such container: ${p}`, { hint: 'see `nook ps -a` for the containers that exist' });
    if (!store) {
      store = ImageStore.open();
      refs = store.refs();
    }
    // Neither a container nor an image: docker's "No such object".
    if (type === undefined && !findImage(store, p)) throw new NookError(`No such object: ${p}`, { hint: 'see `nook ps -a` and `nook images` for what exists' });
    return inspectImage(store, p, refs);
  });
  if (format.kind === 'template') writeOut(await renderTemplate({ ...format, table: false }, out, { flag: '--format' }));
  else writeOut(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

/** podman's --latest: the id of the container created last. */
function latestContainer(): string {
  const last = listContainers(ContainerStore.open()).at(-1);
  if (!last) throw new NookError('no containers to inspect', { hint: 'see `nook ps -a`' });
  return last.config.id;
}

/** docker's NetworkSettings: a private network's address and gateway (slirp4netns's layout, pasta's too), the ports as bound. */
function networkSettings(spec: SandboxSpec, ports: PublishedPort[] | undefined): Record<string, unknown> {
  const priv = spec.network === 'pasta' || spec.network === 'slirp4netns';
  const addr = priv ? { IPAddress: PRIVATE_NET.address, IPPrefixLen: PRIVATE_NET.prefix, Gateway: PRIVATE_NET.gateway } : { IPAddress: '', IPPrefixLen: 0, Gateway: '' };
  return { ...addr, Ports: portMap(ports, false), Networks: { [networkName(spec)]: addr } };
}
