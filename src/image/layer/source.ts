/** Where a new layer's changes are read from. */
export type LayerSource =
  /**
   * The overlayfs upper dir of a container or build step: it is the diff. With `lowers` (the
   * image's layer dirs, bottom first), directories overlayfs merely copied up are left out
   * (upper-prune.ts): pass them, or an unchanged step whose image lacks /etc/hosts gets a layer.
   */
  | { upper: string; lowers?: string[] }
  /** A copy-mode root, diffed against the store layer dirs it was assembled from (bottom first). */
  | { rootfs: string; lowers: string[] };
