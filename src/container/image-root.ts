/**
 * A container's root from an image: a writable layer of its own over the
 * image's layers with overlayfs, or a private copy of the layers where the
 * kernel refuses overlayfs in a user namespace.
 */
import { describeErrno } from '../errors';
import { StepError } from '../sandbox/diagnose';
import type { ImageRecord, ImageStore } from '../image/store/store';
import { rememberOverlayRefused, rootMode } from './overlay-support';
import { ContainerRoot } from './rootfs';

/**
 * What the kernel says when overlayfs can't be mounted in a user namespace at all: EPERM
 * (before Linux 5.11, or forbidden), ENODEV (no overlayfs), EINVAL (no `userxattr`),
 * EOPNOTSUPP (the store's filesystem can't be a layer). Other errors are real problems to report.
 */
const OVERLAY_UNSUPPORTED = new Set([1, 19, 22, 95]);

/** The kernel refused overlayfs in the user namespace (the sandbox's first step): a copy of the layers will do. */
export function isOverlayRefusal(e: unknown): e is StepError {
  return e instanceof StepError && e.step.args[2] === 'overlay' && OVERLAY_UNSUPPORTED.has(e.errno);
}

/**
 * Runs `attempt` on a container root in overlay mode, and once more on a
 * private copy when the kernel refuses overlayfs in a user namespace (the
 * overlay mount is the child's first step: nothing ran yet, so trying again is safe).
 */
export async function withRootFallback<T>(
  store: ImageStore,
  image: ImageRecord,
  name: string,
  attempt: (root: ContainerRoot) => Promise<T>,
  warn: (message: string) => void,
): Promise<T> {
  const mode = rootMode(store);
  try {
    return await attempt(await ContainerRoot.create(store, image, name, mode));
  } catch (e) {
    if (!(mode === 'overlay' && isOverlayRefusal(e))) throw e;
    const why = describeErrno(e.errno);
    rememberOverlayRefused(store, why);
    warn(`the kernel refuses overlayfs here (${why}); using a private copy of the image's layers instead (slower start)`);
    return attempt(await ContainerRoot.create(store, image, name, 'copy'));
  }
}
