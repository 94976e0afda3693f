/**
 * `nook images [-a] [-q] [-f FILTER]... [--digests] [--no-trunc] [--noheading]
 * [--format table|json|TEMPLATE] [REPOSITORY[:TAG]]`, newest first.
 */
import { formatPlatform } from '../image/manifest';
import { familiarReference, parseReference } from '../image/reference';
import { requireImage } from '../image/store/lookup';
import { ImageStore, imageSize, type ImageRecord } from '../image/store/store';
import { NookError, UsageError } from '../errors';
import { parseArgs, flagHelp, stringList, type FlagSpec } from './args';
import { IMAGE_FILTER_KEYS, checkImageFilters, matchImage, parseFilters, type Filters, type TimeBounds } from './filters';
import { ago, formatBytes, goTime, parseFormat, renderTemplate, table } from './format';
import { withTemplateAliases } from './template-aliases';

const IMAGES_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print image ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'show whole image ids' },
  { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: '{{.Repository}}:{{.Tag}}'" },
  { name: 'all', short: 'a', type: 'boolean', help: 'all images (nook keeps no intermediate images: the same list)' },
  { name: 'filter', short: 'f', type: 'string', multiple: true, value: 'KEY=VALUE', help: `only images that match: ${IMAGE_FILTER_KEYS.join(', ')} (docker's filters; podman's after= is since=)` },
  { name: 'digests', type: 'boolean', help: 'add a DIGEST column' },
  { name: 'noheading', type: 'boolean', help: "no header row (podman's flag)" },
  { name: 'sort', type: 'string', value: 'KEY', help: "order by created (default), id, repository, size or tag (podman's flag)" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

interface Row {
  repository: string;
  tag: string;
  digest: string;
  record: ImageRecord;
}

function rows(store: ImageStore, filters: Filters, bounds: TimeBounds): Row[] {
  const refs = store.refs();
  const out: Row[] = [];
  const labels = new Map<string, Record<string, string> | undefined>();
  const labelsOf = (r: ImageRecord) => {
    if (!filters.has('label')) return undefined;
    if (!labels.has(r.id)) labels.set(r.id, store.config(r).config?.Labels ?? undefined);
    return labels.get(r.id);
  };
  const keep = (row: Row) =>
    matchImage(filters, { repository: row.repository, tag: row.tag, dangling: row.repository === '<none>', labels: labelsOf(row.record), created: row.record.created }, bounds);
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
  return out.filter(keep).sort((a, b) => (b.record.created ?? '').localeCompare(a.record.created ?? '') || a.repository.localeCompare(b.repository));
}

/** docker images's template fields, and their column titles. */
const HEADERS: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE',
  Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE',
};

function templateRow(store: ImageStore, r: Row, full: boolean, now: number, refs: Record<string, string>): Record<string, unknown> {
  const size = formatBytes(imageSize(r.record));
  const row = {
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
  // podman's fields, for templates only ({{json .}} keeps docker's); read when a template asks.
  // Its Names and History are full names ("docker.io/library/debian:12"), as podman prints them.
  const names = () => store.namesOf(r.record.id, refs).filter((n) => !n.includes('@'));
  return withTemplateAliases(row, {
    Labels: () => store.config(r.record).config?.Labels ?? {},
    Names: names,
    RepoTags: () => names().map((n) => familiarReference(parseReference(n))),
    RepoDigests: r.record.repoDigests,
    History: () => store.namesHistory(r.record.id).join(', '),
    Dangling: r.repository === '<none>',
    ReadOnly: false,
    IsReadOnly: false,
  });
}

/** podman's --sort keys; ties keep the newest first. */
const SORT_KEYS: Record<string, (a: Row, b: Row) => number> = {
  created: () => 0,
  id: (a, b) => a.record.id.localeCompare(b.record.id),
  repository: (a, b) => a.repository.localeCompare(b.repository),
  tag: (a, b) => a.tag.localeCompare(b.tag),
  size: (a, b) => imageSize(b.record) - imageSize(a.record),
};

/** before=/since=: the created time of the image each names. */
function timeBounds(f: Filters, store: ImageStore): TimeBounds {
  const at = (key: string) => {
    const v = f.get(key);
    if (!v) return undefined;
    if (v.length > 1) throw new NookError(`filter '${key}' was given ${v.length} times`, { exitCode: 1, hint: 'give it once' });
    return requireImage(store, v[0]).record.created ?? '0001-01-01T00:00:00Z';
  };
  return { before: at('before'), since: at('since') };
}

export async function imagesCommand(argv: string[]): Promise<number> {
  // minimist reads --no-X as X=false: take docker's --no-trunc off before parsing.
  const noTrunc = argv.includes('--no-trunc');
  const { flags, positionals } = parseArgs(argv.filter((a) => a !== '--no-trunc'), IMAGES_FLAGS, 'images', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook images [FLAGS] [REPOSITORY[:TAG]]\n\nLists the images in the local store, newest first.\n\nFlags:\n${flagHelp(IMAGES_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError('nook images takes at most one REPOSITORY[:TAG]', 'e.g. nook images busybox');
  const format = parseFormat(flags.format as string | undefined);
  // podman's after= is docker's since=.
  const filterValues = stringList(flags.filter).map((f) => (f.startsWith('after=') ? `since=${f.slice(6)}` : f));
  // docker: `images NAME` is --filter reference=NAME.
  if (positionals[0] !== undefined) filterValues.push(`reference=${positionals[0]}`);
  const filters = parseFilters(filterValues, IMAGE_FILTER_KEYS, 'images');
  checkImageFilters(filters);
  const store = ImageStore.open();
  const sort = flags.sort as string | undefined;
  if (sort !== undefined && !SORT_KEYS[sort]) throw new UsageError(`unknown --sort "${sort}"`, `one of: ${Object.keys(SORT_KEYS).join(', ')}`);
  const list = rows(store, filters, timeBounds(filters, store));
  if (sort) list.sort(SORT_KEYS[sort]); // a stable sort: the newest first among equals
  if (flags.quiet) {
    process.stdout.write([...new Set(list.map((r) => (noTrunc ? r.record.id : r.record.id.slice(7, 19))))].map((id) => `${id}\n`).join(''));
    return 0;
  }
  if (format.kind === 'template') {
    const now = Date.now();
    const refs = store.refs();
    let out = await renderTemplate(format, list.map((r) => templateRow(store, r, noTrunc, now, refs)), { headers: HEADERS });
    if (flags.noheading && format.table) out = out.slice(out.indexOf('\n') + 1);
    process.stdout.write(out);
    return 0;
  }
  if (format.kind === 'json') {
    const refs = store.refs();
    const listed = new Set(list.map((r) => r.record.id));
    const json = store.images().filter((r) => listed.has(r.id)).map((r) => {
      const tags = store.namesOf(r.id, refs).filter((n) => !n.includes('@'));
      return {
        Id: r.id,
        RepoTags: tags.map((n) => familiarReference(parseReference(n))),
        RepoDigests: r.repoDigests,
        Created: r.created ?? null,
        Size: imageSize(r),
        Platform: formatPlatform(r.platform),
        Layers: r.layers.length,
        // podman's keys: full names, the manifest digest, the labels.
        Names: tags,
        Digest: r.manifestDigest,
        CreatedAt: r.created ?? null,
        Labels: store.config(r).config?.Labels ?? null,
      };
    });
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  const digests = Boolean(flags.digests);
  let out = table([
    ['REPOSITORY', 'TAG', ...(digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'],
    ...list.map((r) => [
      r.repository, r.tag, ...(digests ? [r.digest] : []), noTrunc ? r.record.id : r.record.id.slice(7, 19), ago(r.record.created), formatBytes(imageSize(r.record)),
    ]),
  ]);
  if (flags.noheading) out = out.slice(out.indexOf('\n') + 1);
  process.stdout.write(out);
  return 0;
}
