/**
 * Content-addressed blobs: blobs/sha256/<hex> under the store root. A blob is
 * written to a temporary file of its own, hashed and counted on the way, and
 * renamed into place only when its size and digest are right, so a reader
 * never sees a partial or corrupt blob and concurrent writers of the same
 * blob both succeed (the last rename replaces identical content).
 *
 * Downloads that may be interrupted use `openPartial` instead: one partial
 * file per blob, blobs/partial/<hex>, that survives the process (a killed
 * pull resumes where it stopped) and that one writer at a time owns, under a
 * lock on blobs/partial/<hex>.lock; others wait, then find the blob done.
 */
import fs = require('node:fs');
import path = require('node:path');
import type { Hash } from 'node:crypto';

/** node:crypto costs milliseconds to load; only writers of blobs need it, so it is loaded on first use. */
function createHash(algorithm: string): Hash {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:crypto') as typeof import('node:crypto')).createHash(algorithm);
}
import { Writable } from 'node:stream';
import { NookError } from '../errors';
import { FileLock } from '../util/lock';
import { randomHex } from '../util/random';

const SHA256 = /^sha256:([a-f0-9]{64})$/;

function hexOf(digest: string): string {
  const m = SHA256.exec(digest);
  if (!m) throw new NookError(`unsupported digest "${digest}"`, { hint: 'nook stores sha256 digests only' });
  return m[1];
}

export class BlobStore {
  constructor(readonly root: string) {}

  path(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', hexOf(digest));
  }

  has(digest: string): boolean {
    return fs.existsSync(this.path(digest));
  }

  /** Where an interrupted download of `digest` keeps the bytes it has. */
  partialPath(digest: string): string {
    return path.join(this.root, 'blobs', 'partial', hexOf(digest));
  }

  partialLockPath(digest: string): string {
    return `${this.partialPath(digest)}.lock`;
  }

