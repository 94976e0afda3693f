/**
 * `nook commit [-c INSTRUCTION]... [-m MSG] [-a AUTHOR] [--pause=false] [--format oci|docker] CONTAINER [REF]`:
 * the container's writable layer as a new layer on its image; prints the new image id.
 */
import { UsageError } from '../errors';
import { commitContainer } from '../container/commit';
import { ContainerStore } from '../container/state';
import { applyConfigChange } from '../image/config-changes';
import type { ContainerConfig } from '../image/config';
import { ImageStore } from '../image/store/store';
import { defaultCreated } from '../image/write-image';
import { flagHelp, parseArgs, type FlagSpec } from './args';

const FLAGS: readonly FlagSpec[] = [
  { name: 'change', short: 'c', type: 'string', multiple: true, value: 'INSTRUCTION', help: 'apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR' },
  { name: 'message', short: 'm', type: 'string', value: 'MSG', help: 'commit message (the history entry\'s comment)' },
  { name: 'author', short: 'a', type: 'string', value: 'AUTHOR', help: 'author, e.g. "Jane <jane@example.com>"' },
  { name: 'pause', short: 'p', type: 'boolean', tristate: true, help: 'pause a running container while its files are read (default true; --pause=false to skip)' },
  { name: 'format', short: 'f', type: 'string', value: 'oci|docker', help: 'manifest and config media types (default oci)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'accepted for compatibility (only the id is printed anyway)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function commitCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, 'commit');
  if (flags.help) {
    process.stdout.write(`Usage: nook commit [FLAGS] CONTAINER [REPOSITORY[:TAG]]\n\nMakes an image from a container's changes.\n\nFlags:\n${flagHelp(FLAGS)}\n`);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 2)
    throw new UsageError('nook commit takes a container and, optionally, a name for the image', 'e.g. nook commit mycontainer myimage:1');
  const format = (flags.format as string | undefined) ?? 'oci';
  if (format !== 'oci' && format !== 'docker') throw new UsageError(`unknown --format "${format}"`, 'use --format oci (the default) or --format docker');
  const changes = (flags.change as string[] | undefined) ?? [];
  // Checked before anything is read: a typo should not cost a whole diff.
  let probe: ContainerConfig = {};
  for (const c of changes) probe = applyConfigChange(probe, c);
  // SOURCE_DATE_EPOCH (checked here, before any work) clamps file times and dates the image.
  const created = defaultCreated();
  const epoch = process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : undefined;
  const containers = ContainerStore.open();
  const dir = containers.resolve(positionals[0]);
  const { image } = await commitContainer(ImageStore.open(), dir, {
    pause: flags.pause !== false,
    changeConfig: (config) => changes.reduce(applyConfigChange, config),
    message: flags.message as string | undefined,
    author: flags.author as string | undefined,
    format,
    names: positionals.slice(1),
    sourceDateEpoch: epoch,
    created,
  });
  process.stdout.write(`${image.id}\n`);
  return 0;
}
