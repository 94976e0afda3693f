/**
 * `nook ps [-a] [-q] [--no-trunc] [--format table|json|TEMPLATE]`: what exists, read from the
 * state directory and checked against the containers' locks (see
 * container/status.ts).
 */
import { decodeSpec } from '../container/spec-codec';
import { listContainers, type Listed } from '../container/status';
import { ContainerStore } from '../container/state';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { portsColumn } from './port';
import { networkName } from '../sandbox/spec';
import { ago, ellipsis, goTime, parseFormat, renderTemplate, statusText, table, writeOut } from './format';

const PS_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'show all containers (default: running ones)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print container ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'do not shorten ids and commands' },
  { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: '{{.Names}}', 'table {{.ID}}\\t{{.Status}}'" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function commandText(argv: string[], full: boolean): string {
  const text = argv.join(' ');
  return JSON.stringify(full ? text : ellipsis(text, 20));
}

/** docker ps's template fields, and their column titles. */
const HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE',
  Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Label: 'LABEL', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

function templateRow(l: Listed, full: boolean, now: number): Record<string, unknown> {
  let mounts: string[] = [];
  let network = 'none';
  try {
    const spec = decodeSpec(l.config.spec, `container ${l.config.name}`);
    mounts = [...spec.binds.map((b) => b.source), ...spec.tmpfs.map((t) => t.target)].map((m) => (full ? m : ellipsis(m, 15)));
    network = networkName(spec);
  } catch {
    /* an old or damaged config: the other fields still tell */
  }
  return {
    ID: full ? l.config.id : l.config.id.slice(0, 12),
    Image: l.config.image,
    Command: commandText(l.config.command, full),
    CreatedAt: goTime(l.config.created),
    RunningFor: ago(l.config.created, now),
    Ports: l.state.display === 'running' ? portsColumn(l.state.ports) : '',
    State: l.state.display,
    Status: statusText(l.state, now),
    Size: '0B',
    Names: l.config.name,
    // docker's "k=v,k2=v2", and {{.Label "k"}}.
    Labels: Object.entries(l.config.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    Label: (key: unknown) => l.config.labels?.[String(key)] ?? '',
    Mounts: mounts.join(','),
    Networks: network,
    LocalVolumes: '0',
  };
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
    Labels: l.config.labels ?? null,
    // podman's shape, as the rest of this JSON.
    Ports: (l.state.display === 'running' ? (l.state.ports ?? []) : []).map((p) => ({ host_ip: p.hostIp, container_port: p.containerPort, host_port: p.hostPort, range: 1, protocol: p.protocol })),
    StartedAt: l.state.startedAt ?? null,
    FinishedAt: l.state.finishedAt ?? null,
  };
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
  const format = parseFormat(flags.format as string | undefined);
  const shown = listContainers(ContainerStore.open()).filter((l) => flags.all || l.state.display === 'running' || l.state.display === 'restarting');
  const full = Boolean(flags['no-trunc']);
  const now = Date.now();
  let out: string;
  if (flags.quiet) out = shown.map((l) => `${full ? l.config.id : l.config.id.slice(0, 12)}\n`).join('');
  else if (format.kind === 'json') out = `${JSON.stringify(shown.map(psJson), null, 2)}\n`;
  else if (format.kind === 'template') out = await renderTemplate(format, shown.map((l) => templateRow(l, full, now)), { headers: HEADERS });
  else {
    out = table([
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
      ...shown.map((l) => [full ? l.config.id : l.config.id.slice(0, 12), l.config.image, commandText(l.config.command, full), ago(l.config.created, now), statusText(l.state, now), l.state.display === 'running' ? portsColumn(l.state.ports) : '', l.config.name]),
    ]);
  }
  writeOut(out);
  return 0;
}
