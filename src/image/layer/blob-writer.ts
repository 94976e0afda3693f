/**
 * The bytes of a layer tar in, a gzip blob out: the tar is hashed on the way
 * (its sha256 is the diff_id), compressed with fixed settings (the same tar
 * gives the same blob, so the same digest, every time) and the compressed
 * bytes hashed and written to `outPath`.
 */
import fs = require('node:fs');
import zlib = require('node:zlib');
import { createHash } from 'node:crypto';

/** zlib's default level: what docker and buildah use for layers. Never varies: the digest depends on it. */
const GZIP_LEVEL = 6;

export interface LayerBlob {
  /** sha256 of the compressed blob. */
  digest: string;
  /** Compressed size. */
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Uncompressed size. */
  tarSize: number;
}

export class LayerBlobWriter {
  private readonly gzip: zlib.Gzip;
  private readonly tarHash = createHash('sha256');
  private readonly blobHash = createHash('sha256');
  private readonly fd: number;
  private tarSize = 0;
  private size = 0;
  private error?: Error;

  constructor(readonly outPath: string) {
    this.fd = fs.openSync(outPath, 'wx', 0o644);
    // No file name or time in the gzip header: Node writes mtime 0 and OS "unix".
    this.gzip = zlib.createGzip({ level: GZIP_LEVEL, chunkSize: 256 << 10 });
    this.gzip.on('data', (chunk: Buffer) => {
      if (this.error) return;
      try {
        this.blobHash.update(chunk);
        for (let off = 0; off < chunk.length; ) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
        this.size += chunk.length;
      } catch (e) {
        this.error = e as Error;
      }
    });
    this.gzip.on('error', (e) => (this.error ??= e));
  }

  /** Adds tar bytes; resolves when zlib can take more. */
  write(buf: Buffer): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (buf.length === 0) return Promise.resolve();
    this.tarHash.update(buf);
    this.tarSize += buf.length;
    if (this.gzip.write(buf)) return Promise.resolve();
    return new Promise((resolve) => this.gzip.once('drain', resolve));
  }

  /** Flushes everything; the blob file is complete (and synced) when this resolves. */
  async finish(): Promise<LayerBlob> {
    await new Promise<void>((resolve, reject) => {
      this.gzip.once('end', resolve);
      this.gzip.once('error', reject);
      this.gzip.end();
      this.gzip.resume();
    });
    if (this.error) throw this.error;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    return {
      digest: `sha256:${this.blobHash.digest('hex')}`,
      size: this.size,
      diffId: `sha256:${this.tarHash.digest('hex')}`,
      tarSize: this.tarSize,
    };
  }

  /** Gives up: closes and deletes the partial blob. */
  abort(): void {
    this.gzip.destroy();
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed by finish() */
    }
    fs.rmSync(this.outPath, { force: true });
  }
}
