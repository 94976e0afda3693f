/** Where a new layer's changes are read from. */
export type LayerSource =
  /** The overlayfs upper dir of a container or build step: it is the diff. */
  | { upper: string }
  /** A copy-mode root, diffed against the store layer dirs it was assembled from (bottom first). */
  | { rootfs: string; lowers: string[] };
