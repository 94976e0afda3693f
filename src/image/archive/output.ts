/**
 * Where `save` writes: a file, which appears only when the archive is
 * complete (written beside it under a temporary name, renamed at the end,
 * removed on failure), or standard output.
 */
import fs = require('node:fs');
import path = require('node:path');
import type { Writable } from 'node:stream';
import { NookError, describeErrno } from '../../errors';
import { randomHex } from '../../util/random';

export interface ArchiveOutput {
  stream: Writable;
  /** Makes the archive appear (a file) or flushes it (stdout). */
  commit(): Promise<void>;
  /** Removes what was written (a file); nothing to undo on stdout. */
  abort(): Promise<void>;
}

function openError(file: string, e: NodeJS.ErrnoException): NookError {
  const dir = path.dirname(file);
  if (e.code === 'ENOENT') return new NookError(`cannot write ${file}: the directory ${dir} does not exist`, { hint: 'create it first, or give another path with -o' });
  if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS')
    return new NookError(`cannot write ${file}: ${describeErrno(-(e.errno ?? 0))}`, { hint: 'give a path you can write to with -o' });
  return new NookError(`cannot write ${file}: ${e.message}`);
}

export function fileOutput(file: string): ArchiveOutput {
  const target = path.resolve(file);
  if (fs.statSync(target, { throwIfNoEntry: false })?.isDirectory())
    throw new NookError(`cannot write ${file}: it is a directory`, { hint: 'give a file name with -o, e.g. -o image.tar' });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomHex(4)}`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (e) {
    throw openError(target, e as NodeJS.ErrnoException);
  }
  // The stream owns the descriptor: it is flushed (fsync) and closed only once pending writes are done.
  const stream = fs.createWriteStream('', { fd, autoClose: true, flush: true, highWaterMark: 1 << 20 });
  const closed = new Promise<void>((resolve) => stream.once('close', resolve));
  return {
    stream,
    async commit() {
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      await closed;
      try {
        fs.renameSync(tmp, target);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw openError(target, e as NodeJS.ErrnoException);
      }
    },
    async abort() {
      stream.destroy();
      await closed;
      fs.rmSync(tmp, { force: true });
    },
  };
}

export function stdoutOutput(): ArchiveOutput {
  const stream = process.stdout;
  return {
    stream,
    commit: () => new Promise((resolve, reject) => stream.write(Buffer.alloc(0), (e) => (e ? reject(e) : resolve()))),
    abort: async () => undefined,
  };
}
