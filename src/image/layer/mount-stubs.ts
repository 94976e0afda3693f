/**
 * Paths nook's sandbox mounts over in every container and build step (its
 * /proc, /sys, /dev, and the generated /etc/hosts, hostname and
 * resolv.conf), creating them in the root when the image lacks them. They
 * are the runtime's, not the container's changes: like docker's init layer,
 * they never go into a layer or a diff (what a container writes to them goes
 * to the mounted filesystem anyway).
 */
export const MOUNT_STUBS: ReadonlySet<string> = new Set(['dev', 'proc', 'sys', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf']);
