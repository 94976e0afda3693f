/**
 * A layer blob from a container's changes, written by the store helper (as
 * root of the user namespace, so owners read as the container saw them and
 * every file is readable): walk the source, write tar entries into a
 * LayerBlobWriter. The caller moves the blob into the store.
 */
import fs = require('node:fs');
import { NookError } from '../../errors';
import { LayerBlobWriter, type LayerBlob } from './blob-writer';
import { copyModeSelection } from './copy-diff';
import type { LayerSource } from './source';
import { encodeHeader, END_OF_ARCHIVE, padding, type LayerEntry } from './tar-entry';
import { MOUNT_STUBS } from './mount-stubs';
import { changedWhileReading, TreeWalker, type Selection } from './tree-walk';
import { unchangedUpperDirs } from './upper-prune';

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
    const unchanged = 'upper' in src && src.lowers ? unchangedUpperDirs(src.upper, src.lowers) : new Set<string>();
    const walker = new TreeWalker(
      { overlay: 'upper' in src, sourceDateEpoch: opts.sourceDateEpoch, skip: (rel) => MOUNT_STUBS.has(rel) || unchanged.has(rel) },
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
    throw readError(e);
  }
}

/** A failed file system call while reading the tree, as a NookError (a file deleted meanwhile, say). */
export function readError(e: unknown): unknown {
  if (e instanceof NookError || typeof (e as NodeJS.ErrnoException)?.code !== 'string') return e;
  return new NookError(`cannot read the container's changes: ${(e as Error).message}`, {
    hint: 'files changed while they were read: commit a stopped or paused container (without --pause=false)',
    cause: e,
  });
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
      await out.write(buf.subarray(0, n)); // copied by the writer
    }
    if (fs.readSync(fd, buf, 0, 1, null) !== 0) throw changedWhileReading(e.name);
    await out.write(padding(e.size));
  } finally {
    fs.closeSync(fd);
  }
}
