/**
 * `save`: images of the store → one archive, docker-archive or OCI layout.
 * Which images and under which names follows docker: a name saves that
 * name, a repository without a tag saves all its tags, an id saves the
 * image without a name.
 */
import type { Writable } from 'node:stream';
import { UsageError } from '../../errors';
import { parseReference } from '../reference';
import { requireImage } from '../store/lookup';
import type { ImageStore } from '../store/store';
import { writeDockerArchive } from './docker-archive';
import { writeOciArchive, type SaveItem } from './oci-layout';
import { TarWriter } from './tar-writer';

export type ArchiveFormat = 'docker-archive' | 'oci-archive';

const FORMATS: Record<string, ArchiveFormat> = {
  'docker-archive': 'docker-archive',
  docker: 'docker-archive',
  'oci-archive': 'oci-archive',
  oci: 'oci-archive',
};

export function parseFormat(s: string): ArchiveFormat {
  const f = FORMATS[s];
  if (!f) throw new UsageError(`unknown archive format "${s}"`, 'use --format docker-archive (docker save, the default) or --format oci-archive (an OCI layout)');
  return f;
}

/** "debian" (no tag, no digest): docker saves every tag of the repository. */
function repositoryTags(store: ImageStore, input: string, refs: Record<string, string>): string[] {
  if (input.includes('@') || /:[^/]*$/.test(input)) return [];
  let prefix: string;
  try {
    const ref = parseReference(input);
    prefix = `${ref.registry}/${ref.repository}:`;
  } catch {
    return [];
  }
  return Object.keys(refs).filter((n) => n.startsWith(prefix) && !n.includes('@') && store.image(refs[n]));
}

/** The images `inputs` name, each once, with the names to save it under. */
export function resolveImages(store: ImageStore, inputs: string[]): SaveItem[] {
  const refs = store.refs();
  const items = new Map<string, SaveItem>();
  const add = (id: string, name?: string) => {
    const item = items.get(id) ?? { record: store.image(id)!, names: [] };
    if (name && !name.includes('@') && !item.names.includes(name)) item.names.push(name);
    items.set(id, item);
  };
  for (const input of inputs) {
    const tags = repositoryTags(store, input, refs);
    if (tags.length) {
      for (const t of tags.sort()) add(refs[t], t);
      continue;
    }
    const { record, name } = requireImage(store, input);
    add(record.id, name);
  }
  return [...items.values()];
}

/** Writes `items` to `out` in `format`, holding the store lock so no blob goes away meanwhile. */
export async function saveImages(store: ImageStore, items: SaveItem[], format: ArchiveFormat, out: Writable, opts: { uncompressed?: boolean } = {}): Promise<void> {
  const lock = await store.lockShared();
  try {
    const tar = new TarWriter(out);
    if (format === 'docker-archive') await writeDockerArchive(store, items, tar);
    else await writeOciArchive(store, items, tar, opts);
    await tar.finish();
  } finally {
    lock.release();
  }
}
