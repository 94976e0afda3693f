/**
 * `nook pause` / `nook unpause CONTAINER...`, as docker's: the cgroup v2
 * freezer of the container's own cgroup (none: an error saying why).
 * A paused container shows as "paused" in ps and inspect.
 */
import { NookError } from '../errors';
import { isFrozen, ownCgroup, setFrozen } from '../container/own-cgroup';
import { liveState } from '../container/status';
import { eachContainer, parseCommand, say } from './container-refs';
import { UsageError } from '../errors';

async function freezeCommand(argv: string[], pause: boolean): Promise<number> {
  const command = pause ? 'pause' : 'unpause';
  const p = parseCommand(argv, [], command, 'CONTAINER...', pause ? "Suspends every process of containers (their cgroup's freezer)." : 'Resumes paused containers.');
  if (!p) return 0;
  if (!p.positionals.length) throw new UsageError(`nook ${command} needs at least one container`, `e.g. nook ${command} web`);
  return eachContainer(p.positionals, async (_store, dir, ref) => {
    const s = liveState(dir);
    if (s.display !== 'running') throw new NookError(`Container ${ref} is not running`, { exitCode: 1 });
    const cgroup = ownCgroup(s, `${command} container ${ref}`);
    if (pause && isFrozen(cgroup)) throw new NookError(`Container ${ref} is already paused`, { exitCode: 1 });
    if (!pause && !isFrozen(cgroup)) throw new NookError(`Container ${ref} is not paused`, { exitCode: 1 });
    await setFrozen(cgroup, pause);
    say(ref);
  });
}

export const pauseCommand = (argv: string[]): Promise<number> => freezeCommand(argv, true);
export const unpauseCommand = (argv: string[]): Promise<number> => freezeCommand(argv, false);
