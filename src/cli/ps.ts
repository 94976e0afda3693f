/**
 * `nook ps [-a] [-q] [--format table|json]` and the container half of
 * `nook inspect`: what exists, read from the state directory and checked
 * against the containers' locks (see container/status.ts).
 */
import { UsageError } from '../errors';
import { decodeSpec } from '../container/spec-codec';
import { liveState, statusText, type LiveState } from '../container/status';
import { ContainerStore, type ContainerConfig, type ContainerDir } from '../container/state';
import { ago } from './images';
import { parseArgs, flagHelp, type FlagSpec } from './args';

const PS_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'show all containers (default: running ones)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print container ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'do not shorten ids and commands' },
  { name: 'format', type: 'string', value: 'table|json', help: 'output format (default table)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export interface Listed {
  dir: ContainerDir;
  config: ContainerConfig;
  state: LiveState;
}

/** Every container that exists (a directory with a config), oldest first. */
export function listContainers(store: ContainerStore): Listed[] {
  const out: Listed[] = [];
  for (const id of store.ids()) {
    const dir = store.dir(id);
    try {
      out.push({ dir, config: dir.config(), state: liveState(dir) });
    } catch {
      /* being created or removed right now */
    }
  }
  return out.sort((a, b) => a.config.created.localeCompare(b.config.created));
}

function commandText(argv: string[], full: boolean): string {
  const text = argv.join(' ');
  return JSON.stringify(full || text.length <= 20 ? text : `${text.slice(0, 19)}…`);
}

function psJson(l: Listed): Record<string, unknown> {
  return {
    Id: l.config.id,
    Names: [l.config.name],
    Image: l.config.image,
    Command: l.config.command,
    Created: l.config.created,
    State: l.state.display,
    Status: statusText(l.state),
    ExitCode: l.state.display === 'exited' ? (l.state.exitCode ?? 0) : null,
    Pid: l.state.display === 'running' ? (l.state.pid ?? null) : null,
    RestartCount: l.state.restartCount,
    StartedAt: l.state.startedAt ?? null,
    FinishedAt: l.state.finishedAt ?? null,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n') + '\n';
}

export async function psCommand(argv: string[]): Promise<number> {
  // minimist reads --no-X as X=false: take docker's --no-trunc off before parsing.
  const noTrunc = argv.includes('--no-trunc');
  const { flags } = parseArgs(argv.filter((a) => a !== '--no-trunc'), PS_FLAGS, 'ps');
  flags['no-trunc'] = noTrunc;
  if (flags.help) {
    process.stdout.write(`Usage: nook ps [FLAGS]\n\nLists containers.\n\nFlags:\n${flagHelp(PS_FLAGS)}\n`);
    return 0;
  }
  const format = (flags.format as string | undefined) ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`unknown --format "${format}"`, 'use --format table or --format json');
  const shown = listContainers(ContainerStore.open()).filter((l) => flags.all || l.state.display === 'running' || l.state.display === 'restarting');
  const full = Boolean(flags['no-trunc']);
  let out: string;
  if (flags.quiet) out = shown.map((l) => `${full ? l.config.id : l.config.id.slice(0, 12)}\n`).join('');
  else if (format === 'json') out = `${JSON.stringify(shown.map(psJson), null, 2)}\n`;
  else {
    const now = Date.now();
    out = table([
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
      ...shown.map((l) => [full ? l.config.id : l.config.id.slice(0, 12), l.config.image, commandText(l.config.command, full), ago(l.config.created, now), statusText(l.state, now), l.config.name]),
    ]);
  }
  require('node:fs').writeSync(1, out);
  return 0;
}

/** docker inspect's view of a container: state, config, pid, mounts, log path. */
export function inspectContainer(dir: ContainerDir): Record<string, unknown> {
  const config = dir.config();
  const s = liveState(dir);
  const spec = decodeSpec(config.spec, `container ${config.name}`);
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
