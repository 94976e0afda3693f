/** A made-up host identity for unit tests: uid 1000 with a 65,536-id subordinate range and the uidmap helpers. */
import type { HostIdentity } from '../../src/sandbox/idmap';

export function testHost(over: Partial<HostIdentity> = {}): HostIdentity {
  return {
    uid: 1000,
    gid: 1000,
    userName: 'alice',
    subUids: [{ start: 100000, count: 65536 }],
    subGids: [{ start: 100000, count: 65536 }],
    newuidmap: '/usr/bin/newuidmap',
    newgidmap: '/usr/bin/newgidmap',
    ...over,
  };
}
