/**
 * podman's transports for `run` and `create`: docker-archive:FILE and
 * oci-archive:FILE load the archive's image into the store (as `nook load`
 * would) and the container runs that image, under the archive's first name
 * (or its id when it has none).
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import type { Found } from '../image/store/lookup';
import type { ImageStore } from '../image/store/store';

export const ARCHIVE_TRANSPORT = /^(docker-archive|oci-archive):(.+)$/;

export async function loadForRun(store: ImageStore, ref: string): Promise<Found> {
  const file = ARCHIVE_TRANSPORT.exec(ref)![2];
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new NookError(`${ref}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { hint: 'give the path of an archive that nook save, docker save or podman save wrote' });
  }
  if (!st.isFile()) throw new NookError(`${ref}: ${file} is not a file`, { hint: 'give the tar file itself' });
  const [{ loadArchive }, { familiarName }] = await Promise.all([import('../image/archive/load'), import('../image/archive/names')]);
  const loaded = await loadArchive(store, fs.createReadStream(file, { highWaterMark: 1 << 20 }), file, { size: st.size });
  if (!loaded.length) throw new NookError(`${ref}: the archive holds no image`);
  if (loaded.length > 1) throw new NookError(`${ref}: the archive holds ${loaded.length} images; run takes one`, { hint: `load them with nook load -i ${file}, then run one by name` });
  const [{ record, names }] = loaded;
  const name = names.length ? familiarName(names[0]) : record.id;
  fs.writeSync(2, `Loaded image: ${name}\n`);
  return { record, name };
}
