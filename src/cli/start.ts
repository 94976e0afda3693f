/**
 * `nook start [-a] CONTAINER...` and `start --all` (podman's): starts
 * created or exited containers under a supervisor, detached. With -a, as
 * docker start -a, it shows the container's output until it exits and
 * exits with its status. -i attaches stdin too, to a container created with
 * -i (without -t: its supervisor holds its stdin, see attach.ts); for others
 * it is as -a (docker attaches stdin only to one created with it).
 */
import { FlagError, NookError, UsageError } from '../errors';
import { startDetached } from '../container/lifecycle';
import { listContainers, liveState } from '../container/status';
import { ContainerStore, type ContainerDir } from '../container/state';
import { FileLock } from '../util/lock';
import { asStatusOne, eachContainer, parseCommand, say } from './container-refs';
import { stringList } from './args';
import { CONTAINER_FILTER_KEYS, checkContainerFilters, matchContainer, parseFilters } from './filters';

/** Starts the container unless it runs already; false when it did. Its lock goes to the supervisor. */
export async function startOne(store: ContainerStore, dir: ContainerDir): Promise<boolean> {
  const lock = FileLock.tryAcquire(dir.p('lock'));
  if (!lock) return false; // running already: docker says its name and carries on
  try {
    await dir.updateState((s) => ({ ...s, stopRequested: false }));
    await startDetached(store, dir, lock.descriptor());
  } catch (e) {
    lock.release();
    throw e;
  }
  lock.handOver(); // the supervisor holds the lock now
  return true;
}

/** podman's restart-policy= filter values ("none": no policy given, which in nook is "no"). */
const RESTART_POLICIES = ['no', 'none', 'always', 'on-failure', 'unless-stopped'];

/** podman's start --filter: the container filters of ps, and restart-policy=. */
function startFilter(values: string[], store: ContainerStore): ((dir: ContainerDir) => boolean) | undefined {
  if (!values.length) return undefined;
  const filters = parseFilters(values, [...CONTAINER_FILTER_KEYS, 'restart-policy'], 'start');
  checkContainerFilters(filters);
  const policies = filters.get('restart-policy');
  filters.delete('restart-policy');
  for (const v of policies ?? []) if (!RESTART_POLICIES.includes(v)) throw new FlagError(`${v} invalid restart policy`);
  const at = (key: string) => (filters.has(key) ? store.resolve(filters.get(key)![0]).config().created : undefined);
  const bounds = { before: at('before'), since: at('since') };
  return (dir) => {
    const config = dir.config();
    const state = liveState(dir);
    if (policies && !policies.some((v) => (v === 'none' ? 'no' : v) === config.restart.name)) return false;
    return matchContainer(
      filters,
      { id: config.id, name: config.name, labels: config.labels, status: state.display, exitCode: state.exitCode, created: config.created, fromImage: (r) => r === config.image },
      bounds,
    );
  };
}

export async function startCommand(argv: string[]): Promise<number> {
  const p = parseCommand(
    argv,
    [
      { name: 'attach', short: 'a', type: 'boolean', help: "show the container's output until it exits, and exit with its status" },
      { name: 'interactive', short: 'i', type: 'boolean', help: "attach stdin and output (as -a): stdin only to a container created with -i, not -t (docker's rule)" },
      { name: 'all', type: 'boolean', help: "start every container that is not running, and print their ids (podman's)" },
      { name: 'filter', short: 'f', type: 'string', multiple: true, value: 'KEY=VALUE', help: `only the containers (named, or with --all) that match: ps's filters and restart-policy= (podman's)` },
    ],
    'start',
    '[-a] CONTAINER... | --all',
    'Starts created or stopped containers, detached.',
  );
  if (!p) return 0;
  // docker start -i attaches stdin only to a container created with -i, and output in any case (as -a).
  const attach = Boolean(p.flags.attach || p.flags.interactive);
  // podman's words, for podman's flag.
  if (p.flags.all && p.positionals.length) throw new FlagError('either start all containers or the container(s) provided in the arguments');
  const store = ContainerStore.open();
  const filter = startFilter(stringList(p.flags.filter), store);
  if (p.flags.all) {
    const refs = listContainers(store)
      .filter((l) => (l.state.display === 'created' || l.state.display === 'exited') && (!filter || filter(l.dir)))
      .map((l) => l.config.id);
    if (attach && refs.length > 1) throw new NookError('you cannot start and attach multiple containers at once', { exitCode: 1 });
    if (!attach || !refs.length)
      return eachContainer(refs, async (_store, dir) => {
        await startOne(store, dir);
        say(dir.id); // podman prints the full ids for --all
      });
    return startAttached(store, refs[0], Boolean(p.flags.interactive));
  }
  if (!p.positionals.length) throw new UsageError('nook start needs at least one container', 'e.g. nook start web (see nook ps -a), or nook start --all');
  if (attach) {
    if (p.positionals.length > 1) throw new NookError('you cannot start and attach multiple containers at once', { exitCode: 1 });
    return startAttached(store, p.positionals[0], Boolean(p.flags.interactive), filter);
  }
  return eachContainer(p.positionals, async (_store, dir, ref) => {
    if (filter && !filter(dir)) return;
    await startOne(store, dir);
    say(ref);
  });
}

/** docker start -a: starts it (unless it runs already) and shows its output until it exits, exiting with its status. */
async function startAttached(store: ContainerStore, ref: string, stdin: boolean, filter?: (dir: ContainerDir) => boolean): Promise<number> {
  let dir: ContainerDir;
  try {
    dir = store.resolve(ref);
  } catch (e) {
    throw e instanceof NookError ? asStatusOne(e) : e;
  }
  if (filter && !filter(dir)) return 0;
  // Run in the foreground by another nook right now without a log (--rm, --log-driver none): its output goes only
  // to that nook's terminal. With one, it is followed as a detached container's. Stopped, it starts under a
  // supervisor like any other, which logs its output.
  if (!dir.config().detached && dir.isHeld() && !(await import('../container/logs')).keepsLog(dir))
    throw new NookError(`container ${ref} runs in the foreground: its output goes to the terminal of the nook that runs it`, { exitCode: 1 });
  const { attachOutput } = await import('./attach');
  // Already running: docker start -a attaches to it.
  return attachOutput(store, dir, { start: async () => void (await startOne(store, dir)), sigProxy: true, stdin });
}
