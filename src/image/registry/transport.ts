/**
 * HTTP(S) requests to registries: node:http/https with keep-alive agents
 * (global fetch would load undici, which costs start-up time), redirects and
 * idle timeouts, and network failures turned into errors that name the host
 * and say whether another attempt may help.
 *
 * Blob GETs are commonly redirected to a storage host (S3, a CDN) with a
 * signed URL. The registry's Authorization must not follow them there, so it
 * is dropped as soon as a redirect leaves the registry's origin.
 */
import http = require('node:http');
import https = require('node:https');
import type { Readable } from 'node:stream';
import { RegistryError } from './errors';

declare const NOOK_VERSION: string | undefined;
export const USER_AGENT = `nook/${typeof NOOK_VERSION === 'string' ? NOOK_VERSION : '0.0.0-dev'}`;

export const MAX_REDIRECTS = 10;
const DEFAULT_TIMEOUT_MS = 30_000;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** How long a connection may stay silent (connecting, or in the middle of a body); NOOK_REGISTRY_TIMEOUT_MS for tests. */
function timeoutMs(): number {
  const v = Number(process.env.NOOK_REGISTRY_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_TIMEOUT_MS;
}

/** A TLS handshake or certificate failure: the client adds the hint about insecure registries. */
export class TlsError extends RegistryError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'TlsError';
  }
}

const agents: { http?: http.Agent; https?: https.Agent; httpsNoVerify?: https.Agent } = {};

function agentFor(url: URL, verifyTls: boolean): http.Agent {
  if (url.protocol === 'http:') return (agents.http ??= new http.Agent({ keepAlive: true }));
  if (verifyTls) return (agents.https ??= new https.Agent({ keepAlive: true }));
  return (agents.httpsNoVerify ??= new https.Agent({ keepAlive: true, rejectUnauthorized: false }));
}

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

/**
 * A request body, made anew for each attempt (a stream can be read once,
 * and a request may be sent again after an authentication challenge).
 */
export type Body = () => Buffer | Readable;

export interface SendOptions {
  method?: Method;
  headers?: Record<string, string>;
  /** For POST, PUT and PATCH; the caller sets Content-Length and Content-Type. */
  body?: Body;
  /** Sent to the origin of the first URL only. */
  authorization?: string;
  /** false: accept any certificate. */
  verifyTls: boolean;
  /** Aborts the request (and its body) when the caller gives up, e.g. a pull whose other layer failed. */
  signal?: AbortSignal;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Where the answer came from, after redirects. */
  url: URL;
  /** The body, unread: the caller reads it, or calls discard(). */
  body: http.IncomingMessage;
}

/** "host:port" as a user would check it, default ports spelled out. */
export function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
}

const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

export function isTlsFailure(e: NodeJS.ErrnoException): boolean {
  const code = e.code ?? '';
  return code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || CERT_CODES.has(code);
}

/** A Node network error → RegistryError naming host and port; RegistryErrors pass through. */
export function networkError(e: unknown, url: URL): RegistryError {
  if (e instanceof RegistryError) return e;
  const err = e as NodeJS.ErrnoException;
  const where = hostPort(url);
  if (isTlsFailure(err)) {
    // OpenSSL's text is "...:SSL routines:<function>:<reason>:<file>:<line>:"; the reason is what matters.
    const reason = /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.message;
    const plain = /wrong version number|packet length too long|http request/i.test(reason);
    return new TlsError(`TLS connection to ${where} failed: ${reason}${plain ? ' (the server seems to speak plain HTTP)' : ''}`, reason);
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return new RegistryError(`cannot connect to ${where}: connection refused`, {
        hint: 'check the registry name and port, and that the registry is running',
      });
    case 'ENOTFOUND':
      return new RegistryError(`cannot resolve ${url.hostname}: no such host`, { hint: 'check the registry name, and your DNS and network' });
    case 'EAI_AGAIN':
      return new RegistryError(`cannot resolve ${url.hostname}: temporary DNS failure`, { retryable: true });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new RegistryError(`cannot connect to ${where}: ${err.code === 'EHOSTUNREACH' ? 'host' : 'network'} unreachable`, {
        hint: 'check your network connection (and proxy settings)',
        retryable: true,
      });
    case 'ETIMEDOUT':
      return new RegistryError(`connection to ${where} timed out`, { retryable: true });
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return new RegistryError(`connection to ${where} was cut (${err.message})`, { retryable: true });
    default:
      return new RegistryError(`request to ${where} failed: ${err.message}`, { retryable: true });
  }
}

