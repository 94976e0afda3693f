/**
 * The user-mode network helper of a sandbox with a private network: started
 * by a parent step once the child's id maps are written, stopped when the
 * command ends. Loaded only for those modes (start-up time).
 */
import type { PublishedPort, SandboxSpec } from '../spec';
import type { NetworkHelper } from './pasta';
import type { Lifeline } from './lifeline';
import { withFreeHostPorts } from './free-ports';
export { Lifeline } from './lifeline';

export type { NetworkHelper };

/** Whether the sandbox's network needs a helper process (and so a lifeline). */
export const needsHelper = (spec: Pick<SandboxSpec, 'network'>): boolean => spec.network === 'pasta' || spec.network === 'slirp4netns';

/**
 * Starts the helper for the waiting sandbox `pid`; it lives while a copy of
 * `lifeline`'s write end is open. Returns the published ports as bound
 * (a free host port chosen for each hostPort 0).
 */
export async function startNetworkHelper(
  spec: Pick<SandboxSpec, 'network' | 'ports'>,
  pid: number,
  lifeline: Lifeline,
): Promise<{ helper: NetworkHelper; ports: PublishedPort[] }> {
  const ports = await withFreeHostPorts(spec.ports ?? []);
  if (spec.network === 'pasta') return { helper: await (await import('./pasta')).startPasta(pid, ports, lifeline), ports };
  if (spec.network === 'slirp4netns') return { helper: await (await import('./slirp4netns')).startSlirp4netns(pid, ports, lifeline), ports };
  throw new Error(`no network helper for --network ${spec.network}`);
}
