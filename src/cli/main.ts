/**
 * nook's entry point. Kept tiny: `nook --version` must start about as fast
 * as `node -e 0`, so every command's module is loaded only when used.
 */
import { FlagError, NookError, commandExitCode, errorText } from '../errors';
import { nativeIfLoaded } from '../../ffi/native';
import { stdoutStreamUsed } from '../util/stdout';

declare const NOOK_VERSION: string | undefined;
const VERSION = typeof NOOK_VERSION === 'string' ? NOOK_VERSION : '0.0.0-dev';

const USAGE = `Usage: nook COMMAND [ARG...]

A rootless, daemonless sandbox and container runtime in one executable.

Commands:
  run       Run a command in a sandbox, from an image or a directory (nook run --help)
  build     Build an image from a Dockerfile
  pull      Download an image from a registry
  push      Upload an image to a registry
  images    List images in the local store
  inspect   Show a container's or an image's details as JSON
  tag       Give an image other names (untag: take names off)
  rmi       Remove images
  save      Write images to a tar archive (docker-archive or OCI layout)
  load      Read images from such an archive
  import    Make an image from a root filesystem tarball
  commit    Make an image from a container's changes
  history   Show how an image was made
  image     Image commands: ls, pull, push, rm, tag, untag, inspect, prune, save, load, import, history, build, exists
  ps        List containers
  logs      Show a detached container's output
  port      List a container's published ports
  exec      Run a command in a running container
  stop      Stop containers (the stop signal, then SIGKILL)
  kill      Send a signal to containers
  create    Create a container without starting it (nook run's flags)
  start     Start created or stopped containers (detached; -a: show output, exit with its status)
  attach    Show a running container's output until it exits
  rename    Rename a container
  top       Show a container's processes (the host's ps)
  pause     Suspend a container's processes (cgroup v2 freezer)
  unpause   Resume a paused container
  stats     Show containers' CPU, memory, network and I/O use (cgroup v2)
  restart   Stop containers, then start them again
  wait      Wait for containers to stop and print their exit codes
  rm        Remove containers
  diff      List the files a container added, changed or deleted
  cp        Copy files between a container and the host (or a tar on stdin/stdout)
  export    Write a container's files as a tar archive
  volume    Volume commands: create, ls, inspect, rm, prune, export, import, mount
  unshare   Run a command in the user namespace containers get (podman's)
  container Container commands: ls, ps, create, start, restart, attach, logs, exec, stop, kill, wait, rm, rename, top,
            pause, unpause, stats, inspect, prune, commit, diff, exists, cp, export
  login     Store credentials for a registry
  logout    Remove stored credentials
  info      Show where nook keeps things and what this host lets it do
  system    System commands: df (disk usage), prune (stopped containers, unused images), info
  version   Show the version
  oci       An OCI runtime with runc's command line (also as a link named nook-runc; nook oci --help)

ps, images, inspect, info, version and system df take docker's --format:
json, or a Go template such as '{{.Names}}' or 'table {{.ID}}\\t{{.Status}}'.

Flags:
  --root DIR               The image store (default $NOOK_ROOT, else $XDG_DATA_HOME/nook)
  --storage-driver DRIVER  overlay (overlayfs over the image layers) or vfs (a copy of them per container)
  -l, --log-level LEVEL    Log to stderr at trace, debug, info, warn (default), error, fatal or panic
  -D, --debug              --log-level debug
  --config DIR             docker's client config directory, for its config.json (also DOCKER_CONFIG)
  --noout                  Print nothing on stdout (podman's; errors still go to stderr)
  --help                   Show this help
  -v, --version            Show the version

Exit codes, as docker's: run and exec exit with the command's own status, 125
when nook fails, 126 when the command cannot be executed, 127 when it is not
found. Every other command exits 1 on an error (e.g. "No such container: X"),
and 125 for an unknown flag or one missing its value.
`;

function writeErr(text: string): void {
  // Synchronous, and without touching process.stderr (which could make fd 2 non-blocking).
  try {
    require('node:fs').writeSync(2, text);
  } catch {
    /* stderr closed: nothing to tell */
  }
}

