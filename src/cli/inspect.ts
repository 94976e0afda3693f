/**
 * `nook inspect CONTAINER|IMAGE...`: docker inspect's view of containers
 * (state, config, pid, mounts, log path) and of images (record, OCI config
 * and manifest), as JSON.
 */
import fs = require('node:fs');
import { UsageError } from '../errors';
import { decodeSpec } from '../container/spec-codec';
import { liveState } from '../container/status';
import type { ContainerDir } from '../container/state';
import { familiarReference, parseReference } from '../image/reference';
import { requireImage } from '../image/store/lookup';
import { ImageStore, imageSize } from '../image/store/store';
import { parseArgs } from './args';

/** docker inspect's view of a container: state, config, pid, mounts, log path. */
export function inspectContainer(dir: ContainerDir): Record<string, unknown> {
  const config = dir.config();
  const s = liveState(dir);
  const spec = decodeSpec(config.spec);
  return {
    Id: config.id,
    Name: config.name,
    Created: config.created,
    Path: spec.argv[0],
    Args: spec.argv.slice(1),
    Image: config.image,
    State: {
      Status: s.display,
      Running: s.display === 'running',
      Restarting: s.display === 'restarting',
      OOMKilled: Boolean(s.oomKilled),
      Pid: s.display === 'running' ? (s.pid ?? 0) : 0,
      ExitCode: s.exitCode ?? 0,
      StartedAt: s.startedAt ?? null,
      FinishedAt: s.finishedAt ?? null,
      ...(s.note ? { Error: s.note } : {}),
    },
    RestartCount: s.restartCount,
    LogPath: config.detached ? dir.p('container.log') : null,
    Config: {
      Hostname: spec.hostname,
      User: `${spec.user.uid}:${spec.user.gid}`,
      Env: spec.env,
      Cmd: spec.argv,
      WorkingDir: spec.cwd,
      Tty: spec.tty,
      StopSignal: config.stopSignal,
      Image: config.image,
    },
    HostConfig: {
      AutoRemove: config.autoRemove,
      RestartPolicy: config.restart.name === 'on-failure' ? { Name: 'on-failure', MaximumRetryCount: config.restart.maxRetries } : { Name: 'no', MaximumRetryCount: 0 },
      NetworkMode: spec.network,
      ReadonlyRootfs: spec.readOnly,
      Init: Boolean((spec as { init?: boolean }).init),
      Resources: spec.resources ?? {},
      CapAdd: null,
      Privileged: !spec.security.maskPaths,
      LogConfig: { Type: 'k8s-file', Config: { 'max-size': String(config.log.maxSize), 'max-file': String(config.log.maxFiles) } },
    },
    GraphDriver: spec.overlay
      ? { Name: 'overlay', Data: { LowerDir: spec.overlay.lowerDirs.join(':'), UpperDir: spec.overlay.upper, WorkDir: spec.overlay.work, MergedDir: spec.rootfs } }
      : { Name: spec.overlay === undefined && config.rootDir ? 'copy' : 'rootfs', Data: { RootDir: spec.rootfs } },
    Mounts: [
      ...spec.binds.map((b) => ({ Type: 'bind', Source: b.source, Destination: b.target, RW: !b.readOnly })),
      ...spec.tmpfs.map((t) => ({ Type: 'tmpfs', Source: '', Destination: t.target, Options: t.options })),
    ],
    Cgroup: s.cgroup ?? null,
  };
}

/** Containers are looked up first, as docker does; a name that is no container is taken for an image. */
async function containerLookup(): Promise<(ref: string) => Record<string, unknown> | undefined> {
  const { ContainerStore } = await import('../container/state');
  const containers = ContainerStore.open();
  return (ref) => {
    try {
      return inspectContainer(containers.resolve(ref));
    } catch {
      return undefined;
    }
  };
}

export async function inspectCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, [{ name: 'help', type: 'boolean', help: 'show this help' }], 'inspect');
  if (flags.help || !positionals.length) {
    if (!positionals.length && !flags.help) throw new UsageError('nook inspect needs at least one container or image', 'e.g. nook inspect debian:12');
    process.stdout.write('Usage: nook inspect CONTAINER|IMAGE...\n\nPrints a container\'s state, config and mounts, or an image\'s record, OCI config and manifest, as JSON.\n');
    return 0;
  }
  const store = ImageStore.open();
  const refs = store.refs();
  const containers = await containerLookup();
  const out = positionals.map((p) => {
    const container = containers(p);
    if (container) return container;
    const { record } = requireImage(store, p);
    return {
      Id: record.id,
      RepoTags: store.namesOf(record.id, refs).filter((n) => !n.includes('@')).map((n) => familiarReference(parseReference(n))),
      RepoDigests: record.repoDigests,
      Created: record.created ?? null,
      Platform: record.platform,
      Size: imageSize(record),
      ManifestDigest: record.manifestDigest,
      IndexDigest: record.indexDigest ?? null,
      Config: store.config(record),
      Manifest: JSON.parse(fs.readFileSync(store.blobs.path(record.manifestDigest), 'utf8')),
    };
  });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}
