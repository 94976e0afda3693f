/**
 * `nook image prune [-a]`: removes images without a name (with -a, all
 * images), then the layers and blobs no image or running container needs.
 */
import { pruneImages } from '../image/store/prune';
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
  const { deleted, gc } = await pruneImages(ImageStore.open(), { all: Boolean(flags.all) });
  if (deleted.length) say('Deleted Images:');
  for (const r of deleted) say(`deleted: ${r.id}`);
  say(`Total reclaimed space: ${formatBytes(gc.bytes)}`);
  return 0;
}
