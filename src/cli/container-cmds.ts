/**
 * `nook stop`, `kill`, `rm`, `wait`, `container prune`, and the
 * internal `__exited` that a supervisor execs when its container ends.
 * Each is a short-lived process acting on the state directory.
 */
import fs = require('node:fs');
import os = require('node:os');
import { FlagError, NookError, UsageError, errorText } from '../errors';
import { signalContainer, stopContainer, untilReleased, waitForExit } from '../container/control';
import { containerExited, pruneContainers, removeContainer } from '../container/lifecycle';
import { listContainers, liveState } from '../container/status';
import { ContainerStore, NoSuchContainer, type ContainerDir } from '../container/state';
import { FileLock } from '../util/lock';
import { parseArgs, flagHelp, stringList, type FlagSpec, type ParsedArgs } from './args';
import { parseSignal } from './container-flags';

const HELP: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };

/** podman's --all for stop, kill and rm (docker has none; scripts write `docker rm $(docker ps -aq)`). */
const ALL: FlagSpec = { name: 'all', short: 'a', type: 'boolean', help: "every container (podman's flag)" };

/** podman's --ignore for stop and rm: a container that does not exist is no error. */
const IGNORE: FlagSpec = { name: 'ignore', short: 'i', type: 'boolean', help: "a container that does not exist is no error (podman's flag)" };

function parse(argv: string[], specs: FlagSpec[], command: string, usage: string, needsNames = true): ParsedArgs | undefined {
  const parsed = parseArgs(argv, [...specs, HELP], command, { interleaved: true });
  if (parsed.flags.help) {
    process.stdout.write(`Usage: nook ${command} ${usage}\n\nFlags:\n${flagHelp([...specs, HELP])}\n`);
    return undefined;
  }
  if (parsed.flags.all && parsed.positionals.length)
    throw new FlagError(`nook ${command} --all takes no container names`, `either nook ${command} --all or nook ${command} NAME...`);
  if (needsNames && !parsed.flags.all && !parsed.flags.latest && !parsed.positionals.length)
    throw new UsageError(`nook ${command} needs at least one container`, `e.g. nook ${command} NAME (see nook ps -a)`);
  return parsed;
}

/** The containers named, or with --all every container (`running`: only those running), as full ids. */
function targets(p: ParsedArgs, running: boolean): string[] {
  if (p.flags.latest) {
    const last = listContainers(ContainerStore.open()).at(-1);
    return [...p.positionals, ...(last ? [last.config.id] : [])];
  }
  if (!p.flags.all) return p.positionals;
  return listContainers(ContainerStore.open())
    .filter((l) => !running || l.state.display === 'running' || l.state.display === 'restarting')
    .map((l) => l.config.id);
}

function parseTime(v: string | boolean | string[] | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const t = String(v);
  if (!/^\d+$/.test(t)) throw new FlagError(`invalid --time "${t}"`, 'give whole seconds, e.g. -t 5');
  return Number(t);
}

const say = (text: string) => fs.writeSync(1, `${text}\n`);

/**
 * Runs `fn` for each named container, as docker does: an error for one is
 * reported and the others still run; the exit code is 125 if any failed.
 * `ignoreMissing`: a name that no container has is passed over silently.
 */
export async function eachContainer(
  refs: string[],
  fn: (store: ContainerStore, dir: ContainerDir, ref: string) => Promise<void>,
  ignoreMissing = false,
): Promise<number> {
  const store = ContainerStore.open();
  let failed: NookError | undefined;
  for (const ref of refs) {
    try {
      await fn(store, store.resolve(ref), ref);
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      if (ignoreMissing && e instanceof NoSuchContainer) continue;
      if (failed) fs.writeSync(2, errorText(failed));
      failed = e;
    }
  }
  if (failed) throw failed;
  return 0;
}

const signalName = (n: number) => Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? String(n);

