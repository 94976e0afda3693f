/**
 * Image names inside archives. Archives carry them in docker's short form
 * ("debian:12" in manifest.json) or in full (OCI annotations); the store
 * keeps the full form, and messages show the short one, as docker does.
 */
import { NookError } from '../../errors';
import { familiarReference, formatReference, parseReference, type Reference } from '../reference';

/** `name`, found in `where`, in the store's form: "debian:12" → "docker.io/library/debian:12". */
export function normalizeName(name: string, where: string): string {
  try {
    return formatReference(parseReference(name));
  } catch (e) {
    throw new NookError(`${where} names the image ${JSON.stringify(name)}, which is not a valid image name: ${(e as Error).message}`, {
      hint: 'fix the name in the archive, or save the image again under a valid name',
    });
  }
}

/** "docker.io/library/debian:12" → "debian:12". */
export function familiarName(name: string): string {
  return familiarReference(parseReference(name));
}

/** The parts docker's manifest.json and repositories file use: familiar repository name and tag. */
export function repoAndTag(name: string): { ref: Reference; repo: string; tag: string } | undefined {
  const ref = parseReference(name);
  if (!ref.tag || ref.digest) return undefined;
  return { ref, repo: familiarReference({ ...ref, tag: undefined }), tag: ref.tag };
}
