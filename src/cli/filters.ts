/**
 * docker's `--filter KEY=VALUE` for `ps` and `images`: parsing, and matching
 * against plain records (the commands gather the records; nothing here reads
 * the disk, so the rules are unit-tested on their own).
 *
 * docker's rules, followed here: values of the same key are alternatives (OR),
 * different keys must all match (AND) — except `label`, where every value must
 * match, as docker's MatchKVList does. `name` and `id` are regular expressions
 * found anywhere in the name (docker matches against "/NAME") or id.
 */
import { FlagError, NookError } from '../errors';

export type Filters = Map<string, string[]>;

/** docker's daemon errors (unknown key, bad value) exit 1, as docker's do. */
function invalid(message: string, hint: string): NookError {
  return new NookError(message, { exitCode: 1, hint });
}

/** Parses the values of every --filter flag; `keys` are those the command knows. */
export function parseFilters(values: readonly string[], keys: readonly string[], command: string): Filters {
  const out: Filters = new Map();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0)
      throw new FlagError(`bad format of filter "${v}" (expected name=value)`, `e.g. nook ${command} --filter ${keys[0]}=VALUE`);
    const key = v.slice(0, eq).trim().toLowerCase();
    if (!keys.includes(key)) throw invalid(`invalid filter '${key}'`, `nook ${command} filters on: ${keys.join(', ')}`);
    out.set(key, [...(out.get(key) ?? []), v.slice(eq + 1)]);
  }
  return out;
}

/** A filter value as a regular expression, as docker's filters.Args.Match takes it (a literal match also counts). */
function regexMatch(key: string, pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    throw invalid(`invalid filter '${key}=${pattern}': not a regular expression`, `e.g. --filter ${key}='^web'`);
  }
  return re.test(subject);
}

/**
 * docker's label filters: "KEY" (the label is set), "KEY=VALUE", "KEY!=VALUE";
 * all of them must hold.
 */
export function matchLabels(wanted: readonly string[] | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!wanted) return true;
  const have = labels ?? {};
  return wanted.every((w) => {
    const ne = w.indexOf('!=');
    const eq = w.indexOf('=');
    if (ne >= 0 && (eq < 0 || ne < eq)) {
      const k = w.slice(0, ne);
      return Object.prototype.hasOwnProperty.call(have, k) && have[k] !== w.slice(ne + 2);
    }
    if (eq < 0) return Object.prototype.hasOwnProperty.call(have, w);
    const k = w.slice(0, eq);
    return Object.prototype.hasOwnProperty.call(have, k) && have[k] === w.slice(eq + 1);
  });
}

export const CONTAINER_FILTER_KEYS = [
  'name', 'id', 'label', 'status', 'exited', 'ancestor', 'before', 'since', 'network', 'volume', 'publish', 'expose', 'health',
] as const;

/** docker's health= words; nook has no healthchecks, so every container's is "none". */
const HEALTH = ['starting', 'healthy', 'unhealthy', 'none'];

export interface PortProto {
  port: number;
  protocol: string;
}

/**
 * docker's publish=/expose= value: "PORT[/PROTO]" or "START-END[/PROTO]"
 * (tcp when no protocol is given), as the container ports it stands for.
 */
export function filterPorts(key: string, value: string): PortProto[] {
  if (value.includes(':')) throw invalid(`filter for '${key}' should not contain ':': ${value}`, `give the container's port, e.g. --filter ${key}=80/tcp`);
  const m = /^(\d+)(?:-(\d+))?(?:\/([a-z]+))?$/i.exec(value);
  const [lo, hi] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, -1];
  if (!m || lo < 1 || hi > 65535 || hi < lo)
    throw invalid(`invalid filter '${key}=${value}': not a port or port range`, `e.g. --filter ${key}=80, ${key}=8000-8080/tcp, ${key}=53/udp`);
  const protocol = (m[3] ?? 'tcp').toLowerCase();
  const out: PortProto[] = [];
  for (let p = lo; p <= hi; p++) out.push({ port: p, protocol });
  return out;
}

const hasPort = (ports: readonly PortProto[] | undefined, key: string, value: string) =>
  filterPorts(key, value).some((w) => (ports ?? []).some((p) => p.port === w.port && p.protocol === w.protocol));

/** docker's container states (nook has no paused or dead containers, but accepts the words), and podman's "stopped" for exited. */
const STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead', 'stopped'];

export interface ContainerFacts {
  id: string;
  name: string;
  labels?: Record<string, string>;
  /** docker's State.Status. */
  status: string;
  exitCode?: number;
  /** ISO time. */
  created: string;
  network?: string;
  /** Its mounts: docker's volume= names a mount's source (or volume name) or its destination. */
  mounts?: { source?: string; target: string }[];
  /** publish=: its published container ports (-p, -P). */
  published?: PortProto[];
  /** expose=: its image's EXPOSE ports and its published ones (docker exposes what it publishes). */
  exposed?: PortProto[];
  /** Whether the container was made from the image named by an `ancestor` value (the caller resolves images). */
  fromImage: (ref: string) => boolean;
}

