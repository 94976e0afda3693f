/**
 * `nook ps [-a] [-q] [-f FILTER]... [-n N|-l] [-s] [--no-trunc] [--noheading]
 * [--format table|json|TEMPLATE]`: what exists, newest first as docker lists
 * it, read from the state directory and checked against the containers'
 * locks (see container/status.ts).
 */
import path = require('node:path');
import { decodeSpec, storedRequest } from '../container/spec-codec';
import { listContainers, type Listed } from '../container/status';
import { ContainerStore } from '../container/state';
import { parseArgs, flagHelp, stringList, type FlagSpec } from './args';
import { CONTAINER_FILTER_KEYS, checkContainerFilters, matchContainer, parseFilters, type Filters, type PortProto, type TimeBounds } from './filters';
import { portsColumn } from './port';
import { networkName } from '../sandbox/spec';
import { ago, ellipsis, goTime, humanSize, parseFormat, renderTemplate, statusText, table, writeOut } from './format';
import { FlagError, NookError } from '../errors';

/** podman's ps --sort keys: each orders ascending (created: oldest first). */
const SORT_KEYS = ['command', 'created', 'id', 'image', 'names', 'runningfor', 'status'] as const;

function sortKey(l: Listed, key: string): string {
  switch (key) {
    case 'command':
      return l.config.command.join(' ');
    case 'id':
      return l.config.id;
    case 'image':
      return l.config.image;
    case 'names':
      return l.config.name;
    case 'status':
      return l.state.display;
    default:
      return l.config.created; // created, runningfor: the oldest first
  }
}

