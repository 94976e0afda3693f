/**
 * `nook oci COMMAND` (also `nook-runc COMMAND`, through a link of that name):
 * runc's command line over OCI bundles, so that podman (conmon), containerd's
 * shim and the OCI validation suite can drive nook. Parses and prints only;
 * src/oci does the work. Errors print as runc's do (plain, and as an "error"
 * line in --log), exit status 1.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { parseArgs, type FlagSpec, type FlagValues } from './args';
import type { OciLog } from '../oci/log';
import type { OciStateStore } from '../oci/state';

const USAGE = `Usage: nook oci [GLOBAL FLAGS] COMMAND [ARG...]   (also: nook-runc ...)

An OCI runtime with runc's command line, over OCI bundles (a config.json and a rootfs).

Commands:
  create   Create a container from a bundle; its process waits for start
  start    Start the process of a created container
  run      Create and start a container (waits for it unless --detach)
  state    Print a container's state as JSON
  kill     Send a signal to a container's init (--all: every process)
  delete   Delete a stopped container (--force: any)
  exec     Run another process in a running container
  list     List containers (--format table|json, -q)
  ps       List a container's processes (--format table|json)
  pause    Freeze a container (needs a cgroup of its own)
  resume   Thaw a paused container
  update   Change a container's resources (--resources FILE|-)
  features Print what this runtime supports, as JSON
  spec     Write a config.json to start from (--rootless: for a user namespace)

Global flags:
  --root DIR            State directory (default $XDG_RUNTIME_DIR/nook-oci; /run/nook-oci for root)
  --log FILE            Log warnings and errors to FILE
  --log-format FORMAT   text (default) or json
  --systemd-cgroup      Accepted: a slice:prefix:name cgroupsPath is made as a plain directory
  --rootless MODE       auto (default), true or false
  --debug               More messages
  -v, --version         Print the version
`;

const GLOBAL_VALUE = new Set(['--root', '--log', '--log-format', '--rootless', '--criu']);
const GLOBAL_BOOL = new Set(['--systemd-cgroup', '--debug']);

interface Globals {
  root?: string;
  log?: string;
  logFormat: 'text' | 'json';
  systemdCgroup: boolean;
  rootless: 'auto' | 'true' | 'false';
}

function takeGlobals(argv: string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = { logFormat: 'text', systemdCgroup: false, rootless: 'auto' };
  const rest = [...argv];
  while (rest.length && rest[0].startsWith('-')) {
    const a = rest[0];
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (GLOBAL_BOOL.has(name)) {
      rest.shift();
      if (name === '--systemd-cgroup') globals.systemdCgroup = eq < 0 || a.slice(eq + 1) !== 'false';
      continue;
    }
    if (!GLOBAL_VALUE.has(name)) break;
    rest.shift();
    const v = eq > 0 ? a.slice(eq + 1) : rest.shift();
    if (v === undefined) throw new NookError(`${name} needs a value`, { exitCode: 1 });
    if (name === '--root') globals.root = path.resolve(v);
    else if (name === '--log') globals.log = path.resolve(v);
    else if (name === '--log-format') {
      if (v !== 'text' && v !== 'json') throw new NookError(`--log-format: "${v}" is not text or json`, { exitCode: 1 });
      globals.logFormat = v;
    } else if (name === '--rootless') {
      if (v !== 'auto' && v !== 'true' && v !== 'false') throw new NookError(`--rootless: "${v}" is not auto, true or false`, { exitCode: 1 });
      globals.rootless = v;
    }
  }
  return { globals, rest };
}

const flag = (name: string, type: 'string' | 'boolean', help: string, short?: string): FlagSpec => ({ name, type, help, short });
const CREATE_FLAGS = [
  flag('bundle', 'string', 'the bundle directory (default: the current directory)', 'b'),
  flag('pid-file', 'string', 'write the init\'s pid here'),
  flag('console-socket', 'string', 'unix socket that receives the pty master'),
  flag('no-pivot', 'boolean', 'accepted: nook always uses pivot_root'),
  flag('no-new-keyring', 'boolean', 'accepted: nook makes no session keyring'),
  flag('preserve-fds', 'string', 'pass descriptors 3..3+N-1 to the process'),
];

function intFlag(v: FlagValues[string], name: string): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new NookError(`--${name}: "${v}" is not a number`, { exitCode: 1 });
  return n;
}

function one(positionals: string[], what: string): string {
  if (positionals.length < 1) throw new NookError(`${what} needs a container id`, { hint: `nook oci ${what} ID`, exitCode: 1 });
  return positionals[0];
}

export async function ociCommand(argv: string[], version: string): Promise<number> {
  let log: OciLog | undefined;
  try {
    const { globals, rest } = takeGlobals(argv);
    const { OciLog } = await import('../oci/log');
    log = new OciLog(globals.log, globals.logFormat);
    const [cmd, ...args] = rest;
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
      process.stdout.write(`nook-runc version ${version}\nspec: 1.0.2\n`);
      return 0;
    }
    if (globals.systemdCgroup) log.warn('--systemd-cgroup: nook asks systemd for no scope; a "slice:prefix:name" cgroupsPath becomes the cgroupfs directory systemd would use');
    const { OciStateStore, defaultStateRoot } = await import('../oci/state');
    const store = new OciStateStore(globals.root ?? defaultStateRoot());
    return await dispatch(cmd, args, store, globals, log, version);
  } catch (e) {
    if (e instanceof NookError) {
      (log ?? { error: (m: string, h?: string) => fs.writeSync(2, `${m}\n${h ? `  hint: ${h}\n` : ''}`) }).error(e.message, e.hint);
      return 1;
    }
    throw e;
  }
}

async function dispatch(cmd: string, args: string[], store: OciStateStore, g: Globals, log: OciLog, version: string): Promise<number> {
  const warn = (m: string) => log.warn(m);
  switch (cmd) {
    case 'create':
    case 'run': {
      const specs = [...CREATE_FLAGS, ...(cmd === 'run' ? [flag('detach', 'boolean', 'return once started', 'd'), flag('keep', 'boolean', 'keep the container after it exits')] : [])];
      const { flags, positionals } = parseArgs(args, specs, `oci ${cmd}`, { interleaved: true });
      const req = {
        id: one(positionals, cmd), bundle: (flags.bundle as string | undefined) ?? process.cwd(), pidFile: flags['pid-file'] as string | undefined,
        consoleSocket: flags['console-socket'] as string | undefined, preserveFds: intFlag(flags['preserve-fds'], 'preserve-fds'), rootless: g.rootless, warn,
      };
      if (cmd === 'create') {
        const { createContainer } = await import('../oci/create');
        await createContainer(store, req);
        return 0;
      }
      const { runContainer } = await import('../oci/run');
      return runContainer(store, req, { detach: !!flags.detach, keep: !!flags.keep });
    }
    case 'start': {
      const { positionals } = parseArgs(args, [], 'oci start', { interleaved: true });
      const { startContainer } = await import('../oci/start');
      await startContainer(store, one(positionals, 'start'), warn);
      return 0;
    }
    case 'state': {
      const { positionals } = parseArgs(args, [], 'oci state', { interleaved: true });
      const { stateJson } = await import('../oci/state');
      process.stdout.write(`${JSON.stringify(stateJson(store, store.read(one(positionals, 'state'))), null, 2)}\n`);
      return 0;
    }
    case 'kill': {
      const { flags, positionals } = parseArgs(args, [flag('all', 'boolean', 'signal every process of the container', 'a')], 'oci kill', { interleaved: true });
      const { killContainer, parseSignal } = await import('../oci/kill');
      killContainer(store, one(positionals, 'kill'), parseSignal(positionals[1]), !!flags.all);
      return 0;
    }
    case 'delete': {
      const { flags, positionals } = parseArgs(args, [flag('force', 'boolean', 'kill it first if it runs', 'f')], 'oci delete', { interleaved: true });
      const { deleteContainer } = await import('../oci/delete');
      await deleteContainer(store, one(positionals, 'delete'), !!flags.force, warn);
      return 0;
    }
    case 'list': {
      const { flags } = parseArgs(args, [flag('format', 'string', 'table or json', 'f'), flag('quiet', 'boolean', 'ids only', 'q')], 'oci list', { interleaved: true });
      const { stateJson } = await import('../oci/state');
      const states = store.ids().flatMap((id) => {
        try {
          return [stateJson(store, store.read(id))];
        } catch {
          return [];
        }
      });
      if (flags.quiet) process.stdout.write(states.map((s) => `${s.id}\n`).join(''));
      else if (flags.format === 'json') process.stdout.write(`${JSON.stringify(states)}\n`);
      else if (flags.format === undefined || flags.format === 'table') process.stdout.write(table([['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner])]));
      else throw new NookError(`--format: "${flags.format}" is not table or json`, { exitCode: 1 });
      return 0;
    }
    case 'ps': {
      const { flags, positionals } = parseArgs(args, [flag('format', 'string', 'table or json', 'f')], 'oci ps');
      const { containerStatus } = await import('../oci/state');
      const { containerProcesses } = await import('../oci/kill');
      const rec = store.read(one(positionals, 'ps'));
      const pids = containerStatus(store, rec) === 'stopped' ? [] : containerProcesses(rec);
      if (flags.format === 'json') {
        process.stdout.write(`${JSON.stringify(pids)}\n`);
        return 0;
      }
      const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
      const psArgs = positionals.slice(1).length ? positionals.slice(1) : ['-ef'];
      const r = spawnSync('ps', psArgs, { encoding: 'utf8' });
      if (r.status !== 0) throw new NookError(`ps ${psArgs.join(' ')} failed: ${r.stderr.trim()}`, { exitCode: 1 });
      const lines = r.stdout.split('\n');
      const pidCol = lines[0].trim().split(/\s+/).indexOf('PID');
      const wanted = new Set(pids.map(String));
      process.stdout.write([lines[0], ...lines.slice(1).filter((l) => l && wanted.has(l.trim().split(/\s+/)[pidCol]))].join('\n') + '\n');
      return 0;
    }
    case 'pause':
    case 'resume': {
      const { positionals } = parseArgs(args, [], `oci ${cmd}`, { interleaved: true });
      const { freezeContainer } = await import('../oci/freeze');
      freezeContainer(store, one(positionals, cmd), cmd === 'pause');
      return 0;
    }
    case 'update': {
      const { flags, positionals } = parseArgs(args, [flag('resources', 'string', 'a JSON file of linux.resources, - for stdin', 'r')], 'oci update', { interleaved: true });
      const { updateContainer } = await import('../oci/freeze');
      updateContainer(store, one(positionals, 'update'), flags.resources as string | undefined, warn);
      return 0;
    }
    case 'exec': {
      const { execCommand } = await import('./oci-exec');
      return execCommand(args, store, g, warn);
    }
    case 'features': {
      const { features } = await import('../oci/features');
      process.stdout.write(`${JSON.stringify(features(), null, 4)}\n`); // runc's indentation
      return 0;
    }
    case 'spec': {
      const { flags } = parseArgs(args, [flag('rootless', 'boolean', 'a config for a user namespace'), flag('bundle', 'string', 'where to write config.json', 'b')], 'oci spec', { interleaved: true });
      const { specTemplate } = await import('../oci/spec-template');
      const file = path.join((flags.bundle as string | undefined) ?? '.', 'config.json');
      if (fs.existsSync(file)) throw new NookError(`File ${file} exists. Remove it first`, { hint: 'nook oci spec writes a new config.json only', exitCode: 1 });
      // Byte for byte what runc writes: tab-indented, no newline at the end.
      fs.writeFileSync(file, JSON.stringify(specTemplate({ rootless: !!flags.rootless }), null, '\t'));
      return 0;
    }
    default:
      void version;
      throw new NookError(`unknown command: nook oci ${cmd}`, { hint: 'see nook oci --help', exitCode: 1 });
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('')).join('\n') + '\n';
}
