/**
 * podman's `image exists IMAGE` and `container exists CONTAINER`: no output,
 * exit 0 when it exists, 1 when it does not, 125 when nook cannot tell
 * (e.g. an unusable store), for scripts' `if nook image exists X`.
 */
import { NookError, UsageError } from '../errors';
import { parseCommand } from './container-refs';

export async function containerExistsCommand(argv: string[]): Promise<number> {
  const p = parseCommand(argv, [], 'container exists', 'CONTAINER', 'Exits 0 when the container exists, 1 when it does not.');
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new UsageError('nook container exists takes exactly one container', 'e.g. nook container exists web');
  const { ContainerStore } = await import('../container/state');
  try {
    ContainerStore.open().resolve(p.positionals[0]);
    return 0;
  } catch (e) {
    if (e instanceof NookError && /^no such container/i.test(e.message)) return 1;
    throw e;
  }
}

export async function imageExistsCommand(argv: string[]): Promise<number> {
  const p = parseCommand(argv, [], 'image exists', 'IMAGE', 'Exits 0 when the image is in the local store, 1 when it is not.');
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new UsageError('nook image exists takes exactly one image', 'e.g. nook image exists debian:12');
  const { ImageStore } = await import('../image/store/store');
  const { findImage } = await import('../image/store/lookup');
  // An invalid name is an error (125), as podman's: no image could be looked up by it.
  const found = findImage(ImageStore.open(), p.positionals[0]);
  return found ? 0 : 1;
}
