/**
 * Requests to, and replies from, nook's build helper: a nook process running
 * as root of a user namespace (with the user's id mapping) and of a private
 * mount namespace, which writes COPY/ADD files and WORKDIR directories into
 * a step's root so that they get the owners the container sees. JSON lines
 * both ways, as the store helper's.
 */
import type { IdPolicy } from '../../image/unpack/owners';

/** A step's overlay: the stage's layers so far under the step's writable layer. */
export interface OverlayTarget {
  /** Layer directories, topmost first. */
  lowerDirs: string[];
  /** Optional: the store's short links (names in `linkDir`, topmost first), so that long chains fit one mount's options. */
  linkDir?: string;
  lowers?: string[];
  /** The step's writable layer (becomes its layer), overlayfs's work directory, and the mount point. Made if missing. */
  upper: string;
  work: string;
  merged: string;
}

/** Where a step writes: an overlay the helper mounts, or (overlayfs refused) a plain directory holding a copy of the layers. */
export type BuildRoot = { overlay: OverlayTarget } | { rootfs: string };

export type CopySources =
  /** The build context, or a directory of prepared files (heredocs, downloaded URLs). */
  | { kind: 'dir'; dir: string; /** .dockerignore patterns (readDockerignore's), for the build context. */ excludes?: string[] }
  /** COPY --from=STAGE|IMAGE: that root's layers, topmost first, seen read-only (short links as OverlayTarget's, optional). */
  | { kind: 'layers'; lowerDirs: string[]; linkDir?: string; lowers?: string[] };

export interface CopyRequest {
  root: BuildRoot;
  sources: CopySources;
  /** The sources as written (after variable substitution): paths or globs, relative to the sources' root. */
  patterns: string[];
  /** As written: absolute, or relative to `workdir`; a trailing / makes it a directory. */
  dest: string;
  /** The stage's WORKDIR (default /). */
  workdir?: string;
  /** --chown as written (USER[:GROUP], names from the root's /etc/passwd and /etc/group). */
  chown?: string;
  /** --chmod as written (octal, or symbolic as BuildKit takes it). */
  chmod?: string;
  /** --exclude patterns, matched against the paths as they land under the destination. */
  exclude?: string[];
  /** --parents: sources keep their path from the context root (or from a `/./` in the pattern). */
  parents?: boolean;
  /** ADD: local tar archives are extracted. */
  add?: boolean;
}

export interface MkdirRequest {
  root: BuildRoot;
  /** Absolute path inside the root (WORKDIR). */
  path: string;
  /** Owner of the directories made, as --chown (default 0:0). */
  chown?: string;
}

export interface ResolveUserRequest {
  root: BuildRoot;
  /** USER's syntax: NAME|UID[:GROUP|GID]. */
  user: string;
}

/**
 * docker's copy-up: a new volume filled with what an image has at the path
 * it is mounted on (owners, modes and times kept), the volume's top
 * directory given the image directory's owner and mode.
 */
export interface PopulateRequest {
  /** The image's layers, topmost first. */
  lowerDirs: string[];
  /** Absolute path inside the image, resolved there (symlinks never leave the image). */
  path: string;
  /** The volume's _data directory. */
  dataDir: string;
}

/** podman's :U: every file under `dir` (a volume's _data) given the owner, as the container's ids. */
export interface ChownRequest {
  dir: string;
  uid: number;
  gid: number;
}

export type BuildHelperRequest = { id: number; ids: IdPolicy } & (
  | ({ op: 'populate' } & PopulateRequest)
  | ({ op: 'chown' } & ChownRequest)
  | ({ op: 'copy' } & CopyRequest)
  | ({ op: 'mkdir' } & MkdirRequest)
  | ({ op: 'resolve-user' } & ResolveUserRequest)
);

export interface ResolvedIds {
  uid: number;
  gid: number;
  /** Supplementary groups from /etc/group (resolve-user only). */
  groups?: number[];
  home?: string;
}

export type BuildHelperReply =
  | { id: number; event: 'done'; files?: number; user?: ResolvedIds }
  | { id: number; event: 'error'; message: string; hint?: string }
  | { id: number; event: 'warning'; message: string };
