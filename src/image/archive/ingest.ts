/**
 * Writing a blob whose digest is not known in advance (a file of an
 * archive being loaded, an imported rootfs tarball) from a stream: the
 * bytes go to a temporary file while being hashed, and, when they are
 * gzip or zstd, also decompressed and hashed again, so one pass yields
 * both the blob digest and the layer's diff_id. The result is checked by
 * the caller (against a manifest, a config) before `commitBlob` renames it
 * into blobs/sha256; until then nothing is in the store.
 */
import fs = require('node:fs');
import path = require('node:path');
import { createHash } from 'node:crypto';
import { Writable, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Header } from 'tar';
import { randomHex } from '../../util/random';
import type { ImageStore } from '../store/store';
import { NookError } from '../../errors';
import { DEFAULT_MAX_EXPANSION, expansionError, expansionLimit } from '../unpack/decompress';
import { decompressor, detectCompression, type Compression } from './compression';

export interface Ingested {
  /** The temporary file with the bytes, until committed. */
  file: string;
  digest: string;
  size: number;
  compression: Compression | { unsupported: string };
  /** sha256 of the decompressed bytes (the diff_id, if this is a layer); the digest itself when uncompressed. */
  uncompressedDigest?: string;
  /** Why the bytes could not be decompressed, when they could not. */
  decompressError?: string;
  /** The (decompressed) bytes begin with a valid tar header. */
  looksLikeTar: boolean;
}

/** Enough for every magic number detectCompression knows. */
const SNIFF = 8;
const TAR_BLOCK = 512;

/** Whether `head` (the first bytes of a stream) begins a tar archive: a header with a right checksum, or an empty archive. */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < TAR_BLOCK) return false;
  const block = head.subarray(0, TAR_BLOCK);
  if (block.every((b) => b === 0)) return true;
  try {
    return new Header(block).cksumValid;
  } catch {
    return false;
  }
}

function writeAll(fd: number, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (offset: number) =>
      fs.write(fd, chunk, offset, chunk.length - offset, null, (err, n) => {
        if (err) return reject(err);
        if (offset + n < chunk.length) return next(offset + n);
        resolve();
      });
    next(0);
  });
}

export interface IngestOptions {
  /** How many times its compressed size the data may decompress to (default 100; 0: no limit). */
  maxExpansion?: number;
  /** The compressed size, when known in advance (a file in an archive); else the bytes received so far count. */
  size?: number;
  /** The data must be a tar archive (nook import): refuse anything else as soon as its first block is read. */
  tarOnly?: boolean;
}

/** An empty tar archive is 10 KiB of zeros; more zeros than this, and nothing else, is not an archive (/dev/zero). */
export const MAX_ZEROS = 1 << 20;

const TAR_HINT = 'nook import takes a root filesystem as a tar archive, plain or compressed with gzip or zstd';

/** A Writable that stores what is written in a new file under `dir`; `result` is set once it finished. */
export class IngestWriter extends Writable {
  readonly file: string;
  result?: Ingested;
  private fd: number;
  private hash = createHash('sha256');
  private size = 0;
  private pendingHead: Buffer[] = [];
  private pendingLength = 0;
  private kind?: Compression | { unsupported: string };
  private dec?: Transform;
  private decEnded?: Promise<void>;
  private decError?: string;
  private uhash = createHash('sha256');
  private uhead: Buffer[] = [];
  private uheadLength = 0;
  private committed = false;
  /** Decompressed bytes so far. */
  private usize = 0;
  /** Every decompressed byte so far was zero. */
  private allZero = true;
  /** Why the data is refused (a bomb, not a tar archive): fails the copy at the next write. */
  private fatal?: NookError;

