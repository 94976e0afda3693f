/**
 * ADD of an http(s) URL: the engine downloads the file here, then copies it
 * into the step's root as a prepared file (never extracted, as docker does).
 * As docker and BuildKit: redirects are followed, the name comes from the
 * Content-Disposition header or else the URL's last path component, the file
 * is mode 0600 with its modification time from Last-Modified, and
 * `--checksum=sha256:HEX` is verified before anything is kept.
 */
import fs = require('node:fs');
import path = require('node:path');
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NookError } from '../../errors';
import { randomHex } from '../../util/random';

export interface FetchedFile {
  /** The downloaded file (in `dir`). */
  file: string;
  /** Its name, as ADD uses it for a destination that is a directory. */
  name: string;
  /** "sha256:HEX" of its content (for the build cache). */
  sha256: string;
}

export interface FetchOptions {
  /** ADD --checksum: "sha256:HEX". */
  checksum?: string;
}

/** The file name a Content-Disposition header gives (filename*= or filename=), or undefined. */
export function dispositionName(header: string | null): string | undefined {
  if (!header) return undefined;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  let name: string | undefined;
  if (star) {
    try {
      name = decodeURIComponent(star[2].trim());
    } catch {
      name = undefined;
    }
  }
  if (!name) {
    const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
    name = plain ? (plain[1] ?? plain[2]).replace(/\\(.)/g, '$1').trim() : undefined;
  }
  const base = name ? path.posix.basename(name.replace(/\\/g, '/')) : undefined;
  return base && base !== '.' && base !== '..' ? base : undefined;
}

/** The name ADD gives a URL's file without a Content-Disposition: the last component of the URL's path. */
export function urlFileName(url: string): string {
  const base = path.posix.basename(decodeURIComponent(new URL(url).pathname));
  return base && base !== '/' && base !== '.' && base !== '..' ? base : 'download';
}

function parseChecksum(checksum: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(checksum);
  if (!m) throw new NookError(`invalid --checksum=${checksum}`, { hint: 'give sha256:HEX with the 64 hex digits of the file' });
  return checksum;
}

export async function fetchUrl(url: string, dir: string, opts: FetchOptions = {}): Promise<FetchedFile> {
  const want = opts.checksum === undefined ? undefined : parseChecksum(opts.checksum);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (e) {
    throw new NookError(`ADD failed: downloading ${url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`, {
      hint: 'check the URL and the network (the build downloads it from this host)',
      cause: e,
    });
  }
  if (!res.ok || !res.body)
    throw new NookError(`ADD failed: downloading ${url}: ${res.status} ${res.statusText}`, { hint: 'check the URL' });
  const name = dispositionName(res.headers.get('content-disposition')) ?? urlFileName(url);
  const file = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.tmp-${process.pid}-${randomHex(4)}`);
  const hash = createHash('sha256');
  try {
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (b: Buffer) => hash.update(b));
    await pipeline(body, fs.createWriteStream(tmp, { mode: 0o600, flags: 'wx' }));
    const sha256 = `sha256:${hash.digest('hex')}`;
    if (want && sha256 !== want)
      throw new NookError(`ADD failed: the checksum of ${url} does not match: expected ${want}, got ${sha256}`, {
        hint: 'the file changed on the server, or --checksum is wrong',
      });
    const modified = Date.parse(res.headers.get('last-modified') ?? '');
    if (!Number.isNaN(modified)) fs.utimesSync(tmp, modified / 1000, modified / 1000);
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
    return { file, name, sha256 };
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    if (e instanceof NookError) throw e;
    throw new NookError(`ADD failed: downloading ${url}: ${(e as Error).message}`, { hint: 'check the URL and the network', cause: e });
  }
}
