/**
 * `pause`, `resume` and `update`: they act on the container's cgroup (the
 * cgroup v2 freezer, and its limit files). A container without a cgroup of
 * its own (no delegated cgroup v2 for this user, or a cgroup v1 host) cannot
 * be frozen or limited: said plainly rather than approximated with SIGSTOP.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { freezeOciCgroup, updateOciCgroup, type OciCgroupRecord } from './cgroups';
import { containerStatus, type OciContainerRecord, type OciStateStore } from './state';

function cgroupOf(rec: OciContainerRecord, what: string): OciCgroupRecord {
  if (!rec.cgroup)
    throw new NookError(`cannot ${what} container ${rec.id}: it has no cgroup of its own`, {
      hint: 'nook gives an OCI container a cgroup when it runs as root (cgroup v1 or v2), or on a cgroup v2 host in a subtree delegated to this user (systemd: Delegate=yes)',
      exitCode: 1,
    });
  return rec.cgroup;
}

export function freezeContainer(store: OciStateStore, id: string, freeze: boolean): void {
  const rec = store.read(id);
  const status = containerStatus(store, rec);
  if (status === 'stopped' || status === 'created') throw new NookError('container not running', { hint: `its status is ${status}`, exitCode: 1 });
  if (freeze && status === 'paused') throw new NookError(`container ${id} is already paused`, { exitCode: 1 });
  if (!freeze && status !== 'paused') throw new NookError(`container ${id} is not paused`, { exitCode: 1 });
  freezeOciCgroup(cgroupOf(rec, freeze ? 'pause' : 'resume'), freeze);
}

export function updateContainer(store: OciStateStore, id: string, resources: string | undefined, warn: (m: string) => void): void {
  const rec = store.read(id);
  if (resources === undefined) throw new NookError('update needs --resources FILE (or - for stdin)', { hint: 'a JSON object as linux.resources in config.json', exitCode: 1 });
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(resources === '-' ? 0 : resources, 'utf8'));
  } catch (e) {
    throw new NookError(`--resources: cannot read JSON from ${resources}: ${(e as Error).message}`, { exitCode: 1 });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new NookError('--resources: the JSON must be an object (as linux.resources)', { exitCode: 1 });
  updateOciCgroup(cgroupOf(rec, 'update'), parsed as Record<string, unknown>, warn);
}
