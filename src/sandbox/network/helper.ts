/**
 * The user-mode network helper of a sandbox with a private network: started
 * by a parent step once the child's id maps are written, stopped when the
 * command ends. Loaded only for those modes (start-up time).
 */
import type { SandboxSpec } from '../spec';
import type { NetworkHelper } from './pasta';

export type { NetworkHelper };

export async function startNetworkHelper(spec: Pick<SandboxSpec, 'network' | 'ports'>, pid: number): Promise<NetworkHelper> {
  if (spec.network === 'pasta') return (await import('./pasta')).startPasta(pid, spec.ports ?? []);
  if (spec.network === 'slirp4netns') return (await import('./slirp4netns')).startSlirp4netns(pid, spec.ports ?? []);
  throw new Error(`no network helper for --network ${spec.network}`);
}
