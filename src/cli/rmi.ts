/**
 * `nook rmi [-f] IMAGE...`, `nook tag SOURCE TARGET`, `nook image prune [-a]`.
 * Removing a name is immediate; space comes back through garbage collection,
 * which leaves alone whatever a running container uses.
 */
import { NookError, UsageError } from '../errors';
import { familiarReference, formatReference, parseReference } from '../image/reference';
import { collectGarbage } from '../image/store/gc';
import { requireImage } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { formatBytes } from './progress';

const RMI_FLAGS: readonly FlagSpec[] = [
  { name: 'force', short: 'f', type: 'boolean', help: 'remove an image id even when several names point at it' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function rmiCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, RMI_FLAGS, 'rmi');
  if (flags.help) {
    say(`Usage: nook rmi [FLAGS] IMAGE...\n\nRemoves images (by name or id) from the local store.\n\nFlags:\n${flagHelp(RMI_FLAGS)}`);
    return 0;
  }
  if (!positionals.length) throw new UsageError('nook rmi needs at least one image', 'e.g. nook rmi debian:12');
  const store = ImageStore.open();
  const deleted: string[] = [];
  for (const input of positionals) {
    const { record, name } = requireImage(store, input);
    const untagged = await store.updateRefs((refs) => {
      const names = store.namesOf(record.id, refs);
      const remove = name ? [name] : names;
      if (!name && names.length > 1 && !flags.force)
        throw new NookError(`image ${record.id.slice(7, 19)} is referenced by ${names.length} names (${names.map((n) => familiarReference(parseReference(n))).join(', ')})`, {
          hint: 'remove them by name, or use rmi -f to remove them all',
        });
      for (const n of remove) delete refs[n];
      return { remove, remaining: names.filter((n) => !remove.includes(n)).length };
    });
    for (const n of untagged.remove) say(`Untagged: ${familiarReference(parseReference(n))}`);
    if (untagged.remaining === 0) {
      store.deleteImage(record.id);
      deleted.push(record.id);
      say(`Deleted: ${record.id}`);
    }
  }
  if (deleted.length) await collectGarbage(store);
  return 0;
}

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

const PRUNE_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'remove all images, not only those without a name' },
  { name: 'force', short: 'f', type: 'boolean', help: 'accepted for docker compatibility: nook does not ask' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function imagePruneCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, PRUNE_FLAGS, 'image prune');
  if (flags.help) {
    say(`Usage: nook image prune [FLAGS]\n\nRemoves images without a name (with -a: all images), then unused layers and blobs.\n\nFlags:\n${flagHelp(PRUNE_FLAGS)}`);
    return 0;
  }
  const store = ImageStore.open();
  const doomed = await store.updateRefs((refs) => {
    const named = new Set(Object.values(refs));
    const victims = store.images().filter((r) => flags.all || !named.has(r.id));
    for (const [n, id] of Object.entries(refs)) if (victims.some((v) => v.id === id)) delete refs[n];
    return victims;
  });
  if (doomed.length) say('Deleted Images:');
  for (const r of doomed) {
    store.deleteImage(r.id);
    say(`deleted: ${r.id}`);
  }
  const gc = await collectGarbage(store);
  say(`Total reclaimed space: ${formatBytes(gc.bytes)}`);
  return 0;
}
