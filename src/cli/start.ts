/**
 * `nook start [-a] CONTAINER...` and `start --all` (podman's): starts
 * created or exited containers under a supervisor, detached. With -a, as
 * docker start -a, it shows the container's output until it exits and
 * exits with its status. -i cannot be honoured: a started container's
 * stdin is /dev/null (no daemon holds a pipe to it), and nook says so.
 */
import { NookError, UsageError } from '../errors';
import { startDetached } from '../container/lifecycle';
import { listContainers } from '../container/status';
import { ContainerStore, type ContainerDir } from '../container/state';
import { FileLock } from '../util/lock';
import { asStatusOne, eachContainer, parseCommand, say } from './container-refs';

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

export async function startCommand(argv: string[]): Promise<number> {
  const p = parseCommand(
    argv,
    [
      { name: 'attach', short: 'a', type: 'boolean', help: "show the container's output until it exits, and exit with its status" },
      { name: 'interactive', short: 'i', type: 'boolean', help: "attach stdin: not possible in nook (a started container's stdin is /dev/null)" },
      { name: 'all', type: 'boolean', help: 'start every container that is not running (podman\'s)' },
    ],
    'start',
    '[-a] CONTAINER... | --all',
    'Starts created or stopped containers, detached.',
  );
  if (!p) return 0;
  if (p.flags.interactive)
    throw new NookError("nook start -i: cannot attach stdin: a started container's stdin is /dev/null (nook has no daemon to hold a pipe to it)", {
      exitCode: 1,
      hint: 'use nook start -a for its output, or nook run -i for a container that reads your input',
    });
  if (p.flags.all && p.positionals.length) throw new UsageError('nook start --all takes no container names', 'give either --all or names');
  const store = ContainerStore.open();
  const refs = p.flags.all
    ? listContainers(store).filter((l) => l.state.display === 'created' || l.state.display === 'exited').map((l) => l.config.id)
    : p.positionals;
  if (!refs.length && !p.flags.all) throw new UsageError('nook start needs at least one container', 'e.g. nook start web (see nook ps -a), or nook start --all');
  if (p.flags.attach) {
    if (refs.length > 1) throw new NookError('you cannot start and attach multiple containers at once', { exitCode: 1 });
    let dir: ContainerDir;
    try {
      dir = store.resolve(refs[0]);
    } catch (e) {
      throw e instanceof NookError ? asStatusOne(e) : e;
    }
    if (!dir.config().detached)
      throw new NookError(`container ${refs[0]} was run in the foreground and keeps no log to attach to`, { exitCode: 1, hint: 'start it without -a' });
    const { attachOutput } = await import('./attach');
    // Already running: docker start -a attaches to it.
    return attachOutput(store, dir, { start: async () => void (await startOne(store, dir)), sigProxy: true });
  }
  return eachContainer(refs, async (_store, dir, ref) => {
    await startOne(store, dir);
    say(p.flags.all ? dir.id.slice(0, 12) : ref);
  });
}
