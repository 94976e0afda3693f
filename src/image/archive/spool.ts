/**
 * An archive read once from a stream (a file or stdin, plain or gzip/zstd
 * compressed) into a directory of the store, so its files can then be
 * looked up in any order: docker writes manifest.json last, after the
 * layers it names. Every regular file goes through ingest, so its digest,
 * and a layer's diff_id, are known without reading it again. Files are
 * stored under numbers, never under the archive's names, so no name in the
 * archive can point anywhere; links are kept as a name map.
 */
import fs = require('node:fs');
import path = require('node:path');
import { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { NookError } from '../../errors';
import { DEFAULT_MAX_EXPANSION, expansionError, expansionLimit } from '../unpack/decompress';
import { decompressor, detectCompression } from './compression';
import { IngestWriter, MAX_ZEROS, type Ingested } from './ingest';

/**
 * The archive's tar bytes: `source` itself, or decompressed when it is gzip
 * or zstd (decided by its first bytes). Decompressed here rather than by the
 * tar parser (which inflates each input chunk in one synchronous call), so
 * output comes in small chunks as the parser asks, stops as soon as reading
 * stops, and is held to --max-layer-expansion: a compressed archive can
 * expand no more than the layers in it may.
 */
async function* tarBytes(source: Readable, what: string, maxExpansion: number, size?: number): AsyncGenerator<Buffer> {
  const input = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const held: Buffer[] = [];
  let heldLength = 0;
  while (heldLength < 8) {
    const next = await input.next();
    if (next.done) break;
    held.push(next.value);
    heldLength += next.value.length;
  }
  const kind = detectCompression(Buffer.concat(held));
  async function* all(): AsyncGenerator<Buffer> {
    yield* held;
    for (let next = await input.next(); !next.done; next = await input.next()) yield next.value;
  }
  if (kind === 'none' || typeof kind !== 'string') return yield* all();
  let read = 0;
  const counted = Readable.from(
    (async function* () {
      for await (const c of all()) {
        read += c.length;
        yield c;
      }
    })(),
  );
  const dec = decompressor(kind, what);
  counted.on('error', (e) => dec.destroy(e));
  counted.pipe(dec);
  let out = 0;
  try {
    for await (const chunk of dec as AsyncIterable<Buffer>) {
      out += chunk.length;
      const limit = expansionLimit(size ?? read, maxExpansion);
      if (out > limit) throw expansionError(what, limit, size ?? read, maxExpansion);
      yield chunk;
    }
  } finally {
    counted.destroy();
    dec.destroy();
  }
}

/** manifest.json, index.json, configs and manifests are small; this is far above any real one. */
const MAX_JSON = 64 << 20;
/** Links followed in a row before giving up (a loop). */
const MAX_LINKS = 16;

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/** "./a//b/" → "a/b"; names are compared in this form. */
export function archiveName(name: string): string {
  return path.posix.normalize(`/${name}`).slice(1).replace(/\/+$/, '');
}

export class Spool {
  private files = new Map<string, Ingested>();
  private links = new Map<string, string>();
  /** The archive ended with its end marker (two zero blocks); without it, it was probably cut short. */
  private complete = false;

  private constructor(
    readonly dir: string,
    /** "debian.tar", "standard input": for messages. */
    readonly what: string,
    /** --max-layer-expansion, for the compressed files (layer blobs) in the archive. */
    private readonly maxExpansion?: number,
  ) {}

  /**
   * Reads the archive from `source` into `dir` (created, and removed again
   * when reading fails).
   */
  static async read(source: Readable, dir: string, what: string, opts: { maxExpansion?: number; size?: number } = {}): Promise<Spool> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const spool = new Spool(dir, what, opts.maxExpansion);
    try {
      await spool.fill(source, opts.size);
    } catch (e) {
      spool.remove();
      throw e;
    }
    return spool;
  }

  private fill(source: Readable, size?: number): Promise<void> {
    const writes: Promise<void>[] = [];
    return new Promise<void>((resolve, reject) => {
      let failed = false;
      let entries = 0;
      let bytes = 0;
      const tar = Readable.from(tarBytes(source, this.what, this.maxExpansion ?? DEFAULT_MAX_EXPANSION, size), { objectMode: false });
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        tar.unpipe();
        tar.destroy();
        source.destroy();
        reject(this.readError(e, entries === 0, bytes === 0));
      };
      const parser = new Parser({
        strict: true,
        // Archives of layers with big runs of zeros compress far beyond tar's default limit of 1000:1.
        maxDecompressionRatio: Infinity,
        onReadEntry: (entry: ReadEntry) => {
          if (failed) return entry.resume();
          entries++;
          const name = archiveName(entry.path);
          if (FILE_TYPES.has(entry.type)) {
            const writer = new IngestWriter(this.dir, `${name} in ${this.what}`, { maxExpansion: this.maxExpansion, size: entry.size });
            writes.push(
              new Promise<void>((done, failWrite) => {
                writer.on('finish', () => {
                  this.files.set(name, writer.result!);
                  this.links.delete(name);
                  done();
                });
                writer.on('error', failWrite);
              }).catch((e) => {
                fail(e);
                parser.abort(e as Error);
              }),
            );
            entry.pipe(writer);
          } else if (entry.type === 'SymbolicLink' && entry.linkpath) {
            const target = entry.linkpath.startsWith('/') ? entry.linkpath : path.posix.join(path.posix.dirname(name), entry.linkpath);
            this.links.set(name, archiveName(target));
            entry.resume();
          } else if (entry.type === 'Link' && entry.linkpath) {
            this.links.set(name, archiveName(entry.linkpath));
            entry.resume();
          } else {
            entry.resume();
          }
        },
      });
      // The end-of-archive marker. First thing in the stream, it means no files at all (an empty
      // archive, or /dev/zero, which would otherwise be read forever); after files, the padding
      // that follows it is read up to a limit, and the rest of the stream is left unread.
      let eofAt: number | undefined;
      parser.on('eof', () => {
        this.complete = true;
        eofAt = bytes;
        if (entries === 0)
          fail(new NookError(`${this.what} is not an image archive: it holds no files (it begins with tar's end-of-archive marker, or is nothing but zero bytes)`, {
            hint: 'nook load reads what nook save, docker save and podman save write (plain, gzip or zstd compressed)',
          }));
      });
      tar.on('data', (c: Buffer) => {
        bytes += c.length;
        if (eofAt === undefined || failed || bytes - eofAt <= MAX_ZEROS) return;
        eofAt = undefined;
        tar.unpipe();
        tar.destroy();
        source.destroy();
        parser.end();
      });
      parser.on('error', fail);
      parser.on('abort', fail);
      parser.on('end', () => {
        Promise.all(writes).then(() => (failed ? undefined : resolve()), fail);
      });
      source.on('error', fail);
      tar.on('error', fail);
      tar.pipe(parser as unknown as NodeJS.WritableStream);
    });
  }

  /** A tar or stream error as the user should read it; `atStart`: before the first entry; `empty`: not a byte came. */
  private readError(e: unknown, atStart: boolean, empty: boolean): NookError {
    if (e instanceof NookError) return e;
    const err = e as NodeJS.ErrnoException & { tarCode?: string };
    const msg = err.message ?? String(e);
    if (err.code === 'ENOSPC') return new NookError(`no space left for unpacking ${this.what}`, { hint: 'free some space in the image store (nook image prune) or choose another --root' });
    if (empty && /Unrecognized archive format/.test(msg))
      return new NookError(`${this.what} is empty`, { hint: 'give an archive that nook save, docker save or podman save wrote' });
    // A first header that is not one: not a tar at all, rather than a damaged one.
    if (/Unrecognized archive format/.test(msg) || (atStart && err.tarCode === 'TAR_ENTRY_INVALID'))
      return new NookError(`${this.what} is not a tar archive`, {
        hint: 'nook load reads what nook save, docker save and podman save write (plain, gzip or zstd compressed)',
      });
    if (/Truncated input/.test(msg)) return new NookError(`${this.what} is truncated`, { hint: 'copy or save the archive again' });
    if (err.tarCode === 'TAR_ENTRY_INVALID') return new NookError(`${this.what} is damaged: ${msg.replace(/^TAR_ENTRY_INVALID: /, '')}`, { hint: 'copy or save the archive again' });
    if (/^Z_|zlib|zstd|incorrect header check|unexpected end of file/i.test(`${err.code ?? ''} ${msg}`))
      return new NookError(`${this.what} is corrupt: its compressed data cannot be read (${msg})`, { hint: 'copy or save the archive again' });
    return new NookError(`reading ${this.what}: ${msg}`);
  }

  /** The file stored under `name` (following links), or undefined. */
  get(name: string): Ingested | undefined {
    let n = archiveName(name);
    for (let i = 0; i <= MAX_LINKS; i++) {
      const f = this.files.get(n);
      if (f) return f;
      const next = this.links.get(n);
      if (next === undefined) return undefined;
      n = next;
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** The file `name`, which `referrer` ("manifest.json") names; a clear error when the archive lacks it. */
  require(name: string, referrer: string): Ingested {
    const f = this.get(name);
    if (!f && !this.complete) throw this.truncated(`${referrer} names ${JSON.stringify(name)}, which is not in what there is`);
    if (!f)
      throw new NookError(`${this.what} is incomplete: ${referrer} names ${JSON.stringify(name)}, which is not in the archive`, {
        hint: 'the archive is damaged or was cut short; save it again',
      });
    return f;
  }

  /** The error for an archive that lacks what it should have and ends without its end marker. */
  truncated(detail: string): NookError {
    return new NookError(`${this.what} is truncated (it ends without the end-of-archive marker): ${detail}`, { hint: 'copy or save the archive again' });
  }

  get isComplete(): boolean {
    return this.complete;
  }

  /** The content of a small file (a manifest, a config). */
  read(file: Ingested, name: string): Buffer {
    if (file.size > MAX_JSON) throw new NookError(`${name} in ${this.what} is ${file.size} bytes, too big for what it should be`);
    return fs.readFileSync(file.file);
  }

  /** Parsed JSON of the file `name`. */
  json(name: string, referrer: string): unknown {
    const body = this.read(this.require(name, referrer), name);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new NookError(`${name} in ${this.what} is not valid JSON: ${(e as Error).message}`, { hint: 'the archive is damaged; save it again' });
    }
  }

  /** Deletes what is left of the spool (committed files are already gone). */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
