/**
 * `nook tag SOURCE TARGET...`: other names for an image (docker takes one
 * target, podman several). `nook untag IMAGE [NAME...]` (podman's): takes
 * names off an image, all of them when none is given; the image stays.
 */
import { NookError, UsageError } from '../errors';
import { formatReference, parseReference } from '../image/reference';
import { requireImage } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';

const HELP_FLAGS: readonly FlagSpec[] = [{ name: 'help', type: 'boolean', help: 'show this help' }];

export async function tagCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, HELP_FLAGS, 'tag', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook tag SOURCE TARGET [TARGET...]\n\nGives an image more names.\n\nFlags:\n${flagHelp(HELP_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length < 2) throw new UsageError('nook tag takes a source and a target', 'e.g. nook tag debian:12 localhost:5000/mydebian:1');
  const store = ImageStore.open();
  const { record } = requireImage(store, positionals[0]);
  const targets = positionals.slice(1).map((t) => {
    const target = parseReference(t);
    if (target.digest) throw new UsageError(`cannot tag with a digest: "${t}"`, 'give a name with a tag, e.g. myimage:1');
    return formatReference(target);
  });
  await store.updateRefs((refs) => {
    for (const t of targets) refs[t] = record.id;
  });
  return 0;
}

export async function untagCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, HELP_FLAGS, 'untag', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook untag IMAGE [NAME...]\n\nTakes names off an image (all its names when none is given); the image stays, as <none>.\n\nFlags:\n${flagHelp(HELP_FLAGS)}\n`);
    return 0;
  }
  if (!positionals.length) throw new UsageError('nook untag needs an image', 'e.g. nook untag debian:12, or nook untag IMAGE NAME...');
  const store = ImageStore.open();
  const { record } = requireImage(store, positionals[0]);
  const names = positionals.slice(1).map((n) => [n, formatReference(parseReference(n))] as const);
  await store.updateRefs((refs) => {
    const own = store.namesOf(record.id, refs);
    for (const [given, n] of names) {
      if (!own.includes(n)) throw new NookError(`${given}: tag not known`, { hint: `the image's names: ${own.join(', ') || 'none'}` });
    }
    for (const n of names.length ? names.map(([, n]) => n) : own) delete refs[n];
  });
  return 0;
}
