/**
 * The OCI distribution client for pushing: is a blob there (HEAD), mount it
 * from another repository of the same registry, upload it (POST, then one
 * PUT, or PATCH chunks and a closing PUT for large blobs), and PUT the
 * manifest. Shares the connection, TLS and authentication logic of the
 * pulling client (client.ts's Session); only the requests and the reading
 * of refusals are a pusher's own.
 *
 * Uploads follow the Locations the registry gives, relative or absolute,
 * with `digest=` appended with `&` when the Location has a query already
 * (distribution's carries `_state=`).
 */
import fs = require('node:fs');
import http = require('node:http');
import { createHash } from 'node:crypto';
import { isHtml, MAX_ERROR_BODY, registryErrors, Session, type RegistryOptions } from './client';
import { normalizeRegistry } from './config';
import { RegistryError } from './errors';
import { parseRetryAfter, withRetry, type RetryOptions } from './retry';
import { discard, readBody, type Body, type Method, type Response } from './transport';

/** Blobs larger than this are sent in chunks of this size (PATCH), when the registry takes them. */
export const DEFAULT_CHUNK_SIZE = 64 << 20;

export interface UploaderOptions extends RegistryOptions {
  /** Repositories of the same registry that blobs may be mounted from: the token asks for pull access to them too. */
  mountFrom?: string[];
  /** Chunk size for PATCH uploads; blobs up to this size go in one PUT (default DEFAULT_CHUNK_SIZE). */
  chunkSize?: number;
}

/** How a blob reached the registry. */
export type BlobOutcome = 'exists' | 'mounted' | 'uploaded';

export interface BlobSource {
  digest: string;
  size: number;
  /** The blob's file (in the store). */
  file: string;
}

