/**
 * `nook images [-q] [--format table|json]`.
 */
import { UsageError } from '../errors';
import { formatPlatform } from '../image/manifest';
import { familiarReference, parseReference } from '../image/reference';
import { ImageStore, imageSize, type ImageRecord } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { ago, formatBytes, table } from './format';

const IMAGES_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print image ids only' },
  { name: 'format', type: 'string', value: 'table|json', help: 'output format (default table)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

interface Row {
  repository: string;
  tag: string;
  digest: string;
  record: ImageRecord;
}

function rows(store: ImageStore): Row[] {
  const refs = store.refs();
  const out: Row[] = [];
  for (const record of store.images()) {
    const names = store.namesOf(record.id, refs);
    const digest = record.repoDigests[0]?.split('@')[1] ?? '<none>';
    if (!names.length) out.push({ repository: '<none>', tag: '<none>', digest, record });
    for (const n of names) {
      const ref = parseReference(n);
      const repo = familiarReference({ ...ref, tag: undefined, digest: undefined });
      out.push({ repository: repo, tag: ref.tag ?? '<none>', digest: ref.digest ?? digest, record });
    }
  }
  return out.sort((a, b) => (b.record.created ?? '').localeCompare(a.record.created ?? '') || a.repository.localeCompare(b.repository));
}

export async function imagesCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, IMAGES_FLAGS, 'images');
  if (flags.help) {
    process.stdout.write(`Usage: nook images [FLAGS]\n\nLists the images in the local store.\n\nFlags:\n${flagHelp(IMAGES_FLAGS)}\n`);
    return 0;
  }
  const format = (flags.format as string | undefined) ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`unknown format "${format}"`, 'use --format table or --format json');
  const store = ImageStore.open();
  const list = rows(store);
  if (flags.quiet) {
    process.stdout.write([...new Set(list.map((r) => r.record.id.slice(7, 19)))].map((id) => `${id}\n`).join(''));
    return 0;
  }
  if (format === 'json') {
    const refs = store.refs();
    const json = store.images().map((r) => ({
      Id: r.id,
      RepoTags: store.namesOf(r.id, refs).filter((n) => !n.includes('@')).map((n) => familiarReference(parseReference(n))),
      RepoDigests: r.repoDigests,
      Created: r.created ?? null,
      Size: imageSize(r),
      Platform: formatPlatform(r.platform),
      Layers: r.layers.length,
    }));
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    table([
      ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
      ...list.map((r) => [r.repository, r.tag, r.record.id.slice(7, 19), ago(r.record.created), formatBytes(imageSize(r.record))]),
    ]),
  );
  return 0;
}
