/**
 * The bytes of a layer tar in, a gzip blob out: the tar is hashed on the way
 * (its sha256 is the diff_id), compressed with fixed settings (the same tar
 * gives the same blob, so the same digest, every time) and the compressed
 * bytes hashed and written to `outPath`.
 *
 * Compression is most of the cost of a layer, and zlib compresses one
 * stream on one thread. So the tar is cut into members of exactly 1 MiB,
 * compressed side by side on libuv's thread pool and written in order: a
 * gzip file may hold several members (RFC 1952 2.2), which every reader of
 * layers decompresses as one stream (Go's compress/gzip, pigz, GNU gzip,
 * Node's zlib). The cut depends on the byte count only, never on timing or
 * on how many threads there are, so the blob stays reproducible; starting a
 * new member every MiB costs a fraction of a percent in size.
 */
import fs = require('node:fs');
import os = require('node:os');
import zlib = require('node:zlib');
import { createHash } from 'node:crypto';

/** zlib's default level: what docker and buildah use for layers. Never varies: the digest depends on it. */
const GZIP_LEVEL = 6;
/** Uncompressed bytes per gzip member. Never varies: the digest depends on it. */
const MEMBER = 1 << 20;
/** Members compressing at once: libuv's pool has 4 threads by default. */
const PARALLEL = Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length));

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

function gzipMember(data: Buffer): Promise<Buffer> {
  // No file name or time in the member's header: Node writes mtime 0 and OS "unix".
  return new Promise((resolve, reject) => zlib.gzip(data, { level: GZIP_LEVEL }, (err, out) => (err ? reject(err) : resolve(out))));
}

export class LayerBlobWriter {
  private readonly tarHash = createHash('sha256');
  private readonly blobHash = createHash('sha256');
  private readonly fd: number;
  private tarSize = 0;
  private size = 0;
  /** Tar bytes of the next member (copied: callers may reuse their buffers once write() resolves). */
  private staging = Buffer.allocUnsafe(MEMBER);
  private staged = 0;
  /** Members being compressed, in order. */
  private inflight: Promise<Buffer>[] = [];
  private members = 0;

  constructor(readonly outPath: string) {
    this.fd = fs.openSync(outPath, 'wx', 0o644);
  }

  /** Adds tar bytes; resolves when there is room for more. */
  async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    this.tarHash.update(buf);
    this.tarSize += buf.length;
    for (let off = 0; off < buf.length; ) {
      const n = buf.copy(this.staging, this.staged, off);
      off += n;
      this.staged += n;
      if (this.staged < MEMBER) continue;
      this.startMember(this.staging);
      this.staging = Buffer.allocUnsafe(MEMBER);
      this.staged = 0;
      if (this.inflight.length >= PARALLEL) await this.writeOldest();
    }
  }

  /** Compresses what is left and flushes everything; the blob file is complete (and synced) when this resolves. */
  async finish(): Promise<LayerBlob> {
    // The last, shorter member (or an empty one: a gzip file has at least one).
    if (this.staged > 0 || this.members === 0) this.startMember(this.staging.subarray(0, this.staged));
    this.staged = 0;
    while (this.inflight.length) await this.writeOldest();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    return {
      digest: `sha256:${this.blobHash.digest('hex')}`,
      size: this.size,
      diffId: `sha256:${this.tarHash.digest('hex')}`,
      tarSize: this.tarSize,
    };
  }

  /** Gives up: closes and deletes the partial blob (members still compressing are dropped). */
  abort(): void {
    for (const p of this.inflight) p.catch(() => undefined);
    this.inflight = [];
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed by finish() */
    }
    fs.rmSync(this.outPath, { force: true });
  }

  private startMember(data: Buffer): void {
    const p = gzipMember(data);
    p.catch(() => undefined); // awaited in order by writeOldest; not an unhandled rejection meanwhile
    this.inflight.push(p);
    this.members++;
  }

  private async writeOldest(): Promise<void> {
    const out = await this.inflight.shift()!;
    this.blobHash.update(out);
    for (let off = 0; off < out.length; ) off += fs.writeSync(this.fd, out, off, out.length - off);
    this.size += out.length;
  }
}
