/**
 * `nook volume create|ls|inspect|rm|prune`: docker's volume commands, local
 * driver only (src/container/volumes.ts). Output, messages and exit codes
 * as docker's: "no such volume" and "volume is in use" exit 1.
 */
import fs = require('node:fs');
import path = require('node:path');
import { FlagError, NookError, UsageError } from '../errors';
import { containersUsing, volumeMountOf, VolumeStore, type VolumeRecord } from '../container/volumes';
import { parseArgs, flagHelp, stringList, type FlagSpec, type ParsedArgs } from './args';
import { parseFormat, renderTemplate, table } from './format';

const HELP: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };
const say = (text: string) => fs.writeSync(1, `${text}\n`);

function parse(argv: string[], specs: FlagSpec[], sub: string, usage: string, about: string): ParsedArgs | undefined {
  const parsed = parseArgs(argv, [...specs, HELP], `volume ${sub}`, { interleaved: true });
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

/** docker's filters.Match: the value is an unanchored regular expression (or the exact name). */
export function nameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}

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
    if (key === 'name') out.push((v) => values.some((x) => nameMatches(x, v.Name)));
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
    { name: 'opt', short: 'o', type: 'string', multiple: true, value: 'K=V', help: "the local driver's options: type=tmpfs (o=size=,mode=,uid=,gid=), type=none with o=bind and device=DIR (or podman's type=bind), o= flags ro, noexec, nosuid, nodev" },
  ], 'create', '[OPTIONS] [VOLUME]', 'Creates a volume (a random 64-hex name when none is given).');
  if (!p) return 0;
  if (p.positionals.length > 1) throw new UsageError('nook volume create takes at most one name', 'e.g. nook volume create data');
  if (p.flags.driver !== undefined && p.flags.driver !== 'local') throw new NookError(`plugin "${String(p.flags.driver)}" not found`, { exitCode: 1, hint: 'nook has the local driver only' });
  const options: Record<string, string> = {};
  for (const o of stringList(p.flags.opt)) {
    const i = o.indexOf('=');
    if (i <= 0) throw new UsageError(`invalid option "${o}"`, 'use -o KEY=VALUE, e.g. -o type=tmpfs');
    const key = o.slice(0, i);
    // Repeated o= add to each other, as podman's (-o o=size=1m -o o=noexec).
    options[key] = key === 'o' && options.o ? `${options.o},${o.slice(i + 1)}` : o.slice(i + 1);
  }
  const { volume } = await VolumeStore.open().create({ name: p.positionals[0], labels: parseLabels(stringList(p.flags.label)), options });
  say(volume.Name);
  return 0;
}