/** Checks values that docker checks before listing: status words, exit codes. */
export function checkContainerFilters(f: Filters): void {
  for (const s of f.get('status') ?? [])
    if (!STATES.includes(s)) throw invalid(`invalid filter 'status=${s}'`, `status is one of ${STATES.join(', ')}`);
  for (const c of f.get('exited') ?? [])
    if (!/^-?\d+$/.test(c)) throw invalid(`invalid filter 'exited=${c}': not an exit code`, 'e.g. --filter exited=0');
  for (const h of f.get('health') ?? [])
    if (!HEALTH.includes(h)) throw invalid(`Unrecognised filter value for health: ${h}`, `health is one of ${HEALTH.join(', ')} (nook has no healthchecks: every container's is none)`);
  for (const key of ['publish', 'expose']) for (const v of f.get(key) ?? []) filterPorts(key, v);
}

/** `before`/`since` as the created times of the containers they name (the caller resolves them). */
export interface TimeBounds {
  before?: string;
  since?: string;
  /** For until= durations (ms; default: the time of the call). */
  now?: number;
}

export function matchContainer(f: Filters, c: ContainerFacts, bounds: TimeBounds = {}): boolean {
  const any = (key: string, test: (v: string) => boolean) => {
    const vs = f.get(key);
    return !vs || vs.some(test);
  };
  return (
    any('name', (v) => regexMatch('name', v, `/${c.name}`)) &&
    any('id', (v) => regexMatch('id', v, c.id)) &&
    matchLabels(f.get('label'), c.labels) &&
    any('status', (v) => v === c.status || (v === 'stopped' && c.status === 'exited')) &&
    any('exited', (v) => c.status === 'exited' && Number(v) === (c.exitCode ?? 0)) &&
    any('ancestor', (v) => c.fromImage(v)) &&
    any('network', (v) => v === c.network) &&
    any('volume', (v) => (c.mounts ?? []).some((m) => m.source === v || m.target === v)) &&
    any('publish', (v) => hasPort(c.published, 'publish', v)) &&
    any('expose', (v) => hasPort(c.exposed, 'expose', v)) &&
    any('health', (v) => v === 'none') &&
    (bounds.before === undefined || c.created < bounds.before) &&
    (bounds.since === undefined || c.created > bounds.since)
  );
}

export const IMAGE_FILTER_KEYS = ['dangling', 'label', 'reference', 'before', 'since', 'until'] as const;

export function checkImageFilters(f: Filters, now = Date.now()): void {
  for (const d of f.get('dangling') ?? [])
    if (!/^(true|false|1|0)$/i.test(d)) throw invalid(`invalid filter 'dangling=${d}'`, 'dangling is true or false');
  for (const u of f.get('until') ?? []) untilTime(u, now);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/**
 * docker's until=: a Go duration before now ("10m", "1h30m"), Unix seconds
 * ("1700000000[.5]"), or a date/time ("2026-01-02", "2026-01-02T15:04:05Z");
 * the time in ms.
 */
export function untilTime(value: string, now = Date.now()): number {
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    let ms = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]];
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value) : NaN;
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${value}'`, 'give a duration (10m, 24h), Unix seconds, or a date such as 2026-01-02T15:04:05Z');
  return t;
}

/**
 * Go's path.Match, which docker's reference filter uses: `*` and `?` stop at
 * "/", `[...]` is a class; the whole string must match.
 */
export function pathMatch(pattern: string, name: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return false; // Go: ErrBadPattern, which docker treats as no match
      re += `[${pattern.slice(i + 1, end)}]`;
      i = end;
    } else re += ch.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(name);
}

/** An image's created time in ms (images without one sort first, as docker's zero time). */
const time = (iso: string | undefined) => (iso ? Date.parse(iso) || 0 : 0);

export interface ImageRow {
  /** "<none>" when untagged. */
  repository: string;
  tag: string;
  /** Whether the image has no name at all (docker's dangling). */
  dangling: boolean;
  labels?: Record<string, string>;
  created?: string;
}

/**
 * docker's reference filter matches the familiar "repo:tag" or "repo" (e.g.
 * "busybox", "busybox:1", "ghcr.io/o/r:1") against each pattern.
 */
export function matchImage(f: Filters, r: ImageRow, bounds: TimeBounds = {}): boolean {
  const any = (key: string, test: (v: string) => boolean) => {
    const vs = f.get(key);
    return !vs || vs.some(test);
  };
  return (
    any('dangling', (v) => /^(true|1)$/i.test(v) === r.dangling) &&
    matchLabels(f.get('label'), r.labels) &&
    any('reference', (v) => !r.dangling && (pathMatch(v, r.repository) || pathMatch(v, `${r.repository}:${r.tag}`))) &&
    (bounds.before === undefined || time(r.created) < time(bounds.before)) &&
    (bounds.since === undefined || time(r.created) > time(bounds.since)) &&
    any('until', (v) => time(r.created) < untilTime(v, bounds.now))
  );
}
