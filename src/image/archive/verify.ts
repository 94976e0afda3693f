/**
 * The checks every file of an archive passes before it may enter the store:
 * a blob must be what its descriptor says (digest and size), and a layer
 * must decompress to a tar whose sha256 is the diff_id the image config
 * gives it. Layers are stored under their diff_id and shared between
 * images, so a layer that lied about it would end up in other images too.
 */
import { NookError } from '../../errors';
import type { Descriptor } from '../manifest';
import type { Ingested } from './ingest';

const DAMAGED = 'the archive is damaged or was altered after it was saved; save it again from a source you trust';

/** `file` (the archive's `name`) must match `desc`. */
export function verifyBlob(file: Ingested, desc: Pick<Descriptor, 'digest' | 'size'>, name: string, what: string): void {
  if (file.digest !== desc.digest)
    throw new NookError(`${name} in ${what} is corrupt: its content hashes to ${file.digest}, not ${desc.digest}`, { hint: DAMAGED });
  if (file.size !== desc.size)
    throw new NookError(`${name} in ${what} has ${file.size} bytes, its descriptor says ${desc.size}`, { hint: DAMAGED });
}

/** `file` (the archive's `name`), layer `index` of `image`, must be a tar with diff_id `diffId`. */
export function verifyLayer(file: Ingested, diffId: string, name: string, index: number, image: string, what: string): void {
  const which = `layer ${index + 1} of ${image} (${name} in ${what})`;
  if (typeof file.compression !== 'string')
    throw new NookError(`${which} is compressed with ${file.compression.unsupported}, which nook does not read`, {
      hint: 'layers must be plain tar, gzip or zstd; save the image again',
    });
  if (file.uncompressedDigest === undefined)
    throw new NookError(`${which} cannot be decompressed: ${file.decompressError ?? 'unknown error'}`, { hint: DAMAGED });
  if (file.uncompressedDigest !== diffId)
    throw new NookError(`${which} does not match the image configuration: its content hashes to ${file.uncompressedDigest}, the configuration expects ${diffId}`, {
      hint: DAMAGED,
    });
  if (!file.looksLikeTar) throw new NookError(`${which} is not a tar archive`, { hint: DAMAGED });
}
