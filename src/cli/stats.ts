/**
 * `nook stats [--no-stream] [--format F] [CONTAINER...]`, docker's columns
 * from each container's own cgroup v2. Without names: the running
 * containers. A running container without a cgroup v2 of its own is an
 * error (exit 1) saying why; a stopped one shows zeros, as docker's.
 * Without --no-stream the table is redrawn each second until Ctrl-C.
 */
import { NookError, errorText } from '../errors';
import { ownCgroup } from '../container/own-cgroup';
import { cpuPercent, sample, type Sample } from '../container/stats';
import { listContainers, liveState } from '../container/status';
import { ContainerStore, type ContainerDir } from '../container/state';
import { asStatusOne, parseCommand } from './container-refs';
import { parseFormat, renderTemplate, writeOut } from './format';

const DEFAULT_TEMPLATE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
const HEADERS = {
  Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %',
  NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS',
};

/** Go's %.Ng: N significant digits, trailing zeros dropped, exponent form outside 1e-4 ≤ |x| < 1eN. */
export function goG(x: number, digits: number): string {
  if (x === 0) return '0';
  const [mant, expText] = x.toExponential(digits - 1).split('e');
  const exp = Number(expText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= digits) return `${strip(mant)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return strip(x.toFixed(Math.max(0, digits - 1 - exp)));
}

function customSize(size: number, base: number, units: string[], digits: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${goG(size, digits)}${units[i]}`;
}

/** docker's units.BytesSize: "1.953MiB". */
export const binarySize = (n: number): string => customSize(n, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'], 4);
/** docker's units.HumanSizeWithPrecision(n, 3): "1.2kB". */
export const decimalSize = (n: number): string => customSize(n, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'], 3);

export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

export function statsRow(ref: string, id: string, name: string, cur: Sample | undefined, prev?: Sample): StatsRow {
  const s = cur ?? { cpuNs: 0, systemNs: 0, onlineCpus: 1, memUsage: 0, memLimit: 0, netRx: 0, netTx: 0, blkRead: 0, blkWrite: 0, pids: 0 };
  return {
    Container: ref,
    ID: id.slice(0, 12),
    Name: name,
    CPUPerc: `${(cur ? cpuPercent(prev, s) : 0).toFixed(2)}%`,
    MemUsage: `${binarySize(s.memUsage)} / ${binarySize(s.memLimit)}`,
    MemPerc: `${(s.memLimit > 0 ? (100 * s.memUsage) / s.memLimit : 0).toFixed(2)}%`,
    NetIO: `${decimalSize(s.netRx)} / ${decimalSize(s.netTx)}`,
    BlockIO: `${decimalSize(s.blkRead)} / ${decimalSize(s.blkWrite)}`,
    PIDs: String(s.pids),
  };
}

interface Target {
  ref: string;
  dir: ContainerDir;
}

/** One row per target: two samples a second apart for CPU %, as docker's collector takes them. */
async function collect(targets: Target[], previous: Map<string, Sample>): Promise<{ rows: StatsRow[]; errors: NookError[] }> {
  const errors: NookError[] = [];
  const live: { t: Target; cgroup: string; pid: number; name: string }[] = [];
  const rows = new Map<string, StatsRow>();
  for (const t of targets) {
    try {
      const s = liveState(t.dir);
      const name = t.dir.config().name;
      if (s.display !== 'running' || s.pid === undefined) {
        rows.set(t.dir.id, statsRow(t.ref, t.dir.id, name, undefined));
        continue;
      }
      live.push({ t, cgroup: ownCgroup(s, `show the stats of container ${t.ref}`), pid: s.pid, name });
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      errors.push(e);
    }
  }
  if (live.length && live.some((l) => !previous.has(l.t.dir.id))) {
    for (const l of live) previous.set(l.t.dir.id, sample(l.cgroup, l.pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const l of live) {
    const cur = sample(l.cgroup, l.pid);
    rows.set(l.t.dir.id, statsRow(l.t.ref, l.t.dir.id, l.name, cur, previous.get(l.t.dir.id)));
    previous.set(l.t.dir.id, cur);
  }
  return { rows: targets.map((t) => rows.get(t.dir.id)).filter((r): r is StatsRow => r !== undefined), errors };
}

export async function statsCommand(argv: string[]): Promise<number> {
  const p = parseCommand(
    argv,
    [
      { name: 'no-stream', type: 'boolean', help: 'print the figures once, instead of redrawing them each second' },
      { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: 'table {{.Name}}\\t{{.CPUPerc}}'" },
      { name: 'all', short: 'a', type: 'boolean', help: 'every container, not only running ones' },
      { name: 'no-trunc', type: 'boolean', help: 'accepted for docker compatibility' },
    ],
    'stats',
    '[--no-stream] [--format F] [CONTAINER...]',
    "Shows containers' CPU, memory, network, block I/O and process counts, from their own cgroup v2.",
  );
  if (!p) return 0;
  const format = parseFormat(p.flags.format as string | undefined);
  const store = ContainerStore.open();
  let targets: Target[];
  if (p.positionals.length) {
    targets = [];
    for (const ref of p.positionals) {
      try {
        targets.push({ ref, dir: store.resolve(ref) });
      } catch (e) {
        throw e instanceof NookError ? asStatusOne(e) : e;
      }
    }
  } else {
    targets = listContainers(store)
      .filter((l) => p.flags.all || l.state.display === 'running')
      .map((l) => ({ ref: l.config.id.slice(0, 12), dir: l.dir }));
  }
  const render = async (rows: StatsRow[]) =>
    format.kind === 'json'
      ? rows.map((r) => `${JSON.stringify(r)}\n`).join('')
      : renderTemplate(format.kind === 'template' ? format : parseFormat(DEFAULT_TEMPLATE) as { template: string; table: boolean }, rows, { headers: HEADERS });
  const previous = new Map<string, Sample>();
  for (;;) {
    const { rows, errors } = await collect(targets, previous);
    const text = await render(rows);
    if (p.flags['no-stream'] || errors.length) {
      writeOut(text);
      for (const e of errors.slice(0, -1)) writeOut2(e);
      if (errors.length) throw errors[errors.length - 1];
      return 0;
    }
    // docker's redraw: clear the screen, home the cursor, then the table.
    writeOut(`${process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${text}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function writeOut2(e: NookError): void {
  require('node:fs').writeSync(2, errorText(e));
}
