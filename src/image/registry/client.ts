/**
 * The OCI distribution client (registry API v2) for pulling: manifests by
 * tag or digest, and blobs downloaded into the blob store, verified while
 * they stream, retried, and resumed with Range requests (also across
 * processes, through the store's partial files).
 *
 * HTTPS with verified certificates is the only transport unless the registry
 * is insecure (--tls-verify=false, or listed in registries.json): then HTTPS
 * without verification is tried first and plain HTTP after, as docker does.
 */
import http = require('node:http');
import { createHash } from 'node:crypto';
import { NookError } from '../../errors';
import { MANIFEST_ACCEPT, MediaType } from '../manifest';
import { BlobCorruptError, type BlobStore, type PartialBlob } from '../blobs';
import { Authenticator } from './auth';
import { isInsecureRegistry, normalizeRegistry, registriesConfigPath, registryHost } from './config';
import type { Credentials } from './credentials';
import { RegistryError } from './errors';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, withRetry, type RetryOptions } from './retry';
import { discard, hostPort, networkError, readBody, send, TlsError, type Body, type Method, type Response } from './transport';

export interface RegistryOptions {
  /** false: plain HTTP allowed and certificates not verified (--tls-verify=false). undefined: the config file decides (default: verify, HTTPS only). */
  tlsVerify?: boolean;
  /** An auth file to use instead of the default ones (like podman's --authfile). */
  authFile?: string;
  /** Called before each retry, to show "retrying ..." lines. */
  onRetry?: (what: string, attempt: number, err: Error) => void;
}

const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_ERROR_BODY = 64 << 10;
const MANIFEST_TYPES = new Set<string>(Object.values(MediaType));

/** What a request was about, for error messages. */
type Subject =
  | { kind: 'manifest'; ref: string; repository: string }
  | { kind: 'blob'; digest: string; repository: string }
  | { kind: 'registry' };

/** Per process and host: which scheme an insecure registry speaks, probed once. */
const insecureBases = new Map<string, Promise<URL>>();

/** HTTPS without verification first (a self-signed registry), then plain HTTP. */
async function findInsecureBase(host: string): Promise<URL> {
  const secure = new URL(`https://${host}/`);
  let first: RegistryError;
  try {
    discard(await send(new URL('/v2/', secure), { verifyTls: false }));
    return secure;
  } catch (e) {
    first = networkError(e, secure);
  }
  const plain = new URL(`http://${host}/`);
  try {
    discard(await send(new URL('/v2/', plain), { verifyTls: false }));
    return plain;
  } catch (e) {
    const second = networkError(e, plain);
    throw new RegistryError(`cannot reach ${host} over HTTPS (${first.message}) nor over plain HTTP (${second.message})`, {
      retryable: second.retryable,
      hint: second.hint,
    });
  }
}

/** The {"errors": [{code, message}]} of a registry's error answer; [] for anything else. */
export function registryErrors(body: Buffer): { code: string; message: string }[] {
  try {
    const doc = JSON.parse(body.toString());
    if (Array.isArray(doc?.errors)) return doc.errors.map((e: { code?: unknown; message?: unknown }) => ({ code: String(e?.code ?? ''), message: String(e?.message ?? '') }));
  } catch {
    /* not the registry's JSON error format */
  }
  return [];
}

