/**
 * `nook images [-q] [--no-trunc] [--format table|json|TEMPLATE]`.
 */
import { formatPlatform } from '../image/manifest';
import { familiarReference, parseReference } from '../image/reference';
import { ImageStore, imageSize, type ImageRecord } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { ago, formatBytes, goTime, parseFormat, renderTemplate, table } from './format';

const IMAGES_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print image ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'show whole image ids' },
  { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: '{{.Repository}}:{{.Tag}}'" },
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

/** docker images's template fields, and their column titles. */
const HEADERS: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE',
  Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE',
};

function templateRow(r: Row, full: boolean, now: number): Record<string, unknown> {
  const size = formatBytes(imageSize(r.record));
  return {
    ID: full ? r.record.id : r.record.id.slice(7, 19),
    Repository: r.repository,
    Tag: r.tag,
    Digest: r.digest,
    CreatedSince: ago(r.record.created, now),
    CreatedAt: goTime(r.record.created),
    Size: size,
    Containers: 'N/A',
    SharedSize: 'N/A',
    UniqueSize: 'N/A',
    VirtualSize: size,
  };
}

export async function imagesCommand(argv: string[]): Promise<number> {
  // minimist reads --no-X as X=false: take docker's --no-trunc off before parsing.
  const noTrunc = argv.includes('--no-trunc');
  const { flags } = parseArgs(argv.filter((a) => a !== '--no-trunc'), IMAGES_FLAGS, 'images');
  if (flags.help) {
    process.stdout.write(`Usage: nook images [FLAGS]\n\nLists the images in the local store.\n\nFlags:\n${flagHelp(IMAGES_FLAGS)}\n`);
    return 0;
  }
  const format = parseFormat(flags.format as string | undefined);
  const store = ImageStore.open();
  const list = rows(store);
  if (flags.quiet) {
    process.stdout.write([...new Set(list.map((r) => (noTrunc ? r.record.id : r.record.id.slice(7, 19))))].map((id) => `${id}\n`).join(''));
    return 0;
  }
  if (format.kind === 'template') {
    const now = Date.now();
    process.stdout.write(await renderTemplate(format, list.map((r) => templateRow(r, noTrunc, now)), { headers: HEADERS }));
    return 0;
  }
  if (format.kind === 'json') {
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
      ...list.map((r) => [r.repository, r.tag, noTrunc ? r.record.id : r.record.id.slice(7, 19), ago(r.record.created), formatBytes(imageSize(r.record))]),
    ]),
  );
  return 0;
}
