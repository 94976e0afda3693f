/**
 * Content-addressed blobs: blobs/sha256/<hex> under the store root. A blob is
 * written to a temporary file of its own, hashed and counted on the way, and
 * renamed into place only when its size and digest are right, so a reader
 * never sees a partial or corrupt blob and concurrent writers of the same
 * blob both succeed (the last rename replaces identical content).
 */
import fs = require('node:fs');
import path = require('node:path');
import { createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import { NookError } from '../errors';
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