function contentType(res: Response): string {
  return String(res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

export function isHtml(res: Response, body: Buffer): boolean {
  return contentType(res) === 'text/html' || /^\s*</.test(body.subarray(0, 64).toString());
}

/** The start of a body, printable, for messages about unexpected answers. */
function snippet(body: Buffer): string {
  const text = body.subarray(0, 60).toString().replace(/\s+/g, ' ').trim();
  return JSON.stringify(text + (body.length > 60 ? '…' : ''));
}

/** One registry's connection state: scheme, authentication, and the mapping of answers to errors. Shared with the pusher (upload.ts). */
export class Session {
  readonly auth: Authenticator;
  private insecureFlag?: boolean;

  constructor(
    readonly registry: string,
    private readonly opts: RegistryOptions,
    auth: { credentials?: Credentials; login?: boolean },
    /** The token scopes to ask for: repository:<repo>:pull (a push: :pull,push, and :pull on the repositories it mounts from). */
    private readonly scope?: string | string[],
  ) {
    const session = this;
    this.auth = new Authenticator({
      registry,
      authFile: opts.authFile,
      ...auth,
      // Read when needed: registries.json is read on first use, never in a constructor (whose errors nobody awaits).
      get verifyTls() {
        return !session.insecure;
      },
    });
  }

  get insecure(): boolean {
    if (this.insecureFlag === undefined)
      this.insecureFlag = this.opts.tlsVerify === false || (this.opts.tlsVerify === undefined && isInsecureRegistry(this.registry));
    return this.insecureFlag;
  }

  private base(): Promise<URL> {
    const host = registryHost(this.registry);
    if (!this.insecure) return Promise.resolve(new URL(`https://${host}/`));
    let base = insecureBases.get(host);
    if (!base) {
      base = findInsecureBase(host);
      insecureBases.set(host, base);
      base.catch(() => insecureBases.delete(host)); // probe again on the next attempt
    }
    return base;
  }

  /** A TLS failure against a registry we must verify: say how to declare it insecure, if it is trusted. */
  private withTlsHint(e: unknown): unknown {
    if (!(e instanceof TlsError) || this.insecure) return e;
    return new RegistryError(`${this.registry}: ${e.message}`, {
      hint: `if you trust ${this.registry} and it serves plain HTTP or a self-signed certificate, use --tls-verify=false, or list it in ${registriesConfigPath()} as {"insecure": ["${this.registry}"]}`,
    });
  }

  /**
   * GET `path` (or another method, with a body), answering one
   * authentication challenge. Statuses other than 401 are the caller's to
   * judge. `path` may be a whole URL (an upload's Location): the registry's
   * credentials go only to the registry's own origin.
   */
  async request(path: string, headers: Record<string, string>, what: string, signal?: AbortSignal, send_: { method?: Method; body?: Body } = {}): Promise<Response> {
    try {
      const base = await this.base();
      const url = new URL(path, base);
      const own = url.origin === base.origin;
      for (let round = 0; ; round++) {
        const sentWith = own ? this.auth.header() : undefined;
        const res = await send(url, { headers, authorization: sentWith, verifyTls: !this.insecure, signal, ...send_ });
        if (!own) return res;
        const challenge = res.headers['www-authenticate'];
        if (res.status !== 401 || round > 0 || !challenge) return res;
        discard(res);
        await this.auth.respond(challenge, this.scope, what, sentWith);
      }
    } catch (e) {
      throw this.withTlsHint(e);
    }
  }

  /**
   * The repository's tags, null when the registry says the repository does
   * not exist, undefined when it will not tell. Asked only to explain a
   * missing manifest: some registries (distribution among them) answer
   * "manifest unknown" for a repository that does not exist either.
   */
  private async tags(repository: string): Promise<string[] | null | undefined> {
    try {
      const res = await this.request(`/v2/${repository}/tags/list`, {}, `repository ${repository}`);
      const body = await readBody(res, MAX_ERROR_BODY);
      if (res.status === 404 && registryErrors(body).some((e) => e.code === 'NAME_UNKNOWN')) return null;
      const tags = res.status === 200 ? JSON.parse(body.toString()).tags : undefined;
      return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : undefined;
    } catch {
      return undefined;
    }
  }

  /** The error for an answer that is not what was asked for (consumes the body). */
  async statusError(res: Response, subject: Subject): Promise<RegistryError> {
    const body = await readBody(res, MAX_ERROR_BODY).catch(() => Buffer.alloc(0));
    const errors = registryErrors(body);
    const detail = errors.map((e) => e.message || e.code).filter(Boolean).join('; ') || undefined;
    const status = res.status;
    const registry = this.registry;
    const what = subject.kind === 'manifest' ? subject.ref : subject.kind === 'blob' ? `blob ${subject.digest}` : `${registry}/v2/`;
    const html = isHtml(res, body);
    const notARegistry = `check that ${registry} is a container registry (it answered like a web site)`;

    if (status === 401 || status === 403)
      return this.auth.denied(status, subject.kind === 'registry' ? 'the registry' : `repository ${subject.repository}`, detail);
    if (status === 404 && html) return new RegistryError(`${registry} answered 404 with an HTML page for ${what}`, { status, hint: notARegistry });
    if (status === 404 && subject.kind === 'manifest') {
      const tags = errors.some((e) => e.code === 'NAME_UNKNOWN') ? null : await this.tags(subject.repository);
      if (tags === null)
        return new RegistryError(`${registry}/${subject.repository}: repository not found`, {
          status,
          hint: `check the name; a private repository also needs a login: \`nook login ${registry}\``,
        });
      const some = tags?.length ? `; it has ${tags.slice(0, 10).join(', ')}${tags.length > 10 ? ', ...' : ''}` : '';
      return new RegistryError(`${subject.ref}: manifest unknown`, { status, hint: `check the tag or digest: the repository has no image under it${some}` });
    }
    if (status === 404 && subject.kind === 'blob')
      return new RegistryError(`blob ${subject.digest} not found in ${registry}/${subject.repository}`, {
        status,
        hint: 'the image lists a blob the registry does not have: it is broken, or was deleted while being pulled',
      });
    if (status === 404) return new RegistryError(`${registry} has no registry API at /v2/ (404)`, { status, hint: notARegistry });
    if (status === 429) {
      const after = parseRetryAfter(res.headers['retry-after'] as string | undefined);
      if (after !== undefined && after > MAX_RETRY_AFTER_MS)
        return new RegistryError(`${registry} is rate-limiting requests: it asks to wait ${Math.ceil(after / 1000)} s`, {
          status,
          hint: `try again later; a login (\`nook login ${registry}\`) often gives a higher limit`,
        });
      return new RegistryError(`${registry} is rate-limiting requests (429 Too Many Requests) for ${what}`, { status, retryable: true, retryAfterMs: after });
    }
    const text = `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
    if ((status >= 500 && status !== 501) || status === 408)
      return new RegistryError(`${registry} answered ${text} for ${what}${detail ? `: ${detail}` : ''}`, { status, retryable: true });
    return new RegistryError(`${registry} answered ${text} for ${what}${detail ? `: ${detail}` : html ? ' (an HTML page)' : ''}`, {
      status,
      hint: html ? notARegistry : undefined,
    });
  }
}

export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  private readonly session: Session;
  private readonly retry: RetryOptions;

  /** `registry` as in Reference.registry ("docker.io" means registry-1.docker.io, "localhost:5000"). */
  constructor(registry: string, repository: string, opts: RegistryOptions = {}) {
    this.registry = normalizeRegistry(registry);
    this.repository = repository;
    this.session = new Session(this.registry, opts, {}, `repository:${repository}:pull`);
    this.retry = { onRetry: opts.onRetry };
  }

  /**
   * GET /v2/<repo>/manifests/<tagOrDigest>. digest = "sha256:" + sha256(body);
   * when tagOrDigest is a digest, a body that does not hash to it is refused.
   */
  async getManifest(tagOrDigest: string): Promise<{ body: Buffer; mediaType: string; digest: string }> {
    const isDigest = tagOrDigest.includes(':');
    const ref = `${this.registry}/${this.repository}${isDigest ? '@' : ':'}${tagOrDigest}`;
    const algorithm = isDigest ? tagOrDigest.slice(0, tagOrDigest.indexOf(':')) : undefined;
    if (algorithm && algorithm !== 'sha256' && algorithm !== 'sha512')
      throw new NookError(`${ref}: unsupported digest algorithm "${algorithm}"`, { hint: 'use a sha256 digest' });

    return withRetry(
      `manifest ${ref}`,
      async () => {
        const res = await this.session.request(`/v2/${this.repository}/manifests/${tagOrDigest}`, { accept: MANIFEST_ACCEPT.join(', ') }, `repository ${this.repository}`);
        if (res.status !== 200) throw await this.session.statusError(res, { kind: 'manifest', ref, repository: this.repository });
        const body = await readBody(res, MAX_MANIFEST_BYTES);
        const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        if (algorithm) {
          const actual = algorithm === 'sha256' ? digest : `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
          if (actual !== tagOrDigest)
            throw new RegistryError(`the manifest ${ref} from ${this.registry} does not match its digest: its content hashes to ${actual}`, {
              hint: 'the registry, or a proxy in between, sent other content than asked for; do not trust this copy',
            });
        }
        let doc: unknown;
        try {
          doc = JSON.parse(body.toString());
        } catch {
          /* reported below */
        }
        const type = contentType(res);
        if (!doc || typeof doc !== 'object' || Array.isArray(doc))
          throw new RegistryError(`${this.registry} sent something that is not a manifest for ${ref} (${type || 'no content type'}: ${snippet(body)})`, {
            hint: `check that ${this.registry} is a container registry${isHtml(res, body) ? ' (it answered like a web site)' : ''}`,
          });
        const declared = (doc as { mediaType?: unknown }).mediaType;
        const mediaType = MANIFEST_TYPES.has(type) ? type : typeof declared === 'string' && declared ? declared : type;
        return { body, mediaType, digest };
      },
      this.retry,
    );
  }

  /**
   * Downloads a blob into the store: verified while streaming (sha256 and
   * size), retried, resumed. Resolves once store.has(desc.digest). Content
   * that turns out corrupt is fetched once more from scratch before giving up.
   */
  async fetchBlob(store: BlobStore, desc: { digest: string; size: number }, onProgress?: (bytesDone: number) => void, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (store.has(desc.digest)) return;
    const partial = await store.openPartial(desc.digest, desc.size, { origin: `from ${this.registry}` });
    if (!partial) return; // another process finished it while we waited
    try {
      let mark = partial.offset;
      const progressed = () => {
        const moved = partial.offset > mark;
        mark = partial.offset;
        return moved;
      };
      for (let fresh = false; ; fresh = true) {
        try {
          await withRetry(`blob ${desc.digest}`, () => this.download(partial, onProgress, signal), { ...this.retry, progressed, signal });
          partial.commit();
          return;
        } catch (e) {
          if (!(e instanceof BlobCorruptError) || fresh) throw e;
          partial.reset();
          mark = 0;
          onProgress?.(0);
        }
      }
    } finally {
      partial.close();
    }
  }

  /** One attempt: fetches the rest of the blob into `partial` (with Range when some bytes are there). */
  private async download(partial: PartialBlob, onProgress?: (bytesDone: number) => void, signal?: AbortSignal): Promise<void> {
    if (partial.complete) return;
    signal?.throwIfAborted();
    const { digest, size } = partial;
    const start = partial.offset;
    const headers: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
    const res = await this.session.request(`/v2/${this.repository}/blobs/${digest}`, headers, `repository ${this.repository}`, signal);
    if (res.status === 206) {
      const range = String(res.headers['content-range'] ?? '');
      const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(range);
      if (!m || Number(m[1]) !== start) {
        discard(res);
        partial.reset();
        throw new RegistryError(`${this.registry} answered a request for bytes ${start}- of blob ${digest} with "${range}"`, { retryable: true });
      }
    } else if (res.status === 416) {
      // Our bytes do not fit the registry's blob: start over.
      discard(res);
      partial.reset();
      throw new RegistryError(`${this.registry} refused the range ${start}- of blob ${digest} (416)`, { retryable: true });
    } else if (res.status === 200) {
      if (start > 0) partial.reset(); // the server ignored Range: it sends everything
    } else {
      throw await this.session.statusError(res, { kind: 'blob', digest, repository: this.repository });
    }
    onProgress?.(partial.offset);
    // Cancelled (another layer of the pull failed): the body's stream ends at once, and nothing more is written.
    const cancel = () => res.body.destroy();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (signal?.aborted) break;
        partial.append(chunk);
        onProgress?.(partial.offset);
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (e instanceof BlobCorruptError) throw e;
      throw networkError(e, res.url);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    if (signal?.aborted) {
      res.body.destroy();
      throw signal.reason;
    }
    if (!partial.complete)
      throw new RegistryError(`the download of blob ${digest} from ${hostPort(res.url)} stopped after ${partial.offset} of ${size} bytes`, {
        retryable: true,
      });
  }
}

/**
 * For `nook login`: checks the credentials against the registry (GET /v2/
 * with the auth flow). Throws a NookError on bad credentials. A registry
 * that asks for no authentication accepts any, as with docker.
 */
export async function checkCredentials(registry: string, username: string, password: string, opts: RegistryOptions = {}): Promise<void> {
  const name = normalizeRegistry(registry);
  const session = new Session(name, opts, { credentials: { username, password, source: 'the command line' }, login: true });
  await withRetry(
    `login to ${name}`,
    async () => {
      const res = await session.request('/v2/', {}, 'the registry');
      if (res.status !== 200) throw await session.statusError(res, { kind: 'registry' });
      // A web server or captive portal answers 200 too; a registry answers JSON.
      const body = await readBody(res, MAX_ERROR_BODY);
      if (isHtml(res, body))
        throw new RegistryError(`${name} answered /v2/ with an HTML page, not as a container registry`, {
          hint: `check the registry name (for Docker Hub: docker.io)`,
        });
    },
    { onRetry: opts.onRetry },
  );
}
