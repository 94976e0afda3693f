/**
 * `nook volume create|ls|inspect|rm|prune`: docker's volume commands, local
 * driver only (src/container/volumes.ts). Output, messages and exit codes
 * as docker's: "no such volume" and "volume is in use" exit 1.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError, UsageError } from '../errors';
import { containersUsing, VolumeStore, type VolumeRecord } from '../container/volumes';
import { parseArgs, flagHelp, stringList, type FlagSpec, type ParsedArgs } from './args';
import { parseFormat, renderTemplate, table } from './format';

const HELP: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };
const say = (text: string) => fs.writeSync(1, `${text}\n`);

function parse(argv: string[], specs: FlagSpec[], sub: string, usage: string, about: string): ParsedArgs | undefined {
  const parsed = parseArgs(argv, [...specs, HELP], `volume ${sub}`);
  if (parsed.flags.help) {
    say(`Usage: nook volume ${sub} ${usage}\n\n${about}\n\nFlags:\n${flagHelp([...specs, HELP])}`);
    return undefined;
  }
  return parsed;
}

function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i === 0 || !l) throw new UsageError(`invalid label "${l}"`, 'use --label KEY=VALUE');
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

/** docker volume inspect's object. */
function inspectObject(store: VolumeStore, v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: v.CreatedAt.replace(/\.\d+Z$/, 'Z'),
    Driver: 'local',
    Labels: v.Labels,
    Mountpoint: store.dataDir(v.Name),
    Name: v.Name,
    Options: v.Options,
    Scope: 'local',
  };
}

function templateRow(store: VolumeStore, v: VolumeRecord): Record<string, unknown> {
  return {
    Name: v.Name,
    Driver: 'local',
    Scope: 'local',
    Mountpoint: store.dataDir(v.Name),
    Labels: Object.entries(v.Labels).map(([k, val]) => `${k}=${val}`).join(','),
    Links: 'N/A',
    Size: 'N/A',
    CreatedAt: v.CreatedAt,
  };
}

const HEADERS: Record<string, string> = { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE', CreatedAt: 'CREATED AT' };

type Filter = (v: VolumeRecord, inUse: () => boolean) => boolean;

function parseFilters(list: string[]): Filter[] {
  const byKey = new Map<string, string[]>();
  for (const f of list) {
    const i = f.indexOf('=');
    if (i <= 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, i).toLowerCase();
    if (!['name', 'label', 'dangling', 'driver'].includes(key)) throw new UsageError(`invalid filter '${key}'`, 'nook volume ls filters: name=, label=KEY[=VALUE], dangling=true|false, driver=local');
    byKey.set(key, [...(byKey.get(key) ?? []), f.slice(i + 1)]);
  }
  const out: Filter[] = [];
  // As docker: values of one key are alternatives (any), different keys must all match.
  for (const [key, values] of byKey) {
    if (key === 'name') out.push((v) => values.some((x) => v.Name.includes(x)));
    else if (key === 'driver') out.push(() => values.includes('local'));
    else if (key === 'label')
      out.push((v) =>
        values.every((x) => {
          const i = x.indexOf('=');
          return i < 0 ? x in v.Labels : v.Labels[x.slice(0, i)] === x.slice(i + 1);
        }),
      );
    else {
      const want = values.map((x) => {
        if (['true', '1'].includes(x)) return true;
        if (['false', '0'].includes(x)) return false;
        throw new UsageError(`invalid filter 'dangling=${x}'`, 'dangling=true or dangling=false');
      });
      out.push((_v, inUse) => want.includes(!inUse()));
    }
  }
  return out;
}

async function create(argv: string[]): Promise<number> {
  const p = parse(argv, [
    { name: 'label', short: 'l', type: 'string', multiple: true, value: 'KEY=VALUE', help: 'set a label on the volume' },
    { name: 'driver', short: 'd', type: 'string', value: 'local', help: 'the volume driver: local only' },
    { name: 'opt', short: 'o', type: 'string', multiple: true, value: 'K=V', help: "driver options: none (the local driver's type/device/o need mount privileges)" },
  ], 'create', '[OPTIONS] [VOLUME]', 'Creates a volume (a random 64-hex name when none is given).');
  if (!p) return 0;
  if (p.positionals.length > 1) throw new UsageError('nook volume create takes at most one name', 'e.g. nook volume create data');
  if (p.flags.driver !== undefined && p.flags.driver !== 'local') throw new NookError(`plugin "${String(p.flags.driver)}" not found`, { exitCode: 1, hint: 'nook has the local driver only' });
  if (stringList(p.flags.opt).length) throw new NookError('volume options (-o) are not supported', { exitCode: 1, hint: "nook's local volumes are directories; type=nfs or tmpfs options need mount privileges" });
  const { volume } = await VolumeStore.open().create({ name: p.positionals[0], labels: parseLabels(stringList(p.flags.label)) });
  say(volume.Name);
  return 0;
}

async function ls(argv: string[]): Promise<number> {
  const p = parse(argv, [
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print volume names only' },
    { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template such as '{{.Name}}'" },
    { name: 'filter', short: 'f', type: 'string', multiple: true, value: 'KEY=VALUE', help: 'name=, label=KEY[=VALUE], dangling=true|false, driver=local' },
  ], 'ls', '[OPTIONS]', 'Lists volumes.');
  if (!p) return 0;
  const format = parseFormat(p.flags.format as string | undefined);
  const filters = parseFilters(stringList(p.flags.filter));
  const store = VolumeStore.open();
  const list = store.list().filter((v) => {
    let used: boolean | undefined;
    const inUse = () => (used ??= containersUsing(v.Name).length > 0);
    return filters.every((f) => f(v, inUse));
  });
  if (p.flags.quiet) {
    process.stdout.write(list.map((v) => `${v.Name}\n`).join(''));
    return 0;
  }
  if (format.kind === 'json') {
    process.stdout.write(list.map((v) => `${JSON.stringify(templateRow(store, v))}\n`).join(''));
    return 0;
  }
  if (format.kind === 'template') {
    process.stdout.write(await renderTemplate(format, list.map((v) => templateRow(store, v)), { headers: HEADERS }));
    return 0;
  }
  process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...list.map((v) => ['local', v.Name])], { padding: 4 }));
  return 0;
}

