/**
 * An OCI container's cgroup: linux.cgroupsPath and linux.resources.
 * (Being written: see issue 17. Until then no container gets a cgroup, and
 * the commands that need one say so.)
 */
import type { OciConfig } from './config';

/** Where a container's cgroup is: one directory per v1 hierarchy (by controller list), or the v2 directory. */
export interface OciCgroupRecord {
  v2?: string;
  v1?: Record<string, string>;
}

/** Creates the container's cgroup and writes its limits, or returns undefined when it gets none. */
export function createOciCgroup(_config: OciConfig, _id: string, _warn: (m: string) => void): OciCgroupRecord | undefined {
  return undefined;
}

/** Moves `pid` into the cgroup (the waiting child, before it is released). */
export function joinOciCgroup(_cg: OciCgroupRecord, _pid: number): void {}

/** Removes the cgroup's directories (their processes have ended). */
export function removeOciCgroup(_cg: OciCgroupRecord): void {}

/** The pids in the cgroup. */
export function ociCgroupPids(_cg: OciCgroupRecord): number[] {
  return [];
}

/** Freezes or thaws (v1 freezer.state, v2 cgroup.freeze). */
export function freezeOciCgroup(_cg: OciCgroupRecord, _frozen: boolean): void {}

export function isFrozen(_cg: OciCgroupRecord): boolean {
  return false;
}

/** `update --resources`: writes new limits. */
export function updateOciCgroup(_cg: OciCgroupRecord, _resources: Record<string, unknown>, _warn: (m: string) => void): void {}
