/**
 * Requests to, and replies from, `nook __cp-helper`: nook as root of a user
 * namespace (the user's id mapping) and of a private mount namespace, which
 * copies files between a container's root and the host for `nook cp`, and
 * writes a container's files as a tar for `nook export`. Running there, the
 * files' owners are the ids the container sees, and overlay mounts of a
 * stopped container's layers stay invisible to the host.
 */
import type { IdPolicy } from '../../image/unpack/owners';
import type { OverlayTarget } from '../../build/helper/protocol';

/**
 * The container's files as the helper reaches them: a stopped container's
 * overlay mounted read-write, its layers (writable layer on top) as one
 * read-only view, or a directory (a copy-mode root, a --rootfs directory, a
 * running container's /proc/PID/root).
 */
export type CpRoot = { overlay: OverlayTarget } | { layers: string[] } | { dir: string };

export interface CpOptions {
  /** -a: owners kept from the source; else the destination's (root's inside, the user's outside). */
  archive: boolean;
  /** -L: a symlink named as the source is followed. */
  follow: boolean;
}

/** Container → host (`hostDest`) or → a tar file (`tarOut`, for `-`). */
export interface CpOutRequest extends CpOptions {
  root: CpRoot;
  /** As the user wrote it (relative to the container's /). */
  src: string;
  hostDest?: string;
  tarOut?: string;
}

/** Host path (`hostSrc`) or a tar file (`tarIn`, for `-`) → the container's `dest`. */
export interface CpInRequest extends CpOptions {
  root: CpRoot;
  hostSrc?: string;
  tarIn?: string;
  /**
   * With tarIn: the source is this entry of the tar (`/NAME`, or `/.` for
   * its top), copied by cp's rules as a host path would be; without it the
   * tar's top is extracted into the directory `dest` (docker's `cp -`).
   */
  tarSource?: string;
  dest: string;
  /**
   * A stopped container's volumes and bind mounts, mounted on its root
   * first (as docker's daemon does): what is copied to a path under one
   * lands in the volume or host directory, as it will when it runs.
   */
  mounts?: CpMount[];
}

export interface CpMount {
  /** Host path (a directory or a file). */
  source: string;
  /** Path in the container. */
  target: string;
  readOnly: boolean;
}

export interface ExportRequest {
  root: CpRoot;
  /** A new file the tar is written to. */
  out: string;
}

export type CpHelperRequest = { id: number; ids: IdPolicy } & (
  | ({ op: 'cp-out' } & CpOutRequest)
  | ({ op: 'cp-in' } & CpInRequest)
  | ({ op: 'export' } & ExportRequest)
);

export type CpHelperReply =
  | { id: number; event: 'done' }
  | { id: number; event: 'error'; message: string; hint?: string; notFound?: boolean }
  | { id: number; event: 'warning'; message: string };
