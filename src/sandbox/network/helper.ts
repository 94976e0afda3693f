/**
 * The user-mode network helper of a sandbox with a private network: started
 * by a parent step while the child waits, stopped when the command ends.
 * Loaded only for those modes (start-up time).
 *
 * pasta is spawned before the id maps are written and sets up while
 * newuidmap and newgidmap run (it joins a user namespace that has no maps
 * yet just as well: it acts on the network namespace, with the capabilities
 * setns() gives it), so its set-up overlaps theirs. slirp4netns cannot: its
 * sandbox does seteuid(0), which needs uid 0 mapped ("parent failed").
 */
import type { ParentStep } from '../launcher';
import type { PublishedPort, SandboxSpec } from '../spec';
import { startPasta, type NetworkHelper } from './pasta';
import { startSlirp4netns } from './slirp4netns';
import type { Lifeline } from './lifeline';
export { Lifeline } from './lifeline';
export { withFreeHostPorts } from './free-ports';

export type { NetworkHelper };

/** Whether the sandbox's network needs a helper process (and so a lifeline). */
export const needsHelper = (spec: Pick<SandboxSpec, 'network'>): boolean => spec.network === 'pasta' || spec.network === 'slirp4netns';

/**
 * Starts the helper for the waiting sandbox `pid`; it lives while a copy of
 * `lifeline`'s write end is open. `ports` as they will be bound (no hostPort
 * 0: withFreeHostPorts). The helper's process is spawned before this returns.
 */
export function startNetworkHelper(network: SandboxSpec['network'], pid: number, ports: readonly PublishedPort[], lifeline: Lifeline): Promise<NetworkHelper> {
  if (network === 'pasta') return startPasta(pid, ports, lifeline);
  if (network === 'slirp4netns') return startSlirp4netns(pid, ports, lifeline);
  return Promise.reject(new Error(`no network helper for --network ${network}`));
}

/**
 * The parent steps around the id maps: `start` spawns pasta (first, so it
 * sets up while the maps are written), `ready` waits for its set-up (after
 * the maps and the cgroup, before the release byte); slirp4netns starts
 * and sets up in `ready`.
 */
export function helperSteps(network: SandboxSpec['network'], ports: readonly PublishedPort[], lifeline: Lifeline): { start: ParentStep; ready: ParentStep } {
  let pending: Promise<NetworkHelper> | undefined;
  if (network !== 'pasta')
    return {
      start: { name: `prepare ${network}`, run: () => undefined },
      ready: { name: `start ${network}`, run: async (pid) => void (await startNetworkHelper(network, pid, ports, lifeline)) },
    };
  return {
    start: {
      name: `start ${network}`,
      run: (pid) => {
        pending = startNetworkHelper(network, pid, ports, lifeline);
        // Awaited by `ready`; a step that fails before it must not leave an unhandled rejection.
        pending.catch(() => undefined);
      },
    },
    ready: { name: `set up ${network}`, run: async () => void (await pending) },
  };
}