async function inspect(argv: string[]): Promise<number> {
  const p = parse(argv, [{ name: 'format', short: 'f', type: 'string', value: 'FORMAT', help: "json (default) or a Go template, e.g. '{{.Mountpoint}}'" }], 'inspect', '[OPTIONS] VOLUME...', 'Shows volumes as JSON.');
  if (!p) return 0;
  if (!p.positionals.length) throw new UsageError('nook volume inspect needs at least one volume', 'e.g. nook volume inspect data');
  const store = VolumeStore.open();
  const found: Record<string, unknown>[] = [];
  let failed: NookError | undefined;
  for (const name of p.positionals) {
    const v = store.get(name);
    if (v) found.push(inspectObject(store, v));
    else {
      failed = new NookError(`get ${name}: no such volume`, { exitCode: 1 });
      fs.writeSync(2, `Error: ${failed.message}\n`);
    }
  }
  const format = p.flags.format === undefined || p.flags.format === 'json' ? undefined : (p.flags.format as string);
  if (format) process.stdout.write(await renderTemplate({ template: format.replace(/\\n/g, '\n').replace(/\\t/g, '\t'), table: false }, found));
  else process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  return failed ? 1 : 0;
}

async function rm(argv: string[]): Promise<number> {
  const p = parse(argv, [{ name: 'force', short: 'f', type: 'boolean', help: 'no error for a volume that does not exist' }], 'rm', '[-f] VOLUME...', 'Removes volumes (not one a container uses).');
  if (!p) return 0;
  if (!p.positionals.length) throw new UsageError('nook volume rm needs at least one volume', 'e.g. nook volume rm data');
  const store = VolumeStore.open();
  let code = 0;
  for (const name of p.positionals) {
    try {
      if (p.flags.force && !store.get(name)) continue;
      await store.remove(name);
      say(name);
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      fs.writeSync(2, `Error: ${e.message}\n`);
      code = 1;
    }
  }
  return code;
}

/** docker's units.HumanSize (decimal units, 4 significant digits, no space): "0B", "5kB", "1.2MB". */
function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) (n /= 1000), i++;
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

function treeSize(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    total += st.isDirectory() ? treeSize(p) : st.size;
  }
  return total;
}

async function prune(argv: string[]): Promise<number> {
  const p = parse(argv, [
    { name: 'all', short: 'a', type: 'boolean', help: 'remove all unused volumes, not only anonymous ones' },
    { name: 'force', short: 'f', type: 'boolean', help: 'accepted for docker compatibility: nook does not ask' },
    { name: 'filter', type: 'string', multiple: true, value: 'label=KEY[=VALUE]', help: 'only volumes with (label!= : without) this label' },
  ], 'prune', '[OPTIONS]', 'Removes unused anonymous volumes (with -a: all unused volumes), as docker 23 and later.');
  if (!p) return 0;
  const labelFilters = stringList(p.flags.filter).map((f) => {
    const m = /^(label!?)=(.+)$/.exec(f);
    if (!m) throw new UsageError(`invalid filter "${f}"`, 'volume prune filters: label=KEY[=VALUE], label!=KEY[=VALUE]');
    return { negate: m[1] === 'label!', spec: m[2] };
  });
  const store = VolumeStore.open();
  const deleted: string[] = [];
  let bytes = 0;
  for (const v of store.list()) {
    if (!p.flags.all && !v.anonymous) continue;
    const ok = labelFilters.every(({ negate, spec }) => {
      const i = spec.indexOf('=');
      const has = i < 0 ? spec in v.Labels : v.Labels[spec.slice(0, i)] === spec.slice(i + 1);
      return has !== negate;
    });
    if (!ok || containersUsing(v.Name).length) continue;
    const size = treeSize(store.dataDir(v.Name));
    try {
      await store.remove(v.Name);
    } catch (e) {
      if (e instanceof NookError) continue; // taken into use meanwhile
      throw e;
    }
    deleted.push(v.Name);
    bytes += size;
  }
  if (deleted.length) say(`Deleted Volumes:\n${deleted.join('\n')}\n`);
  say(`Total reclaimed space: ${humanSize(bytes)}`);
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { create, ls, list: ls, inspect, rm, remove: rm, prune };

export async function volumeCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === 'help') {
    say('Usage: nook volume COMMAND\n\nManage volumes (local driver, under the image store).\n\nCommands:\n  create   Create a volume\n  ls       List volumes\n  inspect  Show volumes as JSON\n  rm       Remove volumes\n  prune    Remove unused anonymous volumes (-a: all unused)');
    return 0;
  }
  const fn = SUBCOMMANDS[sub];
  if (!fn) throw new NookError(`unknown command: nook volume ${sub}`, { hint: `one of: ${Object.keys(SUBCOMMANDS).join(', ')}` });
  return fn(rest);
}
