/**
 * --network container:NAME: the running container whose network namespace a
 * new one joins, as docker and podman do for sidecars. The new sandbox
 * joins that container's user namespace too (an unprivileged process may
 * join a network namespace only from inside the user namespace that owns
 * it), so both must map ids alike; it shares the other's hostname and
 * address, and makes its other namespaces of its own (sandbox/plan.ts).
 */
import { NookError } from '../errors';
import type { IdMapping } from '../sandbox/idmap';
import type { JoinedNetns, SandboxNetwork } from '../sandbox/spec';
import { decodeSpec } from './spec-codec';
import { ContainerStore } from './state';
import { liveState } from './status';

export interface JoinedNetwork {
  netns: JoinedNetns;
  /** The other container's own network: its address, resolv.conf and hosts are the joiner's too. */
  network: SandboxNetwork;
  hostname: string;
  idmap: IdMapping;
}

export function joinedNetwork(ref: string): JoinedNetwork {
  const dir = ContainerStore.open().resolve(ref);
  const state = liveState(dir);
  if (state.display !== 'running' || state.pid === undefined)
    throw new NookError(`cannot join the network of container ${ref}: it is not running`, { hint: `start it first (nook start ${ref}), then run this one` });
  const config = dir.config();
  const spec = decodeSpec(config.spec, `container ${ref}`);
  return {
    netns: { pid: state.pid, pidStart: state.pidStart, id: config.id, name: config.name },
    // A chain (container:A of container:B) ends in B's network, which A's namespace is.
    network: spec.network === 'container' ? 'none' : spec.network,
    hostname: spec.hostname,
    idmap: spec.idmap,
  };
}

/** Whether two sandboxes map ids alike (the joiner lives in the other's user namespace). */
export function sameIdMapping(a: IdMapping, b: IdMapping): boolean {
  const ranges = (m: IdMapping) => JSON.stringify([m.uid, m.gid]);
  return ranges(a) === ranges(b);
}