/** The command being run (run, exec, ps...), which decides the exit code of an error (see commandExitCode). */
let command: string | undefined;

export function reportError(e: unknown): number {
  return commandExitCode(command, e, describeError(e));
}

function describeError(e: unknown): number {
  if (e instanceof NookError) {
    writeErr(errorText(e));
    // The underlying error a message was built on, for whoever debugs nook.
    if (process.env.NOOK_DEBUG && e.cause !== undefined) writeErr(`  cause: ${(e.cause as Error)?.stack ?? String(e.cause)}\n`);
    return e.exitCode;
  }
  // A bug, not bad input: one line and where to report it; NOOK_DEBUG=1 shows the stack.
  const err = e as Error;
  if (process.env.NOOK_DEBUG) {
    writeErr(`Error: internal error: ${err?.stack ?? String(e)}\n`);
    return 125;
  }
  const text = (err instanceof Error ? `${err.name}: ${err.message}` : String(e)).split('\n')[0];
  writeErr(`Error: internal error: ${text}\n  hint: this is a bug in nook; please report it with the command you ran (NOOK_DEBUG=1 shows where it happened)\n`);
  return 125;
}

type Command = (argv: string[]) => Promise<number>;

/** Commands other than run, loaded on demand. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  pull: async () => (await import('./pull')).pullCommand,
  push: async () => (await import('./push')).pushCommand,
  images: async () => (await import('./images')).imagesCommand,
  inspect: async () => (await import('./inspect')).inspectCommand,
  rmi: async () => (await import('./rmi')).rmiCommand,
  tag: async () => (await import('./tag')).tagCommand,
  untag: async () => (await import('./tag')).untagCommand,
  save: async () => (await import('./archive')).saveCommand,
  load: async () => (await import('./archive')).loadCommand,
  import: async () => (await import('./archive')).importCommand,
  login: async () => (await import('./login')).loginCommand,
  logout: async () => (await import('./login')).logoutCommand,
  ps: async () => (await import('./ps')).psCommand,
  stop: async () => (await import('./container-cmds')).stopCommand,
  kill: async () => (await import('./container-cmds')).killCommand,
  rm: async () => (await import('./container-cmds')).rmCommand,
  wait: async () => (await import('./container-cmds')).waitCommand,
  start: async () => (await import('./start')).startCommand,
  create: async () => (await import('./create')).createCommand,
  attach: async () => (await import('./attach')).attachCommand,
  rename: async () => (await import('./rename')).renameCommand,
  top: async () => (await import('./top')).topCommand,
  pause: async () => (await import('./pause')).pauseCommand,
  unpause: async () => (await import('./pause')).unpauseCommand,
  stats: async () => (await import('./stats')).statsCommand,
  restart: async () => (await import('./restart')).restartCommand,
  logs: async () => (await import('./logs')).logsCommand,
  port: async () => (await import('./port')).portCommand,
  exec: async () => (await import('./exec')).execCommand,
  build: async () => (await import('./build')).buildCommand,
  commit: async () => (await import('./commit')).commitCommand,
  diff: async () => (await import('./diff')).diffCommand,
  cp: async () => (await import('./cp')).cpCommand,
  export: async () => (await import('./cp')).exportCommand,
  history: async () => (await import('./history')).historyCommand,
  volume: async () => (await import('./volume')).volumeCommand,
  unshare: async () => (await import('./unshare')).unshareCommand,
};

/** `nook container SUB`: docker's management-command spelling of the container commands. */
const CONTAINER_SUBCOMMANDS: Record<string, string> = {
  ls: 'ps', list: 'ps', ps: 'ps', stop: 'stop', kill: 'kill', rm: 'rm', remove: 'rm', wait: 'wait', start: 'start', restart: 'restart',
  logs: 'logs', exec: 'exec', inspect: 'inspect', commit: 'commit', diff: 'diff', port: 'port',
  create: 'create', attach: 'attach', rename: 'rename', top: 'top', pause: 'pause', unpause: 'unpause', stats: 'stats',
  cp: 'cp', export: 'export',
};