export interface PushBlobOptions {
  /** A repository of this registry that has the blob (it was pulled from there): try a cross-repository mount first. */
  mountFrom?: string;
  onProgress?: (bytesSent: number) => void;
  signal?: AbortSignal;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Statuses by which a registry says it does not take a PATCH chunk (it wants one monolithic PUT). */
const NO_CHUNKS = new Set([400, 404, 405, 416, 501]);

/** `location` with `digest=` added to its query, which may already hold the registry's own state. */
export function withDigest(location: string, digest: string): string {
  const hash = location.indexOf('#');
  const bare = hash < 0 ? location : location.slice(0, hash);
  return `${bare}${bare.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** "0-1023" (distribution's Range on upload answers, without "bytes="): the number of bytes the registry holds. */
export function uploadedBytes(range: string | string[] | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(String(range ?? '').trim());
  return m ? Number(m[1]) + 1 : undefined;
}

export class RegistryUploader {
  readonly registry: string;
  readonly repository: string;
  private readonly session: Session;
  private readonly retry: RetryOptions;
  private readonly chunkSize: number;

  /** `registry` as in Reference.registry. */
  constructor(registry: string, repository: string, opts: UploaderOptions = {}) {
    this.registry = normalizeRegistry(registry);
    this.repository = repository;
    const scopes = [`repository:${repository}:pull,push`, ...[...new Set(opts.mountFrom ?? [])].filter((r) => r !== repository).map((r) => `repository:${r}:pull`)];
    this.session = new Session(this.registry, opts, {}, scopes);
    this.retry = { onRetry: opts.onRetry };
    this.chunkSize = opts.chunkSize && opts.chunkSize > 0 ? opts.chunkSize : DEFAULT_CHUNK_SIZE;
  }

  private get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** One request; `what` it is for names it in errors. */
  private async request(method: Method, path: string, what: string, headers: Record<string, string>, signal?: AbortSignal, body?: Body): Promise<Response> {
    try {
      return await this.session.request(path, headers, `repository ${this.repository}`, signal, { method, body });
    } catch (e) {
      // Refused before any answer of the registry: it asked for credentials, and there are none.
      if (e instanceof RegistryError && (e.status === 401 || e.status === 403) && !this.credentials()) {
        const text = `${e.status} ${http.STATUS_CODES[e.status]}`;
        throw new RegistryError(`${this.registry} refused ${what}: ${text} (no credentials for ${this.registry})`, { status: e.status, hint: this.refusalHint(e.status, new Set()) });
      }
      throw e;
    }
  }

  private credentials(): { username: string; source: string } | undefined {
    try {
      return this.session.auth.credentials();
    } catch {
      return undefined; // an unreadable auth file: the refusal is the news here
    }
  }

  /** HEAD /v2/<repo>/blobs/<digest>: whether the repository has the blob (one attempt; the caller retries). */
  private async hasBlobOnce(digest: string, signal?: AbortSignal): Promise<boolean> {
    const what = `the check for blob ${digest} in ${this.name}`;
    const res = await this.request('HEAD', `/v2/${this.repository}/blobs/${digest}`, what, {}, signal);
    if (res.status !== 200 && res.status !== 404) throw await this.refusal(res, what);
    discard(res);
    return res.status === 200;
  }

  async hasBlob(digest: string, signal?: AbortSignal): Promise<boolean> {
    return withRetry(`blob ${digest}`, () => this.hasBlobOnce(digest, signal), { ...this.retry, signal });
  }

  /**
   * Makes sure the repository has the blob: skipped when it is there, mounted
   * from `mountFrom` when the registry agrees (201), uploaded otherwise (a
   * refused mount, 202, already opened the upload). Retried as a whole on
   * transient failures; a chunked upload resumes from what the registry holds.
   */
  async pushBlob(blob: BlobSource, opts: PushBlobOptions = {}): Promise<BlobOutcome> {
    let sent = 0;
    const progress = (n: number) => {
      sent = Math.max(sent, n);
      opts.onProgress?.(n);
    };
    let mark = 0;
    const progressed = () => {
      const moved = sent > mark;
      mark = sent;
      return moved;
    };
    return withRetry(
      `blob ${blob.digest}`,
      async () => {
        if (await this.hasBlobOnce(blob.digest, opts.signal)) return 'exists';
        const started = await this.startUpload(blob.digest, opts.mountFrom, opts.signal);
        if (started === 'mounted') return 'mounted';
        await this.upload(blob, started, progress, opts.signal);
        return 'uploaded';
      },
      { ...this.retry, progressed, signal: opts.signal },
    );
  }

  /** POST .../blobs/uploads/ (with ?mount=&from= when there is a source): 'mounted', or the upload's Location. */
  private async startUpload(digest: string, mountFrom: string | undefined, signal?: AbortSignal): Promise<{ location: string; minChunk: number } | 'mounted'> {
    const mount = mountFrom && mountFrom !== this.repository;
    const query = mount ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : '';
    const what = `the upload of blob ${digest} to ${this.name}`;
    const res = await this.request('POST', `/v2/${this.repository}/blobs/uploads/${query}`, what, { 'content-length': '0' }, signal, () => Buffer.alloc(0));
    if (mount && res.status === 201) {
      discard(res);
      return 'mounted';
    }
    if (res.status !== 202) throw await this.refusal(res, what);
    discard(res);
    const location = res.headers.location;
    if (!location) throw new RegistryError(`${this.registry} started an upload of blob ${digest} without saying where to send it (no Location)`);
    return { location, minChunk: Number(res.headers['oci-chunk-min-length']) || 0 };
  }

  private async upload(blob: BlobSource, start: { location: string; minChunk: number }, onProgress: (n: number) => void, signal?: AbortSignal): Promise<void> {
    const chunk = Math.max(this.chunkSize, start.minChunk);
    if (blob.size > chunk) {
      const location = await this.patchChunks(blob, start.location, chunk, onProgress, signal);
      if (location) return this.finish(blob.digest, location, 0, undefined, signal);
      // The registry takes no chunks: a fresh upload, in one PUT.
      const again = await this.startUpload(blob.digest, undefined, signal);
      if (again === 'mounted') return;
      start = again;
    }
    onProgress(0);
    const body: Body = () => this.readStream(blob, 0, blob.size - 1, onProgress);
    await this.finish(blob.digest, start.location, blob.size, body, signal);
  }

  /** The blob's bytes [first, last], counted into onProgress as they are read. */
  private readStream(blob: BlobSource, first: number, last: number, onProgress: (n: number) => void): fs.ReadStream {
    const stream = fs.createReadStream(blob.file, { start: first, end: last, highWaterMark: 64 << 10 });
    let done = first;
    stream.on('data', (c) => onProgress((done += c.length)));
    return stream;
  }

  /** PUT <location>&digest=: the last bytes (or none, after chunks) and the digest that closes the upload. */
  private async finish(digest: string, location: string, length: number, body: Body | undefined, signal?: AbortSignal): Promise<void> {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(length) };
    const what = `the upload of blob ${digest} to ${this.name}`;
    const res = await this.request('PUT', withDigest(location, digest), what, headers, signal, body ?? (() => Buffer.alloc(0)));
    if (res.status !== 201 && res.status !== 204) throw await this.refusal(res, what);
    discard(res);
    const stored = res.headers['docker-content-digest'];
    if (stored && stored !== digest)
      throw new RegistryError(`${this.registry} stored blob ${digest} under another digest, ${String(stored)}`, {
        hint: 'the blob was damaged on the way (or by a proxy in between); try again',
        retryable: true,
      });
  }

  /**
   * PATCHes the blob in chunks to `location` (following each new Location);
   * returns the Location to close the upload at, or undefined when the
   * registry refuses the first chunk as such. A chunk that fails on the
   * network is resumed from the offset the registry reports (GET on the
   * upload), so a long upload over a flaky link is not started over.
   */
  private async patchChunks(blob: BlobSource, location: string, chunk: number, onProgress: (n: number) => void, signal?: AbortSignal): Promise<string | undefined> {
    const what = `the upload of blob ${blob.digest} to ${this.name}`;
    let offset = 0;
    let resumed = false;
    while (offset < blob.size) {
      const last = Math.min(offset + chunk, blob.size) - 1;
      onProgress(offset);
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(last - offset + 1), 'content-range': `${offset}-${last}` };
      let res: Response;
      try {
        res = await this.request('PATCH', location, what, headers, signal, () => this.readStream(blob, offset, last, onProgress));
      } catch (e) {
        if (!(e instanceof RegistryError) || !e.retryable || signal?.aborted || resumed) throw e;
        // Once per chunk: ask how far the registry got, and go on from there.
        resumed = true;
        ({ offset, location } = await this.uploadStatus(blob.digest, location, signal));
        continue;
      }
      if (offset === 0 && NO_CHUNKS.has(res.status)) {
        discard(res);
        return undefined;
      }
      if (res.status !== 202 && res.status !== 204) throw await this.refusal(res, what);
      discard(res);
      const have = uploadedBytes(res.headers.range);
      if (have !== undefined && have !== last + 1)
        throw new RegistryError(`${this.registry} holds ${have} bytes of blob ${blob.digest} after a chunk that ended at ${last + 1}`, { retryable: true });
      location = String(res.headers.location ?? location);
      offset = last + 1;
      resumed = false;
    }
    onProgress(blob.size);
    return location;
  }

  /** GET <upload location>: how many bytes the registry holds (204 with Range), and where to go on. */
  private async uploadStatus(digest: string, location: string, signal?: AbortSignal): Promise<{ offset: number; location: string }> {
    const what = `the upload of blob ${digest} to ${this.name}`;
    const res = await this.request('GET', location, what, {}, signal);
    if (res.status !== 204 && res.status !== 200) throw await this.refusal(res, what);
    discard(res);
    // distribution says "0-0" for an empty upload as well as for one byte: take it as empty (a byte too many
    // would be refused as a range that does not follow, and the upload started over).
    const range = String(res.headers.range ?? '').trim();
    const offset = range === '0-0' ? 0 : (uploadedBytes(range) ?? 0);
    return { offset, location: String(res.headers.location ?? location) };
  }

  /**
   * PUT /v2/<repo>/manifests/<tagOrDigest> with the manifest's own media type
   * as Content-Type (registries refuse a manifest without it). Returns the
   * manifest's digest.
   */
  async putManifest(tagOrDigest: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = sha256(body);
    const ref = `${this.name}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}`;
    return withRetry(
      `manifest ${ref}`,
      async () => {
        const headers = { 'content-type': mediaType, 'content-length': String(body.length) };
        const what = `the manifest ${ref}`;
        const res = await this.request('PUT', `/v2/${this.repository}/manifests/${tagOrDigest}`, what, headers, undefined, () => body);
        if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.refusal(res, what);
        discard(res);
        const stored = res.headers['docker-content-digest'];
        if (stored && stored !== digest)
          throw new RegistryError(`${this.registry} stored the manifest ${ref} as ${String(stored)}, not as its digest ${digest}`, {
            hint: 'the registry rewrote the manifest (an old registry converting it?); the image may not pull by digest',
          });
        return digest;
      },
      this.retry,
    );
  }

  /**
   * The error for a refused push request: the status and the registry's
   * error codes (DENIED, UNAUTHORIZED, NAME_UNKNOWN, ...), and what to do.
   */
  private async refusal(res: Response, what: string): Promise<RegistryError> {
    const body = await readBody(res, MAX_ERROR_BODY).catch(() => Buffer.alloc(0));
    const errors = registryErrors(body);
    const codes = new Set(errors.map((e) => e.code));
    const detail = errors.map((e) => (e.message && e.message.toUpperCase() !== e.code.replace(/_/g, ' ') ? `${e.code}: ${e.message}` : e.code)).join('; ');
    const status = res.status;
    const text = `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
    const message = `${this.registry} refused ${what}: ${text}${detail ? ` (${detail})` : isHtml(res, body) ? ' (an HTML page)' : ''}`;
    if (status === 429 || (status >= 500 && status !== 501) || status === 408)
      return new RegistryError(message, { status, retryable: true, retryAfterMs: parseRetryAfter(res.headers['retry-after'] as string | undefined) });
    return new RegistryError(message, { status, hint: this.refusalHint(status, codes) });
  }

  private refusalHint(status: number, codes: Set<string>): string {
    const registry = this.registry;
    const creds = this.credentials();
    if (codes.has('NAME_UNKNOWN'))
      return `${registry} has no repository ${this.repository} and does not create one on push: create it there first, or check the name`;
    if (codes.has('NAME_INVALID')) return `${registry} does not accept the name ${this.repository}: check it (lowercase letters, digits, and . _ - / between them)`;
    if (status === 401 || codes.has('UNAUTHORIZED')) {
      if (!creds) return `pushing needs a login: \`nook login ${registry}\` (or --authfile FILE)`;
      return `the credentials of ${creds.username} (from ${creds.source}) do not allow pushing to ${this.repository}: log in again with \`nook login ${registry}\`, or check the account's permissions`;
    }
    if (status === 403 || codes.has('DENIED'))
      return `${creds ? `${creds.username}` : 'an anonymous user'} may not push to ${this.repository}: check the repository name (often your account or organisation comes first) and the account's permissions`;
    if (status === 405 || codes.has('UNSUPPORTED')) return `${registry} does not accept pushes (a read-only mirror or pull-through cache?)`;
    if (status === 413) return 'the registry (or a proxy in front of it) limits the size of uploads';
    if (codes.has('MANIFEST_BLOB_UNKNOWN') || codes.has('BLOB_UNKNOWN'))
      return 'the registry lost a blob of the image between its upload and the manifest: push again';
    if (codes.has('MANIFEST_INVALID') || codes.has('TAG_INVALID')) return 'the registry does not accept this manifest; check its media type and the tag';
    return `check that ${registry} is a container registry that accepts pushes`;
  }
}
