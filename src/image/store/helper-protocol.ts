/**
 * Requests to, and replies from, nook's store helper: a nook process running
 * as root of a user namespace with the user's id mapping (userns-exec.ts),
 * which extracts layers so their files get the owners the container sees,
 * and deletes directories holding such files. JSON lines both ways.
 */
import type { IdPolicy } from '../unpack/owners';
import type { LayerSource } from '../layer/source';
import type { Change } from '../layer/changes';

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
  | { id: number; op: 'assemble'; layers: string[]; dest: string }
  /** Writes the layer of a container's changes as a gzip tar blob to `out` (image/layer/write-layer.ts). */
  | { id: number; op: 'layer'; source: LayerSource; out: string; sourceDateEpoch?: number }
  /** Lists a container's changes as `nook diff` prints them. */
  | { id: number; op: 'changes'; source: LayerSource; lowers: string[] };

export type HelperReply =
  | { id: number; event: 'progress'; bytes: number }
  | {
      id: number;
      event: 'done';
      entries?: number;
      bytes?: number;
      /** Of a 'layer' request. */
      layer?: { digest: string; size: number; diffId: string; entries: number };
      /** Of a 'changes' request. */
      changes?: Change[];
    }
  | { id: number; event: 'error'; message: string; hint?: string }
  | { id: number; event: 'warning' | 'debug'; message: string };
