/**
 * `nook diff CONTAINER`: what the container changed in its image's files, as
 * docker prints it: `A` added, `C` changed, `D` deleted, one path a line.
 */
import { UsageError } from '../errors';
import { containerChanges } from '../container/commit';
import { ContainerStore } from '../container/state';
import { ImageStore } from '../image/store/store';
import { flagHelp, parseArgs, type FlagSpec } from './args';

const FLAGS: readonly FlagSpec[] = [{ name: 'help', type: 'boolean', help: 'show this help' }];

export async function diffCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, 'diff');
  if (flags.help) {
    process.stdout.write(`Usage: nook diff CONTAINER\n\nLists the files a container added (A), changed (C) and deleted (D).\n\nFlags:\n${flagHelp(FLAGS)}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('nook diff takes one container', 'e.g. nook diff mycontainer');
  const dir = ContainerStore.open().resolve(positionals[0]);
  const changes = await containerChanges(ImageStore.open(), dir);
  // Names are bytes; shown as UTF-8 as docker does.
  process.stdout.write(changes.map((c) => `${c.kind} ${Buffer.from(c.path, 'latin1').toString('utf8')}\n`).join(''));
  return 0;
}
