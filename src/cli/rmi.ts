/**
 * `nook rmi [-f] IMAGE...`. Removing a name is immediate; space comes back
 * through garbage collection, which leaves alone whatever a running container uses.
 */
import fs = require('node:fs');
import { NookError, UsageError, errorText } from '../errors';
import { familiarReference, parseReference } from '../image/reference';
import { collectGarbage } from '../image/store/gc';
import { findImage, requireImage } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';

const RMI_FLAGS: readonly FlagSpec[] = [
  { name: 'force', short: 'f', type: 'boolean', help: 'remove an image id even when several names point at it' },
  { name: 'all', short: 'a', type: 'boolean', help: "every image in the store (podman's flag)" },
  { name: 'ignore', short: 'i', type: 'boolean', help: "say nothing of images that do not exist (podman's flag)" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function rmiCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, RMI_FLAGS, 'rmi', { interleaved: true });
  if (flags.help) {
    say(`Usage: nook rmi [FLAGS] IMAGE...\n\nRemoves images (by name or id) from the local store.\n\nFlags:\n${flagHelp(RMI_FLAGS)}`);
    return 0;
  }
  if (flags.all && positionals.length) throw new UsageError('nook rmi --all takes no image names', 'either nook rmi --all or nook rmi IMAGE...');
  if (!flags.all && !positionals.length) throw new UsageError('nook rmi needs at least one image', 'e.g. nook rmi debian:12');
  const store = ImageStore.open();
  const deleted: string[] = [];
  // --all: each image by id, with all its names (as -f would: "all" leaves nothing behind).
  const inputs = flags.all ? store.images().map((r) => r.id) : positionals;
  const force = Boolean(flags.force || flags.all);
  const failures: NookError[] = [];
  let fatal = false;
  for (const input of inputs) {
    let found;
    try {
      found = findImage(store, input);
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      failures.push(e); // a bad name or an ambiguous id: on to the next, as docker does
      fatal = true;
      continue;
    }
    if (!found) {
      // docker: with -f a missing image is reported but not an error; podman's --ignore says nothing.
      if (!flags.ignore) {
        try {
          requireImage(store, input);
        } catch (e) {
          failures.push(e as NookError);
        }
      }
      continue;
    }
    const { record, name } = found;
    const untagged = await store.updateRefs((refs) => {
      const names = store.namesOf(record.id, refs);
      if (!name && names.length > 1 && !force)
        return new NookError(`image ${record.id.slice(7, 19)} is referenced by ${names.length} names (${names.map((n) => familiarReference(parseReference(n))).join(', ')})`, {
          hint: 'remove them by name, or use rmi -f to remove them all',
        });
      const remove = name ? [name] : names;
      for (const n of remove) delete refs[n];
      return { remove, remaining: names.filter((n) => !remove.includes(n)).length };
    });
    if (untagged instanceof NookError) {
      failures.push(untagged);
      fatal = true;
      continue;
    }
    for (const n of untagged.remove) say(`Untagged: ${familiarReference(parseReference(n))}`);
    if (untagged.remaining === 0) {
      store.deleteImage(record.id);
      deleted.push(record.id);
      say(`Deleted: ${record.id}`);
    }
  }
  if (deleted.length) await collectGarbage(store);
  if (!failures.length) return 0;
  if (fatal || !force) {
    if (failures.length === 1) throw failures[0];
    throw new NookError(failures.map((f) => f.message).join('\n'), { hint: failures[0].hint });
  }
  fs.writeSync(2, failures.map((f) => errorText(f)).join(''));
  return 0;
}
