/**
 * `nook tag SOURCE TARGET`: another name for an image; `nook untag IMAGE
 * [NAME...]` (podman's): names taken off it, all of them when none is given.
 */
import { NookError, UsageError } from '../errors';
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

/** podman's untag: the image keeps its layers and id (`nook images` lists it as <none>, `run ID` still runs it). */
export async function untagCommand(argv: string[]): Promise<number> {
  const { positionals } = parseArgs(argv, [], 'untag');
  if (!positionals.length) throw new UsageError('nook untag takes an image and, optionally, the names to remove', 'e.g. nook untag myimage:1, or nook untag IMAGE localhost/other:2');
  const store = ImageStore.open();
  const { record } = requireImage(store, positionals[0]);
  const asked = positionals.slice(1);
  const names = asked.map((n) => formatReference(parseReference(n)));
  await store.updateRefs((refs) => {
    names.forEach((n, i) => {
      if (refs[n] !== record.id) throw new NookError(`${asked[i]}: not a name of image ${positionals[0]}`, { hint: 'see `nook images` for its names' });
    });
    for (const n of Object.keys(refs)) if (refs[n] === record.id && (!names.length || names.includes(n))) delete refs[n];
  });
  return 0;
}