export async function stopCommand(argv: string[]): Promise<number> {
  const p = parse(
    argv,
    [
      { name: 'time', short: 't', type: 'string', value: 'SECONDS', help: 'seconds to wait before SIGKILL (default 10; 0: SIGKILL at once)' },
      { name: 'timeout', type: 'string', value: 'SECONDS', help: "the same as --time (podman's spelling)" },
      { name: 'signal', short: 's', type: 'string', value: 'SIGNAL', help: "signal to send first (default: the container's stop signal)" },
      ALL,
      IGNORE,
    ],
    'stop',
    '[-t SECONDS] CONTAINER...|--all',
  );
  if (!p) return 0;
  const given = p.flags.time ?? p.flags.timeout;
  const t = given === undefined ? undefined : parseTime(given, 10);
  const sig = p.flags.signal === undefined ? undefined : parseSignal(p.flags.signal as string, '--signal');
  return eachContainer(
    targets(p, true),
    async (store, dir, ref) => {
      // Not given: the container's --stop-timeout, else docker's 10 s.
      const signal = sig ?? dir.config().stopSignal;
      const timeout = t ?? dir.config().stopTimeout ?? 10;
      const { killedAfterTimeout } = await stopContainer(store, dir, signal, timeout);
      // podman's warning: the stop signal was handled (or ignored) but the container did not end in time.
      if (killedAfterTimeout)
        fs.writeSync(2, `nook: warning: StopSignal ${signalName(signal)} failed to stop container ${dir.config().name} in ${timeout} seconds, resorting to SIGKILL\n`);
      say(ref);
    },
    Boolean(p.flags.ignore),
  );
}

