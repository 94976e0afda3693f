/**
 * `nook image prune [-a]`: removes images without a name (with -a, all
 * images), then the layers and blobs no image or running container needs.
 */
import { collectGarbage } from '../image/store/gc';
import { ImageStore } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { formatBytes } from './format';

const say = (line: string) => process.stdout.write(`${line}\n`);

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
