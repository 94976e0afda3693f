/**
 * `nook diff CONTAINER`: what the container changed in its image's files, as
 * docker prints it: `A` added, `C` changed, `D` deleted, one path a line.
 * podman's `--format json` ({"changed": [...], "added": [...], "deleted":
 * [...]}) and `-l` (the latest container) are taken too.
 */
import { NookError, UsageError } from '../errors';
import { containerChanges } from '../container/commit';
import { ContainerStore } from '../container/state';
import { listContainers } from '../container/status';
import { ImageStore } from '../image/store/store';
import { flagHelp, parseArgs, type FlagSpec } from './args';

const FLAGS: readonly FlagSpec[] = [
  { name: 'format', type: 'string', value: 'FORMAT', help: "json: one object with the lists changed, added and deleted (podman's); default: docker's lines" },
  { name: 'latest', short: 'l', type: 'boolean', help: "the most recently created container (podman's flag)" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const KEYS = { C: 'changed', A: 'added', D: 'deleted' } as const;

export async function diffCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, 'diff');
  if (flags.help) {
    process.stdout.write(`Usage: nook diff [FLAGS] CONTAINER\n\nLists the files a container added (A), changed (C) and deleted (D).\n\nFlags:\n${flagHelp(FLAGS)}\n`);
    return 0;
  }
  const format = flags.format as string | undefined;
  if (format !== undefined && format !== 'json') throw new UsageError(`nook diff: unknown --format "${format}"`, 'use --format json, or no --format for lines');
  const store = ContainerStore.open();
  let dir;
  if (flags.latest) {
    if (positionals.length) throw new UsageError('nook diff takes a container or --latest, not both');
    const newest = listContainers(store).pop();
    if (!newest) throw new NookError('no containers to show the changes of');
    dir = newest.dir;
  } else {
    if (positionals.length !== 1) throw new UsageError('nook diff takes one container', 'e.g. nook diff mycontainer');
    dir = store.resolve(positionals[0]);
  }
  const changes = await containerChanges(ImageStore.open(), dir);
  // Names are bytes; shown as UTF-8 as docker does.
  const shown = (p: string) => Buffer.from(p, 'latin1').toString('utf8');
  if (format === 'json') {
    const out: Record<string, string[]> = {};
    for (const c of changes) (out[KEYS[c.kind]] ??= []).push(shown(c.path));
    process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    return 0;
  }
  process.stdout.write(changes.map((c) => `${c.kind} ${shown(c.path)}\n`).join(''));
  return 0;
}
