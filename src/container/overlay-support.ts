/**
 * Whether to use the kernel's overlayfs. Kernels before 5.11 (and some
 * hardened ones) refuse it in a user namespace; nook then falls back to a
 * private copy of the layers, and remembers the refusal for this kernel in
 * the store so later runs don't try again. NOOK_OVERLAY=copy forces the
 * fallback (for tests, and for filesystems overlayfs can't sit on).
 */
import os = require('node:os');
import { readJson, writeFileAtomic } from '../util/atomic';
import type { ImageStore } from '../image/store/store';
import type { RootMode } from './rootfs';

interface Memo {
  kernel: string;
  refused: string;
}

const memoFile = (store: ImageStore) => store.p('overlay-refused.json');

export function rootMode(store: ImageStore): RootMode {
  const forced = process.env.NOOK_OVERLAY;
  if (forced === 'copy' || forced === 'overlay') return forced;
  const memo = readJson<Memo | null>(memoFile(store), null);
  return memo && memo.kernel === os.release() ? 'copy' : 'overlay';
}

export function rememberOverlayRefused(store: ImageStore, why: string): void {
  writeFileAtomic(memoFile(store), JSON.stringify({ kernel: os.release(), refused: why } satisfies Memo));
}

/** Why overlayfs was refused on this kernel (remembered in the store), or null. */
export function overlayRefusal(store: ImageStore): string | null {
  const memo = readJson<Memo | null>(memoFile(store), null);
  return memo && memo.kernel === os.release() ? memo.refused : null;
}