async function ls(argv: string[]): Promise<number> {
  const p = parse(argv, [
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print volume names only' },
    { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template such as '{{.Name}}'" },
    { name: 'filter', short: 'f', type: 'string', multiple: true, value: 'KEY=VALUE', help: 'name=REGEXP, label=KEY[=VALUE], dangling=true|false, driver=local' },
    { name: 'noheading', short: 'n', type: 'boolean', help: "no header row (podman's flag)" },
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
    let out = await renderTemplate(format, list.map((v) => templateRow(store, v)), { headers: HEADERS });
    if (p.flags.noheading && format.table) out = out.slice(out.indexOf('\n') + 1);
    process.stdout.write(out);
    return 0;
  }
  const rows = list.map((v) => ['local', v.Name]);
  process.stdout.write(table(p.flags.noheading ? rows : [['DRIVER', 'VOLUME NAME'], ...rows], { padding: 4 }));
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
  const p = parse(argv, [
    { name: 'force', short: 'f', type: 'boolean', help: "no error for a volume that does not exist; remove (stopping them first) the containers that use it (podman's)" },
    { name: 'all', short: 'a', type: 'boolean', help: "every volume (podman's flag)" },
    { name: 'time', short: 't', type: 'string', value: 'SECONDS', help: 'with -f: stop a running container using the volume, killing it after SECONDS (default: kill at once)' },
  ], 'rm', '[-f [-t SECONDS]] VOLUME...|--all', 'Removes volumes (not one a container uses, unless --force).');
  if (!p) return 0;
  if (p.flags.all && p.positionals.length) throw new UsageError('nook volume rm --all takes no volume names', 'either nook volume rm --all or nook volume rm NAME...');
  if (!p.flags.all && !p.positionals.length) throw new UsageError('nook volume rm needs at least one volume', 'e.g. nook volume rm data');
  let time: number | undefined;
  if (p.flags.time !== undefined) {
    if (!/^\d+$/.test(String(p.flags.time))) throw new FlagError(`invalid --time "${String(p.flags.time)}"`, 'give whole seconds, e.g. -t 5');
    time = Number(p.flags.time);
  }
  const store = VolumeStore.open();
  const names = p.flags.all ? store.list().map((v) => v.Name) : p.positionals;
  let code = 0;
  for (const name of names) {
    try {
      if (p.flags.force && !store.get(name)) continue;
      if (p.flags.force) await removeUsers(name, time);
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

/** podman's volume rm --force: the containers using the volume are removed first (a running one stopped, as rm -f). */
async function removeUsers(name: string, time: number | undefined): Promise<void> {
  const users = containersUsing(name);
  if (!users.length) return;
  const { ContainerStore } = await import('../container/state');
  const { removeOne } = await import('./container-cmds');
  const containers = ContainerStore.open();
  for (const id of users) {
    let dir;
    try {
      dir = containers.resolve(id);
    } catch {
      continue; // removed meanwhile
    }
    await removeOne(containers, dir, id, true, time);
  }
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

/** docker's warning, and its [y/N] answer read from stdin (as docker, terminal or not): true to go ahead. */
function confirm(what: string): boolean {
  fs.writeSync(1, `WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue? [y/N] `);
  const buf = Buffer.alloc(256);
  let n = 0;
  try {
    n = fs.readSync(0, buf, 0, buf.length, null);
  } catch {
    /* no answer: no */
  }
  return /^\s*y(es)?\s*$/i.test(buf.toString('utf8', 0, n));
}

async function prune(argv: string[]): Promise<number> {
  const p = parse(argv, [
    { name: 'all', short: 'a', type: 'boolean', help: 'remove all unused volumes, not only anonymous ones' },
    { name: 'force', short: 'f', type: 'boolean', help: 'do not ask for confirmation' },
    { name: 'filter', type: 'string', multiple: true, value: 'label=KEY[=VALUE]', help: 'only volumes with (label!= : without) this label' },
  ], 'prune', '[OPTIONS]', 'Removes unused anonymous volumes (with -a: all unused volumes), as docker 23 and later.');
  if (!p) return 0;
  const labelFilters = stringList(p.flags.filter).map((f) => {
    const m = /^(label!?)=(.+)$/.exec(f);
    if (!m) throw new UsageError(`invalid filter "${f}"`, 'volume prune filters: label=KEY[=VALUE], label!=KEY[=VALUE]');
    return { negate: m[1] === 'label!', spec: m[2] };
  });
  if (!p.flags.force && !confirm(p.flags.all ? 'all local volumes' : 'anonymous local volumes')) return 0;
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

/** podman's `volume export VOLUME [-o FILE]`: the volume's files as a tar (owners as containers see them). */
async function exportVolume(argv: string[]): Promise<number> {
  const p = parse(argv, [{ name: 'output', short: 'o', type: 'string', value: 'FILE', help: 'write to FILE instead of standard output' }], 'export', '[-o FILE] VOLUME', "Writes a volume's files as a tar archive (podman's command).");
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new UsageError('nook volume export takes exactly one volume', 'e.g. nook volume export -o data.tar data');
  const name = p.positionals[0];
  const store = VolumeStore.open();
  const source = volumeMountOf(store.need(name).Options ?? {}, name);
  if (source.kind === 'tmpfs') throw new NookError(`volume ${name} is a tmpfs: it has no files outside a container`, { exitCode: 1 });
  const dir = source.kind === 'bind' ? source.device : store.dataDir(name);
  const file = p.flags.output as string | undefined;
  if (!file && require('node:tty').isatty(1)) throw new NookError('cowardly refusing to save to a terminal. Use the -o flag or redirect', { exitCode: 1 });
  const { exportDirectory } = await import('../container/copy/container-files');
  if (!file) {
    await exportDirectory(dir, process.stdout);
    return 0;
  }
  // A temporary file next to FILE, renamed once whole: nothing is left on failure.
  const out = (await import('../image/archive/output')).fileOutput(file);
  try {
    await exportDirectory(dir, out.stream);
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return 0;
}

/** podman's `volume import VOLUME FILE|-`: a tar's files extracted into the volume, owners kept. */
async function importVolume(argv: string[]): Promise<number> {
  const p = parse(argv, [], 'import', 'VOLUME FILE|-', "Extracts a tar archive into a volume (podman's command).");
  if (!p) return 0;
  if (p.positionals.length !== 2) throw new UsageError('nook volume import takes a volume and a tar file (or - for standard input)', 'e.g. nook volume import data data.tar');
  const [name, file] = p.positionals;
  const store = VolumeStore.open();
  const source = volumeMountOf(store.need(name).Options ?? {}, name);
  if (source.kind === 'tmpfs') throw new NookError(`volume ${name} is a tmpfs: it has no files outside a container`, { exitCode: 1 });
  const dir = source.kind === 'bind' ? source.device : store.dataDir(name);
  let input: NodeJS.ReadableStream = process.stdin;
  if (file !== '-') {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      throw new NookError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { exitCode: 1 });
    }
    input = fs.createReadStream(file);
  }
  const { importIntoDirectory } = await import('../container/copy/container-files');
  await importIntoDirectory(dir, input);
  return 0;
}

/**
 * podman's `volume mount VOLUME...`: where each volume's files are. nook's
 * volumes need no mount on the host (a directory of the store's, or the
 * directory a bind volume names), so this prints that path, as podman prints
 * its mount point; a tmpfs volume exists only inside containers.
 */
async function mountVolume(argv: string[]): Promise<number> {
  const p = parse(argv, [], 'mount', 'VOLUME...', "Prints where each volume's files are on the host (podman's command; nook's volumes need no mount).");
  if (!p) return 0;
  if (!p.positionals.length) throw new UsageError('nook volume mount needs at least one volume', 'e.g. nook volume mount data');
  const store = VolumeStore.open();
  for (const name of p.positionals) {
    const source = volumeMountOf(store.need(name).Options ?? {}, name);
    if (source.kind === 'tmpfs') throw new NookError(`volume ${name} is a tmpfs: it has no files outside a container`, { exitCode: 1 });
    say(source.kind === 'bind' ? source.device : store.dataDir(name));
  }
  return 0;
}

/** podman's `volume unmount VOLUME...`: nothing to undo (see mount); each existing volume's name is printed. */
async function unmountVolume(argv: string[]): Promise<number> {
  const p = parse(argv, [], 'unmount', 'VOLUME...', "Accepted for podman's scripts: nook's volumes need no mount, so there is nothing to unmount.");
  if (!p) return 0;
  if (!p.positionals.length) throw new UsageError('nook volume unmount needs at least one volume', 'e.g. nook volume unmount data');
  const store = VolumeStore.open();
  for (const name of p.positionals) say(store.need(name).Name);
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  create, ls, list: ls, inspect, rm, remove: rm, prune, export: exportVolume, import: importVolume, mount: mountVolume, unmount: unmountVolume, umount: unmountVolume,
};

export async function volumeCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === 'help') {
    say('Usage: nook volume COMMAND\n\nManage volumes (local driver, under the image store).\n\nCommands:\n  create   Create a volume\n  ls       List volumes\n  inspect  Show volumes as JSON\n  rm       Remove volumes\n  prune    Remove unused anonymous volumes (-a: all unused)\n  export   Write a volume\'s files as a tar (podman\'s)\n  import   Extract a tar into a volume (podman\'s)\n  mount    Print where a volume\'s files are (podman\'s; no mount is needed)');
    return 0;
  }
  const fn = SUBCOMMANDS[sub];
  if (!fn) throw new NookError(`unknown command: nook volume ${sub}`, { hint: `one of: ${Object.keys(SUBCOMMANDS).join(', ')}` });
  return fn(rest);
}
