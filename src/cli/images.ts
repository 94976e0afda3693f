/**
 * `nook images [-q] [--format json]` and `nook inspect IMAGE...`.
 */
import fs = require('node:fs');
import { UsageError } from '../errors';
import { formatPlatform } from '../image/manifest';
import { familiarReference, parseReference } from '../image/reference';
import { requireImage } from '../image/store/lookup';
import { ImageStore, type ImageRecord } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { formatBytes } from './progress';

const IMAGES_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print image ids only' },
  { name: 'format', type: 'string', value: 'table|json', help: 'output format (default table)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function imageSize(r: ImageRecord): number {
  return r.layers.reduce((sum, l) => sum + l.size, 0);
}

export function ago(iso: string | undefined, now = Date.now()): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: [number, string][] = [[31536000, 'year'], [2592000, 'month'], [604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [secs, unit] of steps) if (s >= secs) return `${Math.floor(s / secs)} ${unit}${Math.floor(s / secs) > 1 ? 's' : ''} ago`;
  return s < 2 ? 'Less than a second ago' : `${s} seconds ago`;
}

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

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)) + 3);
  return [header, ...body].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('').trimEnd()).join('\n') + '\n';
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
    table(
      ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
      list.map((r) => [r.repository, r.tag, r.record.id.slice(7, 19), ago(r.record.created), formatBytes(imageSize(r.record))]),
    ),
  );
  return 0;
}

/** Containers are looked up first, as docker does; a name that is no container is taken for an image. */
async function containerLookup(): Promise<(ref: string) => Record<string, unknown> | undefined> {
  const [{ ContainerStore }, { inspectContainer }] = await Promise.all([import('../container/state'), import('./ps')]);
  const containers = ContainerStore.open();
  return (ref) => {
    let dir;
    try {
      dir = containers.resolve(ref);
    } catch {
      return undefined; // no such container: maybe an image
    }
    // A container that cannot be read (a record from another nook) says so, rather than "no such image".
    return inspectContainer(dir);
  };
}

export async function inspectCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, [{ name: 'help', type: 'boolean', help: 'show this help' }], 'inspect');
  if (flags.help || !positionals.length) {
    if (!positionals.length && !flags.help) throw new UsageError('nook inspect needs at least one container or image', 'e.g. nook inspect debian:12');
    process.stdout.write('Usage: nook inspect CONTAINER|IMAGE...\n\nPrints a container\'s state, config and mounts, or an image\'s record, OCI config and manifest, as JSON.\n');
    return 0;
  }
  const store = ImageStore.open();
  const refs = store.refs();
  const containers = await containerLookup();
  const out = positionals.map((p) => {
    const container = containers(p);
    if (container) return container;
    const { record } = requireImage(store, p);
    return {
      Id: record.id,
      RepoTags: store.namesOf(record.id, refs).filter((n) => !n.includes('@')).map((n) => familiarReference(parseReference(n))),
      RepoDigests: record.repoDigests,
      Created: record.created ?? null,
      Platform: record.platform,
      Size: imageSize(record),
      ManifestDigest: record.manifestDigest,
      IndexDigest: record.indexDigest ?? null,
      Config: store.config(record),
      Manifest: JSON.parse(fs.readFileSync(store.blobs.path(record.manifestDigest), 'utf8')),
    };
  });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}