function sendOnce(url: URL, method: string, headers: Record<string, string>, verifyTls: boolean, signal?: AbortSignal, body?: Body): Promise<Response> {
  return new Promise((resolve, reject) => {
    const ms = timeoutMs();
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method, headers, agent: agentFor(url, verifyTls), timeout: ms, signal });
    let res: http.IncomingMessage | undefined;
    req.on('timeout', () => {
      // Covers connecting and silent stretches of a body: a stalled download fails and is retried (resumed).
      const err = new RegistryError(`connection to ${hostPort(url)} timed out (no data for ${ms / 1000} s)`, { retryable: true });
      if (res) res.destroy(err);
      req.destroy(err);
    });
    req.on('error', (e) => reject(networkError(e, url)));
    req.on('response', (r) => {
      res = r;
      resolve({ status: r.statusCode ?? 0, headers: r.headers, url, body: r });
    });
    const content = body?.();
    if (content === undefined || Buffer.isBuffer(content)) {
      req.end(content);
      return;
    }
    // A stream (a blob file): a read error fails the request; a request that ends early (the registry
    // answered before reading it all, or the connection broke) stops the reading.
    content.on('error', (e) => req.destroy(e));
    req.on('close', () => content.destroy());
    content.pipe(req);
  });
}

/**
 * One request. GET and HEAD follow redirects; the methods of a push do not
 * (a registry answers them with a Location to go on with, which is the
 * caller's to follow, and a 3xx there is an answer to report).
 */
export async function send(url: URL, opts: SendOptions): Promise<Response> {
  const origin = url.origin;
  const method = opts.method ?? 'GET';
  let current = url;
  for (let redirects = 0; ; redirects++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...opts.headers };
    if (opts.authorization && current.origin === origin) headers.authorization = opts.authorization;
    const res = await sendOnce(current, method, headers, opts.verifyTls, opts.signal, opts.body);
    const location = res.headers.location;
    if ((method !== 'GET' && method !== 'HEAD') || !REDIRECT_STATUS.has(res.status) || !location) return res;
    discard(res);
    if (redirects >= MAX_REDIRECTS)
      throw new RegistryError(`too many redirects fetching ${url.href} (more than ${MAX_REDIRECTS})`, {
        hint: `the registry, or a proxy in front of it, redirects in a loop (last to ${location}); check its configuration`,
      });
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new RegistryError(`${hostPort(current)} redirected to an invalid URL "${location}"`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new RegistryError(`${hostPort(current)} redirected to an unsupported URL "${next.href}"`);
    current = next;
  }
}

/** Reads a whole (small) body; more than `limit` bytes is an error, not a memory spike. */
export async function readBody(res: Response, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        res.body.destroy();
        throw new RegistryError(`${hostPort(res.url)} sent more than ${limit} bytes for ${res.url.pathname}`, {
          hint: 'that is too large for what was asked; check that this is a container registry',
        });
      }
      chunks.push(chunk);
    }
  } catch (e) {
    throw networkError(e, res.url);
  }
  return Buffer.concat(chunks);
}

/** Drops an unread body, so that the connection can be reused. */
export function discard(res: Response): void {
  res.body.resume();
  res.body.on('error', () => {});
}
