/**
 * `nook tag SOURCE TARGET`: another name for an image.
 */
import { UsageError } from '../errors';
import { formatReference, parseReference } from '../image/reference';
import { requireImage } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import { parseArgs } from './args';

export async function tagCommand(argv: string[]): Promise<number> {
  const { positionals } = parseArgs(argv, [], 'tag');
  if (positionals.length !== 2) throw new UsageError('nook tag takes a source and a target', 'e.g. nook tag debian:12 localhost:5000/mydebian:1');
  const store = ImageStore.open();
  const { record } = requireImage(store, positionals[0]);
  const target = parseReference(positionals[1]);
  if (target.digest) throw new UsageError(`cannot tag with a digest: "${positionals[1]}"`, 'give a name with a tag, e.g. myimage:1');
  await store.updateRefs((refs) => {
    refs[formatReference(target)] = record.id;
  });
  return 0;
}
