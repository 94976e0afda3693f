/**
 * Compression of layer blobs and archives, as far as archives need it:
 * a decompressor for the kinds nook reads, and the OCI media type that
 * names a layer blob's kind. The kind always comes from the first bytes
 * (detectCompression), never from a file name or a media type.
 */
import zlib = require('node:zlib');
import type { Transform } from 'node:stream';
import { NookError } from '../../errors';
import type { Compression } from '../unpack/decompress';

export { detectCompression, type Compression } from '../unpack/decompress';

/** Output chunks of a quarter megabyte: fewer callbacks per layer. */
const OUT_CHUNK = 256 << 10;

/** A stream that decompresses `kind`; `what` names the data in the error when Node cannot. */
export function decompressor(kind: Exclude<Compression, 'none'>, what: string): Transform {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: OUT_CHUNK });
  // Node 22.15/23.8 and later; nook's executable bundles Node 24.
  const create = (zlib as { createZstdDecompress?: (o: zlib.ZstdOptions) => Transform }).createZstdDecompress;
  if (!create)
    throw new NookError(`${what} is compressed with zstd, which this Node.js (${process.version}) cannot decompress`, {
      hint: 'run nook as its single executable (it includes Node.js 24), or use Node.js 22.15 or later',
    });
  return create({ chunkSize: OUT_CHUNK });
}

const LAYER_TYPES: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** The OCI media type of a layer blob compressed with `kind`. */
export function layerMediaType(kind: Compression): string {
  return LAYER_TYPES[kind];
}