const PS_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'show all containers (default: running ones)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print container ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'do not shorten ids and commands' },
  { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: '{{.Names}}', 'table {{.ID}}\\t{{.Status}}'" },
  { name: 'filter', short: 'f', type: 'string', multiple: true, value: 'KEY=VALUE', help: `only containers that match: ${CONTAINER_FILTER_KEYS.join(', ')} (docker's filters)` },
  { name: 'last', short: 'n', type: 'string', value: 'N', help: 'the N most recently created containers (in any state)' },
  { name: 'latest', short: 'l', type: 'boolean', help: 'the most recently created container (in any state)' },
  { name: 'size', short: 's', type: 'boolean', help: 'add a SIZE column: the writable layer, and with the image ("virtual")' },
  { name: 'noheading', type: 'boolean', help: "no header row (podman's flag)" },
  { name: 'sort', type: 'string', value: 'FIELD', help: `order by ${SORT_KEYS.join(', ')} (podman's flag; default: newest first)` },
  { name: 'external', type: 'boolean', help: "podman's: also containers of other tools in the store; nook's store has none, so the same as -a" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** A container's labels, from its record when the record has them (`run --label`). */
function labelsOf(l: Listed): Record<string, string> | undefined {
  const own = l.config.labels;
  if (own) return own;
  return (storedRequest(l.config.spec)?.request as { labels?: Record<string, string> } | undefined)?.labels;
}

/** docker's "2B (virtual 72.9MB)": the writable layer's bytes, and those with the image's. */
function sizeText(l: Listed, imageSize: (ref: string) => number): string {
  const root = l.config.rootDir;
  let rw = 0;
  if (root) {
    const { dirSize } = require('../util/dir-size') as typeof import('../util/dir-size');
    const upper = path.join(root, 'upper');
    rw = dirSize(require('node:fs').existsSync(upper) ? upper : path.join(root, 'rootfs'));
  }
  const virtual = root ? rw + imageSize(l.config.image) : rw;
  return `${humanSize(rw)} (virtual ${humanSize(virtual)})`;
}

function commandText(argv: string[], full: boolean): string {
  const text = argv.join(' ');
  return JSON.stringify(full ? text : ellipsis(text, 20));
}

/** docker ps's template fields, and their column titles. */
const HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE',
  Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Label: 'LABEL', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

function templateRow(l: Listed, full: boolean, now: number, size: () => string): Record<string, unknown> {
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
    State: l.state.paused ? 'paused' : l.state.display,
    Status: statusText(l.state, now),
    Size: size(),
    Names: l.config.name,
    Labels: Object.entries(labelsOf(l) ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    Label: (key: unknown) => labelsOf(l)?.[String(key)] ?? '',
    Mounts: mounts.join(','),
    Networks: network,
    LocalVolumes: '0',
  };
}

function psJson(l: Listed, size: string | undefined): Record<string, unknown> {
  return {
    Id: l.config.id,
    Names: [l.config.name],
    Image: l.config.image,
    Command: l.config.command,
    Created: l.config.created,
    State: l.state.paused ? 'paused' : l.state.display,
    Status: statusText(l.state),
    ExitCode: l.state.display === 'exited' ? (l.state.exitCode ?? 0) : null,
    Pid: l.state.display === 'running' ? (l.state.pid ?? null) : null,
    RestartCount: l.state.restartCount,
    // podman's shape, as the rest of this JSON.
    Ports: (l.state.display === 'running' ? (l.state.ports ?? []) : []).map((p) => ({ host_ip: p.hostIp, container_port: p.containerPort, host_port: p.hostPort, range: 1, protocol: p.protocol })),
    StartedAt: l.state.startedAt ?? null,
    FinishedAt: l.state.finishedAt ?? null,
    Labels: labelsOf(l) ?? null,
    ...(size === undefined ? {} : { Size: size }),
  };
}

/** Image lookups for ancestor= and -s, done once per command and only when asked for. */
function imageFacts(): { idOf: (ref: string) => string | undefined; sizeOf: (ref: string) => number } {
  // The image store's modules are loaded, and the store opened, on the first lookup only.
  type StoreModule = typeof import('../image/store/store');
  let store: InstanceType<StoreModule['ImageStore']> | undefined;
  const find = (ref: string) => {
    try {
      store ??= (require('../image/store/store') as StoreModule).ImageStore.open();
      return (require('../image/store/lookup') as typeof import('../image/store/lookup')).findImage(store, ref)?.record;
    } catch {
      return undefined;
    }
  };
  return {
    idOf: (ref) => find(ref)?.id,
    sizeOf: (ref) => {
      const r = find(ref);
      return r ? (require('../image/store/store') as StoreModule).imageSize(r) : 0;
    },
  };
}

/** docker's ancestor=: the image as named at create, or the same image by id or another name. */
function fromImage(l: Listed, value: string, idOf: (ref: string) => string | undefined): boolean {
  const { formatReference, parseReference } = require('../image/reference') as typeof import('../image/reference');
  const norm = (r: string) => {
    try {
      return formatReference(parseReference(r));
    } catch {
      return r;
    }
  };
  if (l.config.image === value || norm(l.config.image) === norm(value)) return true;
  const want = idOf(value);
  return want !== undefined && want === idOf(l.config.image);
}

/** before=/since=: the created time of the container each names. */
function timeBounds(f: Filters, store: ContainerStore): TimeBounds {
  const at = (key: string) => {
    const v = f.get(key);
    if (!v) return undefined;
    if (v.length > 1) throw new NookError(`filter '${key}' was given ${v.length} times`, { exitCode: 1, hint: 'give it once' });
    return store.resolve(v[0]).config().created;
  };
  return { before: at('before'), since: at('since') };
}

export async function psCommand(argv: string[]): Promise<number> {
  // minimist reads --no-X as X=false: take docker's --no-trunc off before parsing.
  const noTrunc = argv.includes('--no-trunc');
  const { flags } = parseArgs(argv.filter((a) => a !== '--no-trunc'), PS_FLAGS, 'ps', { interleaved: true });
  flags['no-trunc'] = noTrunc;
  if (flags.help) {
    process.stdout.write(`Usage: nook ps [FLAGS]\n\nLists containers, newest first.\n\nFlags:\n${flagHelp(PS_FLAGS)}\n`);
    return 0;
  }
  const format = parseFormat(flags.format as string | undefined);
  const filters = parseFilters(stringList(flags.filter), CONTAINER_FILTER_KEYS, 'ps');
  checkContainerFilters(filters);
  let last = -1;
  if (flags.last !== undefined) {
    if (!/^-?\d+$/.test(flags.last as string)) throw new FlagError(`invalid --last "${flags.last as string}"`, 'give a number of containers, e.g. -n 3');
    last = Number(flags.last);
  }
  if (flags.latest) last = 1;
  const sort = flags.sort as string | undefined;
  if (sort !== undefined && !(SORT_KEYS as readonly string[]).includes(sort))
    throw new FlagError(`invalid option for --sort, options are: ${SORT_KEYS.join(', ')}`, `e.g. nook ps --sort names`);
  const store = ContainerStore.open();
  const bounds = timeBounds(filters, store);
  const images = filters.has('ancestor') || flags.size || format.kind === 'template' ? imageFacts() : undefined;
  // docker: -n/-l and a status filter look at containers in every state.
  const all = flags.all || flags.external || last > 0 || filters.has('status');
  let shown = listContainers(store)
    .reverse()
    .filter((l) => all || l.state.display === 'running' || l.state.display === 'restarting')
    .filter((l) =>
      matchContainer(
        filters,
        {
          id: l.config.id,
          name: l.config.name,
          labels: labelsOf(l),
          status: l.state.display,
          exitCode: l.state.exitCode,
          created: l.config.created,
          network: filters.has('network') ? networkOf(l) : undefined,
          mounts: filters.has('volume') ? mountsOf(l) : undefined,
          ...(filters.has('publish') || filters.has('expose') ? portsOf(l) : {}),
          fromImage: (v) => fromImage(l, v, images!.idOf),
        },
        bounds,
      ),
    );
  if (last > 0) shown = shown.slice(0, last);
  if (sort !== undefined) {
    const keyed = shown.map((l) => ({ l, k: sortKey(l, sort) }));
    keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
    shown = keyed.map((x) => x.l);
  }
  const full = Boolean(flags['no-trunc']);
  const now = Date.now();
  const size = (l: Listed) => sizeText(l, images ? images.sizeOf : () => 0);
  let out: string;
  if (flags.quiet) out = shown.map((l) => `${full ? l.config.id : l.config.id.slice(0, 12)}\n`).join('');
  else if (format.kind === 'json') out = `${JSON.stringify(shown.map((l) => psJson(l, flags.size ? size(l) : undefined)), null, 2)}\n`;
  else if (format.kind === 'template') {
    // .Size is costly (a walk of the writable layer): only for templates that use it.
    const withSize = /\.Size\b/.test(format.template);
    out = await renderTemplate(format, shown.map((l) => templateRow(l, full, now, () => (withSize ? size(l) : '0B'))), { headers: HEADERS });
    if (flags.noheading && format.table) out = out.slice(out.indexOf('\n') + 1);
  } else {
    const header = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(flags.size ? ['SIZE'] : [])];
    const rows = shown.map((l) => [
      full ? l.config.id : l.config.id.slice(0, 12), l.config.image, commandText(l.config.command, full), ago(l.config.created, now), statusText(l.state, now),
      l.state.display === 'running' ? portsColumn(l.state.ports) : '', l.config.name, ...(flags.size ? [size(l)] : []),
    ]);
    out = table([header, ...rows]);
    if (flags.noheading) out = out.slice(out.indexOf('\n') + 1);
  }
  writeOut(out);
  return 0;
}

function mountsOf(l: Listed): { source?: string; target: string }[] {
  try {
    const spec = decodeSpec(l.config.spec, `container ${l.config.name}`);
    return [...spec.binds.map((b) => ({ source: b.source, target: b.target })), ...spec.tmpfs.map((t) => ({ target: t.target }))];
  } catch {
    return [];
  }
}

/** publish=/expose=: the container ports it publishes, and those its image exposes with them. */
function portsOf(l: Listed): { published: PortProto[]; exposed: PortProto[] } {
  try {
    const published = (decodeSpec(l.config.spec, `container ${l.config.name}`).ports ?? []).map((p) => ({ port: p.containerPort, protocol: p.protocol }));
    const { exposedPorts } = require('../container/ports') as typeof import('../container/ports');
    const image = exposedPorts(storedRequest(l.config.spec)?.root.image?.config).map((e) => ({ port: e.port, protocol: e.protocol as string }));
    return { published, exposed: [...published, ...image] };
  } catch {
    return { published: [], exposed: [] };
  }
}

function networkOf(l: Listed): string | undefined {
  try {
    return networkName(decodeSpec(l.config.spec, `container ${l.config.name}`));
  } catch {
    return undefined;
  }
}
