/**
 * Writes a tar archive entry by entry to a stream, with the stream's
 * backpressure: small files from memory, big ones (layers) streamed with
 * their size announced up front and checked on the way. The `tar`
 * package's Pack wants files on disk under their archive names; archives
 * of images are made of blobs named otherwise and of layers decompressed
 * on the fly, so only its header encoding is used here.
 */
import type { Writable } from 'node:stream';
import { Header, Pax, type HeaderData } from 'tar';
import { NookError } from '../../errors';

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK * 2);

export class TarWriter {
  private error?: Error;
  private written = 0;

  constructor(private out: Writable) {
    out.on('error', (e) => (this.error ??= e));
  }

  /** Total bytes written so far. */
  get bytes(): number {
    return this.written;
  }

  async dir(name: string, mtime: Date): Promise<void> {
    await this.header({ path: name.endsWith('/') ? name : `${name}/`, type: 'Directory', mode: 0o755, size: 0, mtime });
  }

  async file(name: string, body: Buffer | string, mtime: Date): Promise<void> {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    await this.header({ path: name, type: 'File', mode: 0o644, size: data.length, mtime });
    await this.put(data);
    await this.pad(data.length);
  }

  /** An entry of exactly `size` bytes from `source`; anything else is an error (the archive would be corrupt). */
  async stream(name: string, size: number, source: AsyncIterable<Buffer>, mtime: Date): Promise<void> {
    await this.header({ path: name, type: 'File', mode: 0o644, size, mtime });
    let n = 0;
    for await (const chunk of source) {
      n += chunk.length;
      if (n > size) break;
      await this.put(chunk);
    }
    if (n !== size) throw new NookError(`${name} changed while being written: expected ${size} bytes, read ${n > size ? 'more' : n}`);
    await this.pad(size);
  }

  /** The end-of-archive marker; waits until the stream took everything. */
  async finish(): Promise<void> {
    await this.put(ZEROS);
    await new Promise<void>((resolve, reject) => this.out.write(Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
    this.check();
  }

  private async header(data: HeaderData): Promise<void> {
    const full: HeaderData = { uid: 0, gid: 0, uname: '', gname: '', ...data };
    const block = Buffer.alloc(BLOCK);
    // Names over 100 bytes and sizes of 8 GiB and more need a PAX header first.
    if (new Header(full).encode(block, 0)) await this.put(new Pax({ path: full.path, size: full.size, mtime: full.mtime }).encode());
    await this.put(block);
  }

  private pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    return rest ? this.put(ZEROS.subarray(0, BLOCK - rest)) : Promise.resolve();
  }

  private check(): void {
    if (this.error) throw this.error;
  }

  private put(buf: Buffer): Promise<void> {
    this.check();
    this.written += buf.length;
    if (this.out.write(buf)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (e?: Error) => {
        this.out.off('drain', done);
        this.out.off('error', done);
        this.out.off('close', done);
        if (e) reject(e);
        else if (this.error) reject(this.error);
        else resolve();
      };
      this.out.on('drain', done);
      this.out.on('error', done);
      this.out.on('close', done);
    });
  }
}
