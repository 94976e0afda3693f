/**
 * The user-mode network helper of a sandbox with a private network: started
 * by a parent step once the child's id maps are written, stopped when the
 * command ends. Loaded only for those modes (start-up time).
 */
import type { SandboxSpec } from '../spec';
import type { NetworkHelper } from './pasta';
import type { Lifeline } from './lifeline';
export { Lifeline } from './lifeline';

export type { NetworkHelper };

/** Whether the sandbox's network needs a helper process (and so a lifeline). */
export const needsHelper = (spec: Pick<SandboxSpec, 'network'>): boolean => spec.network === 'pasta' || spec.network === 'slirp4netns';

/** Starts the helper for the waiting sandbox `pid`; it lives while a copy of `lifeline`'s write end is open. */
export async function startNetworkHelper(spec: Pick<SandboxSpec, 'network' | 'ports'>, pid: number, lifeline: Lifeline): Promise<NetworkHelper> {
  if (spec.network === 'pasta') return (await import('./pasta')).startPasta(pid, spec.ports ?? [], lifeline);
  if (spec.network === 'slirp4netns') return (await import('./slirp4netns')).startSlirp4netns(pid, spec.ports ?? [], lifeline);
  throw new Error(`no network helper for --network ${spec.network}`);
}