/** `nook image SUB`: docker's management-command spelling of the image commands. */
const IMAGE_SUBCOMMANDS: Record<string, string> = {
  ls: 'images', list: 'images', pull: 'pull', push: 'push', rm: 'rmi', remove: 'rmi', tag: 'tag', untag: 'untag', inspect: 'inspect',
  save: 'save', load: 'load', import: 'import', history: 'history', build: 'build',
};

/** `nook image inspect` looks at images only, `nook container inspect` at containers only, as docker's. */
function onlyType(type: string, args: string[]): string[] {
  return args.some((a) => a === '--type' || a.startsWith('--type=')) ? args : [`--type=${type}`, ...args];
}

/** The global flags that take a value (before the command, as docker's and podman's). */
const GLOBAL_FLAGS = ['--root', '--log-level', '-l', '--storage-driver', '--config'];

/**
 * Takes the global flags off the front of the arguments: `--root DIR` (the
 * store reads it from NOOK_ROOT), `--storage-driver overlay|vfs` (NOOK_OVERLAY),
 * `--log-level LEVEL` and `-D/--debug` (src/util/log.ts; debug also sets NOOK_DEBUG),
 * docker's `--config DIR` (DOCKER_CONFIG: where its config.json with credentials is), and
 * podman's `--noout`: stdout goes to /dev/null (fd 1 closed, and the lowest free descriptor is 1 again).
 */
function globalFlags(argv: string[]): string[] {
  const args = [...argv];
  let level: string | undefined;
  let debug = false;
  for (;;) {
    const a = args[0];
    if (a === '-D' || a === '--debug') {
      args.shift();
      debug = true;
      continue;
    }
    if (a === '--noout') {
      args.shift();
      const fs = require('node:fs') as typeof import('node:fs');
      fs.closeSync(1);
      const fd = fs.openSync('/dev/null', 'w');
      if (fd !== 1) throw new NookError('--noout: cannot put /dev/null on stdout', { hint: 'run nook with its stdin open' });
      continue;
    }
    const flag = GLOBAL_FLAGS.find((f) => a === f || a?.startsWith(`${f}=`));
    if (!flag) break;
    args.shift();
    const v = a === flag ? args.shift() : a.slice(flag.length + 1);
    if (!v) throw new FlagError(`${flag} needs a value`, 'e.g. nook --root /scratch/nook pull debian:12, nook --log-level debug info');
    if (flag === '--root') process.env.NOOK_ROOT = require('node:path').resolve(v);
    else if (flag === '--storage-driver') process.env.NOOK_OVERLAY = storageDriver(v);
    else if (flag === '--config') process.env.DOCKER_CONFIG = require('node:path').resolve(v);
    else level = v; // --log-level, docker's -l
  }
  if (debug) level = 'debug'; // docker's: -D wins over --log-level
  if (level !== undefined) {
    const log = require('../util/log') as typeof import('../util/log');
    if (!log.isLogLevel(level)) throw new NookError(`log level "${level}" is not supported`, { hint: `choose from: ${log.LOG_LEVELS.join(', ')}`, exitCode: 1 });
    log.setLogLevel(level);
    if (log.logEnabled('debug')) process.env.NOOK_DEBUG ??= '1';
    (require('./log-startup') as typeof import('./log-startup')).logStartup(level, argv);
  }
  return args;
}

/** podman's --storage-driver: overlay (overlayfs over the layers), vfs (a private copy of them, nook's copy mode). */
function storageDriver(v: string): string {
  if (v === 'overlay') return 'overlay';
  if (v === 'vfs') return 'copy';
  throw new FlagError(`unknown storage driver "${v}"`, 'nook has overlay (overlayfs over the image layers) and vfs (a private copy of them per container)');
}

/** Invoked through a link named nook-runc (podman --runtime, containerd's BinaryName): runc's command line. */
const invokedAsRuntime = (): boolean => /(^|\/)nook-runc[^/]*$/.test(process.argv0);