/** `-s VALUE` takes the next argument whatever it looks like, as docker's and podman's flag parser: `kill -s -HUP`. */
function signalValueJoined(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return [...out, ...argv.slice(i)];
    if ((argv[i] === '-s' || argv[i] === '--signal') && i + 1 < argv.length) out.push(`--signal=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

export async function killCommand(argv: string[]): Promise<number> {
  const p = parse(signalValueJoined(argv), [{ name: 'signal', short: 's', type: 'string', value: 'SIGNAL', help: 'signal to send (default SIGKILL)' }, ALL], 'kill', '[-s SIGNAL] CONTAINER...|--all');
  if (!p) return 0;
  const sig = parseSignal((p.flags.signal as string | undefined) ?? 'KILL', '--signal');
  return eachContainer(targets(p, true), async (store, dir, ref) => {
    if (!(await signalContainer(store, dir, sig, { stopping: sig === 9 || sig === 15 })))
      throw new NookError(`cannot kill container ${ref}: it is not running`, { hint: `see its state with nook ps -a` });
    say(ref);
  });
}

export async function rmCommand(argv: string[]): Promise<number> {
  const p = parse(
    argv,
    [
      { name: 'force', short: 'f', type: 'boolean', help: 'kill and remove a running container; a container that does not exist is no error' },
      { name: 'time', short: 't', type: 'string', value: 'SECONDS', help: "with -f: stop it first, and kill it after SECONDS (podman's flag; default: kill at once, as docker)" },
      { name: 'volumes', short: 'v', type: 'boolean', help: 'remove the anonymous volumes of the container too' },
      ALL,
      IGNORE,
      // podman's; docker's rm -l is --link, for legacy links, which nook has none of.
      { name: 'latest', short: 'l', type: 'boolean', help: "the container created last (podman's flag)" },
    ],
    'rm',
    '[-f [-t SECONDS]] [-v] CONTAINER...|--all',
  );
  if (!p) return 0;
  const time = p.flags.time === undefined ? undefined : parseTime(p.flags.time, 10);
  return eachContainer(
    targets(p, false),
    async (store, dir, ref) => {
      await removeOne(store, dir, ref, Boolean(p.flags.force), time, Boolean(p.flags.volumes));
      say(ref);
    },
    // docker rm -f: a container that is not there is gone already.
    Boolean(p.flags.force || p.flags.ignore),
  );
}

/** rm of one container (`nook volume rm --force` removes the containers using the volume with it). */
export async function removeOne(store: ContainerStore, dir: ContainerDir, ref: string, force: boolean, stopTime: number | undefined, volumes = false): Promise<void> {
  let lock = FileLock.tryAcquire(dir.p('lock'));
  if (!lock) {
    // docker's words (and exit status 1), which scripts match on.
    if (!force)
      throw new NookError(`cannot remove container "${ref}": container is running: stop the container before removing or force remove`, {
        exitCode: 1,
        hint: `nook stop ${ref}, or nook rm -f ${ref}`,
      });
    await dir.updateState((s) => ({ ...s, stopRequested: true }));
    if (stopTime !== undefined) await stopContainer(store, dir, dir.config().stopSignal, stopTime);
    else await signalContainer(store, dir, 9, { stopping: true });
    await untilReleased(dir);
    lock = await FileLock.acquire(dir.p('lock'));
  }
  try {
    await removeContainer(store, dir, { volumes: volumes || undefined });
  } finally {
    lock.release();
  }
}

/** podman's wait conditions nook knows: the container's end (docker's not-running), or a state it reaches. */
const EXIT_CONDITIONS = ['not-running', 'exited', 'stopped'];
const STATE_CONDITIONS = ['created', 'running'];

export async function waitCommand(argv: string[]): Promise<number> {
  const p = parse(
    argv,
    [{ name: 'condition', type: 'string', multiple: true, value: 'STATE', help: "wait for: stopped/exited (the default), running or created (podman's flag; prints -1 for a state)" }],
    'wait',
    '[--condition STATE]... CONTAINER...',
  );
  if (!p) return 0;
  const conditions = stringList(p.flags.condition);
  for (const c of conditions)
    if (![...EXIT_CONDITIONS, ...STATE_CONDITIONS].includes(c))
      throw new FlagError(`invalid condition "${c}"`, `one of: ${[...EXIT_CONDITIONS, ...STATE_CONDITIONS].join(', ')}`);
  const states = conditions.filter((c) => STATE_CONDITIONS.includes(c));
  const forExit = !conditions.length || conditions.some((c) => EXIT_CONDITIONS.includes(c));
  return eachContainer(p.positionals, async (_store, dir) => {
    say(String(await waitFor(dir, forExit, states)));
  });
}

/**
 * The exit code once the container has stopped (as docker: at once for one
 * that never ran, whose code is 0), or -1 as podman prints it once the
 * container is in one of `states`.
 */
async function waitFor(dir: ContainerDir, forExit: boolean, states: string[]): Promise<number> {
  for (;;) {
    const s = liveState(dir);
    if (states.includes(s.display)) return -1;
    if (forExit && !dir.isHeld() && (s.display === 'created' || s.display === 'exited')) return s.exitCode ?? 0;
    if (forExit && !states.length && s.display !== 'created') return waitForExit(dir);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function containerPruneCommand(argv: string[]): Promise<number> {
  const p = parse(argv, [{ name: 'force', short: 'f', type: 'boolean', help: 'accepted for docker compatibility (nook does not ask)' }], 'container prune', '', false);
  if (!p) return 0;
  const removed = await pruneContainers(ContainerStore.open());
  say(`Deleted Containers:\n${removed.map((id) => `${id}\n`).join('')}\nTotal: ${removed.length}`);
  return 0;
}

/** `nook __exited ID STATUS`, exec'd by the supervisor with the container's lock on fd 10. */
export async function exitedCommand(argv: string[]): Promise<number> {
  const [id, status, flag] = argv;
  if (!id || !/^-?\d+$/.test(status ?? '') || (flag !== undefined && flag !== 'timedout')) throw new UsageError('usage: nook __exited ID WAIT_STATUS [timedout] (internal)');
  return containerExited(id, Number(status), 10, flag === 'timedout');
}