  constructor(
    dir: string,
    private what: string,
    private opts: IngestOptions = {},
  ) {
    super({ highWaterMark: 1 << 20 });
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, `ingest.${process.pid}.${randomHex(6)}`);
    this.fd = fs.openSync(this.file, 'wx', 0o644);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.fatal) return done(this.fatal);
    this.size += chunk.length;
    this.hash.update(chunk);
    const work: Promise<void>[] = [writeAll(this.fd, chunk)];
    if (this.kind === undefined) {
      this.pendingHead.push(chunk);
      this.pendingLength += chunk.length;
      if (this.pendingLength >= SNIFF) work.push(this.sniff());
    } else {
      work.push(this.feed(chunk));
    }
    Promise.all(work).then(() => done(this.fatal), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    (async () => {
      if (this.kind === undefined) await this.sniff();
      if (this.dec) {
        this.dec.end();
        await this.decEnded;
      }
      if (this.fatal) throw this.fatal;
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
      const digest = `sha256:${this.hash.digest('hex')}`;
      const kind = this.kind!;
      const decompressed = kind === 'none' || (typeof kind === 'string' && this.decError === undefined);
      this.result = {
        file: this.file,
        digest,
        size: this.size,
        compression: kind,
        uncompressedDigest: kind === 'none' ? digest : decompressed ? `sha256:${this.uhash.digest('hex')}` : undefined,
        decompressError: this.decError,
        looksLikeTar: decompressed && looksLikeTar(Buffer.concat(this.uhead)),
      };
      this.committed = true;
    })().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // Failed or aborted: the partial file goes.
    this.dec?.destroy();
    if (!this.committed) {
      if (this.fd >= 0) fs.closeSync(this.fd);
      this.fd = -1;
      fs.rmSync(this.file, { force: true });
    }
    done(err);
  }

  /** Decides the compression from the first bytes, then processes what was held back. */
  private sniff(): Promise<void> {
    const head = Buffer.concat(this.pendingHead);
    this.pendingHead = [];
    this.kind = detectCompression(head);
    if (this.kind === 'gzip' || this.kind === 'zstd') {
      try {
        const dec = decompressor(this.kind, this.what);
        this.dec = dec;
        dec.on('data', (d: Buffer) => this.uncompressed(d));
        this.decEnded = new Promise((resolve) => {
          dec.on('end', resolve);
          dec.on('close', resolve);
          dec.on('error', (e) => {
            this.failDecompression(e);
            resolve();
          });
        });
      } catch (e) {
        this.decError = (e as Error).message;
      }
    }
    return head.length ? this.feed(head) : Promise.resolve();
  }

  private failDecompression(e: Error): void {
    this.decError ??= e.message;
    // Not worth failing the copy for: the caller decides whether this blob had to be decompressible.
    this.dec = undefined;
  }

  private feed(chunk: Buffer): Promise<void> {
    if (this.kind === 'none') {
      this.counted(chunk);
      return Promise.resolve();
    }
    const dec = this.dec;
    if (!dec || dec.write(chunk)) return Promise.resolve();
    return new Promise((resolve) => {
      const go = () => {
        dec.off('drain', go);
        dec.off('error', go);
        dec.off('close', go);
        resolve();
      };
      dec.on('drain', go);
      dec.on('error', go);
      dec.on('close', go);
    });
  }

  private uncompressed(d: Buffer): void {
    if (this.fatal) return;
    this.uhash.update(d);
    this.counted(d);
    const limit = expansionLimit(this.opts.size ?? this.size, this.opts.maxExpansion);
    if (this.usize > limit) this.refuse(expansionError(this.what, limit, this.opts.size ?? this.size, this.opts.maxExpansion ?? DEFAULT_MAX_EXPANSION));
  }

  /** Stops decompressing; the copy fails with `err` at its next step. */
  private refuse(err: NookError): void {
    this.fatal ??= err;
    this.dec?.destroy();
    this.dec = undefined;
  }

  /** Keeps the head of the (decompressed) data and, for a tar-only copy, refuses what cannot be one as early as possible. */
  private counted(d: Buffer): void {
    const before = this.uheadLength;
    this.keepHead(d);
    this.usize += d.length;
    if (!this.opts.tarOnly || this.fatal) return;
    if (before < TAR_BLOCK && this.uheadLength >= TAR_BLOCK && !looksLikeTar(Buffer.concat(this.uhead)))
      return this.refuse(new NookError(`${this.what} is not a tar archive`, { hint: TAR_HINT }));
    if (this.allZero && !isZero(d)) this.allZero = false;
    if (this.allZero && this.usize > MAX_ZEROS)
      this.refuse(new NookError(`${this.what} is not a tar archive: it is more than ${MAX_ZEROS >> 20} MiB of zero bytes and nothing else`, { hint: TAR_HINT }));
  }

  private keepHead(d: Buffer): void {
    if (this.uheadLength >= TAR_BLOCK) return;
    this.uhead.push(d.subarray(0, TAR_BLOCK - this.uheadLength));
    this.uheadLength += Math.min(d.length, TAR_BLOCK - this.uheadLength);
  }
}

function isZero(d: Buffer): boolean {
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) return false;
  return true;
}

/** Copies `source` into a new file under `dir` (see IngestWriter); `what` names it in messages. */
export async function ingest(source: Readable, dir: string, what: string, opts: IngestOptions = {}): Promise<Ingested> {
  const writer = new IngestWriter(dir, what, opts);
  await pipeline(source, writer);
  return writer.result!;
}

/** Moves an ingested file into the store as its blob (or drops it, when the store has that blob already). */
export function commitBlob(store: ImageStore, blob: Ingested): void {
  const dest = store.blobs.path(blob.digest);
  if (fs.existsSync(dest)) return;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.renameSync(blob.file, dest);
}

export function discardBlob(blob: Ingested): void {
  fs.rmSync(blob.file, { force: true });
}
