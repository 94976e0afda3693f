/**
 * Finding an image in the store by what a user types: a name ("debian:12",
 * normalised as docker does), a name with a digest, or an image id (full,
 * "sha256:"-prefixed, or a unique prefix of at least 4 hex digits).
 */
import { NookError } from '../../errors';
import { formatReference, parseReference } from '../reference';
import type { ImageRecord, ImageStore } from './store';

export interface Found {
  record: ImageRecord;
  /** The name it was found by; undefined when found by id. */
  name?: string;
}

function byId(store: ImageStore, input: string): ImageRecord | undefined {
  const m = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(input);
  if (!m) return undefined;
  const matches = store.images().filter((r) => r.id.slice(7).startsWith(m[1]));
  if (matches.length > 1)
    throw new NookError(`image id prefix "${input}" is ambiguous: it matches ${matches.length} images`, { hint: 'give more digits of the id' });
  return matches[0];
}

export function findImage(store: ImageStore, input: string): Found | undefined {
  const refs = store.refs();
  let name: string | undefined;
  try {
    name = formatReference(parseReference(input));
  } catch (e) {
    // Not a valid name: only an id can match.
    const rec = byId(store, input);
    if (rec) return { record: rec };
    throw e;
  }
  const id = refs[name];
  if (id) {
    const record = store.image(id);
    if (record) return { record, name };
  }
  // A digest reference also matches an image pulled by tag whose repo digest it is.
  const ref = parseReference(input);
  if (ref.digest) {
    const repoDigest = `${ref.registry}/${ref.repository}@${ref.digest}`;
    const rec = store.images().find((r) => r.repoDigests.includes(repoDigest));
    if (rec) return { record: rec, name };
  }
  const rec = byId(store, input);
  return rec ? { record: rec } : undefined;
}

export function requireImage(store: ImageStore, input: string): Found {
  const found = findImage(store, input);
  // docker's wording, which scripts match on.
  if (!found) throw new NookError(`No such image: ${input}`, { hint: `pull it first: nook pull ${input}` });
  return found;
}
