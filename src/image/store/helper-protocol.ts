/**
 * Requests to, and replies from, nook's store helper: a nook process running
 * as root of a user namespace with the user's id mapping (userns-exec.ts),
 * which extracts layers so their files get the owners the container sees,
 * and deletes directories holding such files. JSON lines both ways.
 */
import type { IdPolicy } from '../unpack/owners';

export type HelperRequest =
  | {
      id: number;
      op: 'extract';
      /** The compressed layer blob. */
      blob: string;
      /** Where the extracted layer must appear (renamed into place when complete). */
      dest: string;
      /** A directory on the same filesystem for the work in progress. */
      tmpDir: string;
      /** The short link to create for overlayfs: l/<16 hex> → ../layers/<hex>. */
      link: string;
      layerName: string;
      /** The sha256 the uncompressed layer must have. */
      diffId: string;
      ids: IdPolicy;
      squashIds: boolean;
      debug: boolean;
      /** --max-layer-expansion: the most times its compressed size the layer may decompress to (0: no limit). */
      maxExpansion?: number;
    }
  | { id: number; op: 'remove'; paths: string[] }
  /** Copies `layers` (bottom first) into `dest`: the fallback when overlayfs is refused. */
  | { id: number; op: 'assemble'; layers: string[]; dest: string };

export type HelperReply =
  | { id: number; event: 'progress'; bytes: number }
  | { id: number; event: 'done'; entries?: number; bytes?: number }
  | { id: number; event: 'error'; message: string; hint?: string }
  | { id: number; event: 'warning' | 'debug'; message: string };
