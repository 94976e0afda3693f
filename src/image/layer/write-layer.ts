/**
 * A layer blob from a container's changes, written by the store helper (as
 * root of the user namespace, so owners read as the container saw them and
 * every file is readable): walk the source, write tar entries into a
 * LayerBlobWriter. The caller moves the blob into the store.
 */
import fs = require('node:fs');
import { LayerBlobWriter, type LayerBlob } from './blob-writer';
import { copyModeSelection } from './copy-diff';
import type { LayerSource } from './source';
import { encodeHeader, END_OF_ARCHIVE, padding, type LayerEntry } from './tar-entry';
import { changedWhileReading, TreeWalker, type Selection } from './tree-walk';

export interface WrittenLayer extends LayerBlob {
  /** Tar entries written (0: nothing changed). */
  entries: number;
}

const CHUNK = 1 << 20;

export interface WriteLayerOptions {
  sourceDateEpoch?: number;
  /** Checked between entries. */
  signal?: AbortSignal;
}

/** Writes the layer of `src` as a gzip blob to `outPath` (which must not exist). */
export async function writeLayerBlob(src: LayerSource, outPath: string, opts: WriteLayerOptions = {}): Promise<WrittenLayer> {
  const out = new LayerBlobWriter(outPath);
  try {
    const root = 'upper' in src ? src.upper : src.rootfs;
    const selection: Selection = 'upper' in src ? 'all' : copyModeSelection(src.rootfs, src.lowers);
    const buf = Buffer.allocUnsafe(CHUNK);
    const walker = new TreeWalker(
      { overlay: 'upper' in src, sourceDateEpoch: opts.sourceDateEpoch },
      {
        entry: async (e: LayerEntry, open?: () => number) => {
          opts.signal?.throwIfAborted();
          await out.write(encodeHeader(e));
          if (open) await copyContent(out, open, e, buf);
        },
      },
    );
    await walker.walk(root, selection);
    await out.write(END_OF_ARCHIVE);
    const blob = await out.finish();
    return { ...blob, entries: walker.entries };
  } catch (e) {
    out.abort();
    throw e;
  }
}

/** Exactly `e.size` bytes of the file: a file that grew or shrank since it was listed would corrupt the tar. */
async function copyContent(out: LayerBlobWriter, open: () => number, e: LayerEntry, buf: Buffer): Promise<void> {
  const fd = open();
  try {
    let done = 0;
    while (done < e.size) {
      const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, e.size - done), null);
      if (n === 0) throw changedWhileReading(e.name);
      done += n;
      // A copy: the buffer is reused while zlib may still hold the previous chunk.
      await out.write(Buffer.from(buf.subarray(0, n)));
    }
    if (fs.readSync(fd, buf, 0, 1, null) !== 0) throw changedWhileReading(e.name);
    await out.write(padding(e.size));
  } finally {
    fs.closeSync(fd);
  }
}