async function main(argv: string[]): Promise<number> {
  if (process.env.NOOK_DEBUG_TIMING) require('../util/timing').mark('main');
  if (invokedAsRuntime()) {
    command = undefined;
    return (await import('./oci')).ociCommand(argv, VERSION);
  }
  if (argv[0] === 'oci') return (await import('./oci')).ociCommand(argv.slice(1), VERSION);
  const [cmd, ...rest] = globalFlags(argv);
  command = cmd?.startsWith('__') ? undefined : cmd;
  if (cmd === 'image') {
    const [sub, ...subArgs] = rest;
    if (sub === 'prune') return (await import('./image-prune')).imagePruneCommand(subArgs);
    if (sub === 'exists') return (await import('./exists')).imageExistsCommand(subArgs);
    const target = IMAGE_SUBCOMMANDS[sub ?? ''];
    if (!target)
      throw new NookError(sub ? `unknown command: nook image ${sub}` : 'nook image needs a subcommand', {
        hint: `one of: ${[...Object.keys(IMAGE_SUBCOMMANDS), 'prune', 'exists'].join(', ')}`,
      });
    return (await COMMANDS[target]())(target === 'inspect' ? onlyType('image', subArgs) : subArgs);
  }
  if (cmd === 'container') {
    const [sub, ...subArgs] = rest;
    if (sub === 'prune') return (await import('./container-cmds')).containerPruneCommand(subArgs);
    command = sub === 'run' || sub === 'exec' ? sub : cmd;
    if (sub === 'run') return (await import('./run')).runCommand(subArgs);
    if (sub === 'exists') return (await import('./exists')).containerExistsCommand(subArgs);
    const target = CONTAINER_SUBCOMMANDS[sub ?? ''];
    if (!target)
      throw new NookError(sub ? `unknown command: nook container ${sub}` : 'nook container needs a subcommand', {
        hint: `one of: ${[...Object.keys(CONTAINER_SUBCOMMANDS), 'run', 'prune', 'exists'].join(', ')}`,
      });
    return (await COMMANDS[target]())(target === 'inspect' ? onlyType('container', subArgs) : subArgs);
  }
  if (cmd === 'info') return (await import('./info')).infoCommand(rest, VERSION);
  if (cmd === 'system') return (await import('./system')).systemCommand(rest, VERSION);
  if (cmd === '__exited') return (await import('./container-cmds')).exitedCommand(rest);
  if (cmd === '__store-helper') return (await import('../image/store/helper-server')).storeHelperMain();
  if (cmd === '__build-helper') return (await import('../build/helper/server')).buildHelperMain();
  if (cmd === '__cp-helper') return (await import('../container/copy/server')).cpHelperMain();
  if (cmd !== undefined && COMMANDS[cmd]) return (await COMMANDS[cmd]())(rest);
  switch (cmd) {
    case '--version':
    case '-v':
    case 'version':
      if (cmd === 'version') return (await import('./version')).versionCommand(rest, VERSION);
      process.stdout.write(`nook version ${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'run': {
      const { runCommand } = await import('./run');
      return runCommand(rest);
    }
    default:
      if (cmd.startsWith('-')) throw new FlagError(`unknown flag: ${cmd}`, 'see `nook --help` for the flags nook takes');
      throw new NookError(`unknown command: ${cmd}`, { hint: 'see `nook --help` for the commands nook knows' });
  }
}

/**
 * Leaves with `code`. After a sandbox ran, nook's own output went out through
 * synchronous writes, so _exit() can skip Node's teardown (a few ms); only a
 * -t session's stdout stream may still hold data, and is drained first.
 */
function finish(code: number): void {
  const native = nativeIfLoaded();
  if (!native) return process.exit(code);
  if (stdoutStreamUsed() && process.stdout.writableLength > 0) process.stdout.once('drain', () => native.exitNow(code));
  else native.exitNow(code);
}

main(process.argv.slice(2)).then(finish, (e) => finish(reportError(e)));
