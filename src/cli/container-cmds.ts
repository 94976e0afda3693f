/**
 * `nook stop`, `kill`, `rm`, `wait`, `container prune`, and the
 * internal `__exited` that a supervisor execs when its container ends.
 * Each is a short-lived process acting on the state directory.
 */
import fs = require('node:fs');
import { FlagError, NookError, UsageError, errorText } from '../errors';
import { signalContainer, stopContainer, untilReleased, waitForExit } from '../container/control';
import { containerExited, pruneContainers, removeContainer } from '../container/lifecycle';
import { listContainers, liveState } from '../container/status';
import { ContainerStore, type ContainerDir } from '../container/state';
import { FileLock } from '../util/lock';
import { parseArgs, flagHelp, type FlagSpec, type ParsedArgs } from './args';
import { parseSignal } from './container-flags';

const HELP: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };

/** podman's --all for stop, kill and rm (docker has none; scripts write `docker rm $(docker ps -aq)`). */
const ALL: FlagSpec = { name: 'all', short: 'a', type: 'boolean', help: "every container (podman's flag)" };

function parse(argv: string[], specs: FlagSpec[], command: string, usage: string, needsNames = true): ParsedArgs | undefined {
  const parsed = parseArgs(argv, [...specs, HELP], command, { interleaved: true });
  if (parsed.flags.help) {
    process.stdout.write(`Usage: nook ${command} ${usage}\n\nFlags:\n${flagHelp([...specs, HELP])}\n`);
    return undefined;
  }
  if (parsed.flags.all && parsed.positionals.length)
    throw new UsageError(`nook ${command} --all takes no container names`, `either nook ${command} --all or nook ${command} NAME...`);
  if (needsNames && !parsed.flags.all && !parsed.positionals.length)
    throw new UsageError(`nook ${command} needs at least one container`, `e.g. nook ${command} NAME (see nook ps -a)`);
  return parsed;
}

/** The containers named, or with --all every container (`running`: only those running), as full ids. */
function targets(p: ParsedArgs, running: boolean): string[] {
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
 */
export async function eachContainer(refs: string[], fn: (store: ContainerStore, dir: ContainerDir, ref: string) => Promise<void>): Promise<number> {
  const store = ContainerStore.open();
  let failed: NookError | undefined;
  for (const ref of refs) {
    try {
      await fn(store, store.resolve(ref), ref);
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      if (failed) fs.writeSync(2, errorText(failed));
      failed = e;
    }
  }
  if (failed) throw failed;
  return 0;
}

export async function stopCommand(argv: string[]): Promise<number> {
  const p = parse(argv, [{ name: 'time', short: 't', type: 'string', value: 'SECONDS', help: 'seconds to wait before SIGKILL (default 10)' },
    { name: 'signal', short: 's', type: 'string', value: 'SIGNAL', help: 'signal to send first (default: the container\'s stop signal)' }, ALL], 'stop', '[-t SECONDS] CONTAINER...|--all');
  if (!p) return 0;
  const t = p.flags.time === undefined ? undefined : parseTime(p.flags.time, 10);
  const sig = p.flags.signal === undefined ? undefined : parseSignal(p.flags.signal as string, '--signal');
  return eachContainer(targets(p, true), async (store, dir, ref) => {
    // Not given: the container's --stop-timeout, else docker's 10 s.
    await stopContainer(store, dir, sig ?? dir.config().stopSignal, t ?? dir.config().stopTimeout ?? 10);
    say(ref);
  });
}

export async function killCommand(argv: string[]): Promise<number> {
  const p = parse(argv, [{ name: 'signal', short: 's', type: 'string', value: 'SIGNAL', help: 'signal to send (default SIGKILL)' }, ALL], 'kill', '[-s SIGNAL] CONTAINER...|--all');
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
      { name: 'force', short: 'f', type: 'boolean', help: 'kill and remove a running container' },
      { name: 'time', short: 't', type: 'string', value: 'SECONDS', help: "with -f: stop it first, and kill it after SECONDS (podman's flag; default: kill at once, as docker)" },
      { name: 'volumes', short: 'v', type: 'boolean', help: 'remove the anonymous volumes of the container too' },
      ALL,
    ],
    'rm',
    '[-f [-t SECONDS]] [-v] CONTAINER...|--all',
  );
  if (!p) return 0;
  const time = p.flags.time === undefined ? undefined : parseTime(p.flags.time, 10);
  return eachContainer(targets(p, false), async (store, dir, ref) => {
    await removeOne(store, dir, ref, Boolean(p.flags.force), time, Boolean(p.flags.volumes));
    say(ref);
  });
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

export async function waitCommand(argv: string[]): Promise<number> {
  const p = parse(argv, [], 'wait', 'CONTAINER...');
  if (!p) return 0;
  return eachContainer(p.positionals, async (_store, dir, ref) => {
    const s = liveState(dir);
    if (s.display === 'created' && !dir.isHeld())
      throw new NookError(`container ${ref} was never started`, { hint: `start it: nook start ${ref}` });
    say(String(await waitForExit(dir)));
  });
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
  const [id, status] = argv;
  if (!id || !/^-?\d+$/.test(status ?? '')) throw new UsageError('usage: nook __exited ID WAIT_STATUS (internal)');
  return containerExited(id, Number(status), 10);
}