  /**
   * Exclusive ownership of the blob's partial download, with the bytes a
   * previous (perhaps killed) writer left already hashed; undefined when the
   * blob is complete, or has become complete while we waited for another
   * writer. `origin` ("from registry.example") goes into error messages.
   *
   * The lock is polled rather than waited for in a blocking flock(): a
   * blocked flock() holds one of libuv's four pool threads, and enough of
   * them (parallel layer downloads waiting on another nook) would stall the
   * DNS lookups and file I/O that the downloads themselves need.
   */
  async openPartial(digest: string, size: number, opts: { origin?: string } = {}): Promise<PartialBlob | undefined> {
    const lockFile = this.partialLockPath(digest);
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      if (this.has(digest)) return undefined;
      const lock = FileLock.tryAcquire(lockFile);
      if (lock) {
        try {
          if (this.has(digest)) {
            dropPartialFiles(this.partialPath(digest), lock);
            return undefined;
          }
          return new PartialBlob(this, digest, size, lock, opts.origin);
        } catch (e) {
          lock.release();
          throw e;
        }
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /**
   * A stream that stores exactly `size` bytes with digest `digest`. It fails
   * (and leaves nothing) when the content is longer, shorter or different.
   */
  writer(digest: string, size: number): Writable {
    const final = this.path(digest);
    const tmpDir = path.join(this.root, 'blobs', 'tmp');
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.mkdirSync(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, `${hexOf(digest)}.${process.pid}.${randomHex(4)}`);
    const fd = fs.openSync(tmp, 'wx', 0o644);
    const hash: Hash = createHash('sha256');
    let written = 0;
    const discard = () => {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    };
    return new Writable({
      write(chunk: Buffer, _enc, done) {
        written += chunk.length;
        if (written > size) return done(new NookError(`blob ${digest} is larger than the ${size} bytes announced`));
        hash.update(chunk);
        fs.write(fd, chunk, 0, chunk.length, null, (err) => done(err));
      },
      final(done) {
        try {
          const actual = `sha256:${hash.digest('hex')}`;
          if (written !== size) throw new NookError(`blob ${digest} has ${written} bytes, ${size} were announced`);
          if (actual !== digest) throw new NookError(`blob ${digest} is corrupt: its content hashes to ${actual}`);
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          fs.renameSync(tmp, final);
          done();
        } catch (e) {
          discard();
          done(e as Error);
        }
      },
      destroy(err, done) {
        // Failed or aborted before final(): drop the temporary file.
        if (fs.existsSync(tmp)) discard();
        done(err);
      },
    });
  }
}

/** A blob whose content does not match its digest or size. */
export class BlobCorruptError extends NookError {
  constructor(message: string) {
    super(message, { hint: 'try again; if it persists, the copy on the registry (or a proxy in between) is damaged' });
    this.name = 'BlobCorruptError';
  }
}

/**
 * Removes the partial file and the lock file of a blob that is complete.
 * Unlinking a lock file others may have open is safe here: whoever gets a
 * lock on it (or on a new one) next checks for the blob first, and finds it.
 */
function dropPartialFiles(partial: string, lock: FileLock): void {
  fs.rmSync(partial, { force: true });
  fs.rmSync(lock.path, { force: true });
  lock.release();
}

/**
 * The partial download of one blob, owned under its lock: bytes are appended
 * in order and hashed as they are written, so that `offset` is always both
 * the file's length and what the hash has seen, and a resumed download asks
 * for `bytes=<offset>-`.
 */
export class PartialBlob {
  private readonly file: string;
  private fd: number;
  private hash: Hash = createHash('sha256');
  private committed = false;
  /** The digest, and where it comes from, for messages. */
  private readonly label: string;
  /** Bytes present (and hashed). */
  offset = 0;

  constructor(
    private readonly store: BlobStore,
    readonly digest: string,
    readonly size: number,
    private readonly lock: FileLock,
    origin?: string,
  ) {
    this.label = origin ? `${digest} ${origin}` : digest;
    this.file = store.partialPath(digest);
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    const have = fs.fstatSync(this.fd).size;
    if (have > size) fs.ftruncateSync(this.fd, 0);
    else this.hashExisting(have);
  }

  /** Hashes what an earlier writer left (synchronously: it is done once per resume, at disk speed). */
  private hashExisting(length: number): void {
    const buf = Buffer.allocUnsafe(1 << 20);
    while (this.offset < length) {
      const n = fs.readSync(this.fd, buf, 0, Math.min(buf.length, length - this.offset), this.offset);
      if (n === 0) break;
      this.hash.update(buf.subarray(0, n));
      this.offset += n;
    }
    if (this.offset < length) fs.ftruncateSync(this.fd, this.offset);
  }

  get complete(): boolean {
    return this.offset === this.size;
  }

  /**
   * Appends the next bytes. Written synchronously: a chunk goes to the page
   * cache in microseconds, and the hash must only see bytes that are in the
   * file, or a resume would hash a different prefix than it fetches after.
   */
  append(chunk: Buffer): void {
    if (this.offset + chunk.length > this.size) throw new BlobCorruptError(`blob ${this.label} is larger than the ${this.size} bytes announced`);
    let done = 0;
    while (done < chunk.length) done += fs.writeSync(this.fd, chunk, done, chunk.length - done, this.offset + done);
    this.hash.update(chunk);
    this.offset += chunk.length;
  }

  /** Drops the bytes so far: the server ignored our Range, or the content was corrupt. */
  reset(): void {
    fs.ftruncateSync(this.fd, 0);
    this.hash = createHash('sha256');
    this.offset = 0;
  }

  /**
   * Verifies size and digest, then moves the file into blobs/sha256/ (after
   * fsync, so that a crash cannot leave a verified name on unwritten data).
   * A digest mismatch empties the partial and throws BlobCorruptError.
   */
  commit(): void {
    if (this.offset !== this.size) throw new NookError(`blob ${this.label} has ${this.offset} bytes, ${this.size} were announced`);
    const actual = `sha256:${this.hash.copy().digest('hex')}`;
    if (actual !== this.digest) {
      this.reset();
      throw new BlobCorruptError(`blob ${this.label} is corrupt: its content hashes to ${actual}`);
    }
    const final = this.store.path(this.digest);
    fs.fsyncSync(this.fd);
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.renameSync(this.file, final);
    this.committed = true;
    const dir = fs.openSync(path.dirname(final), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  }

  /** Closes the file and gives up the lock; the partial stays for a later resume unless committed. */
  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
    if (this.committed) dropPartialFiles(this.file, this.lock);
    else this.lock.release();
  }
}
