/**
 * A proxy that injects faults between client and registry: error statuses,
 * resets, cut, stalled or corrupted bodies, ignored ranges, redirects to
 * another host (as registries do for S3) and HTML pages.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { close, listen } from './registry-server';

export type FaultKind =
  /** Answer with this status (and Retry-After) instead of forwarding. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string; contentType?: string }
  /** Close the connection without answering. */
  | { kind: 'reset' }
  /** Forward, but close the connection after this many body bytes. */
  | { kind: 'cut'; afterBytes: number }
  /** Forward this many body bytes, then go silent with the connection open. */
  | { kind: 'stall'; afterBytes: number }
  /** Forward with one byte flipped (default: the middle one). */
  | { kind: 'corrupt'; atByte?: number }
  /** Drop the Range header, so that the registry answers 200 with everything. */
  | { kind: 'ignore-range' }
  /** Redirect to the same path on another host (the proxy's "storage" listener, 127.0.0.2), as registries do for S3; or in a loop. */
  | { kind: 'redirect'; to: 'other-host' | 'loop' }
  /** Answer 200 with an HTML page, as a web server or captive portal would. */
  | { kind: 'html' };

export type Fault = FaultKind & {
  /** Which requests (method and path+query, "GET /v2/..."); default: blob GETs. */
  match?: RegExp;
  /** How many requests it applies to (default 1). */
  times?: number;
};

export interface ProxyLogEntry {
  method: string;
  path: string;
  /** The Host the client addressed (the proxy, or the storage host after a redirect). */
  host: string;
  range?: string;
  authorization?: string;
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
  fault?: string;
}

const BLOB_GET = /^GET \/v2\/.+\/blobs\/sha256:/;

/**
 * A forwarding proxy in front of a registry that misbehaves on demand. The
 * Host header is kept, so the registry builds its URLs (upload locations)
 * for the proxy. `log` records every request and how many body bytes went
 * out, which is how tests see that a resumed download fetched only the rest.
 */
export class FaultyProxy {
  readonly log: ProxyLogEntry[] = [];
  private faults: (Fault & { left: number })[] = [];
  private readonly server: http.Server;
  private readonly storage: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly stalled = new Set<net.Socket>();
  /** Authorization of the requests that were redirected, by the key in the redirect URL (a "signed URL"). */
  private readonly signed = new Map<string, string | undefined>();
  port = 0;
  storagePort = 0;
  storageHost = '127.0.0.2';

  constructor(
    readonly upstream: string,
    readonly upstreamTls = false,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res, false));
    this.storage = http.createServer((req, res) => this.handle(req, res, true));
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await listen(this.server);
    try {
      this.storagePort = await listen(this.storage, this.storageHost);
    } catch {
      this.storageHost = '127.0.0.1'; // no 127.0.0.2: another port on the same address is still another origin
      this.storagePort = await listen(this.storage, this.storageHost);
    }
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.stalled) s.destroy();
    this.agent.destroy();
    await close(this.server);
    await close(this.storage);
  }

  fault(f: Fault): this {
    this.faults.push({ ...f, left: f.times ?? 1 });
    return this;
  }

  /** Drops pending faults and the log. */
  reset(): void {
    this.faults = [];
    this.log.length = 0;
    for (const s of this.stalled) s.destroy();
    this.stalled.clear();
  }

  /** Releases connections held by 'stall'. */
  releaseStalled(): void {
    for (const s of this.stalled) s.destroy();
    this.stalled.clear();
  }

  /** Log entries for blob GETs (optionally one digest). */
  blobGets(digest?: string): ProxyLogEntry[] {
    return this.log.filter((e) => BLOB_GET.test(`${e.method} ${e.path}`) && (!digest || e.path.includes(digest)));
  }

  private take(line: string): Fault | undefined {
    const f = this.faults.find((x) => x.left > 0 && (x.match ?? BLOB_GET).test(line));
    if (f) f.left--;
    return f;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, viaStorage: boolean): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = url.searchParams.get('nook-signed');
    url.searchParams.delete('nook-signed');
    const pathQuery = url.pathname + url.search;
    const entry: ProxyLogEntry = {
      method: req.method ?? 'GET',
      path: pathQuery,
      host: String(req.headers.host ?? ''),
      range: req.headers.range,
      authorization: req.headers.authorization,
      status: 0,
      bytes: 0,
    };
    this.log.push(entry);
    const headers = { ...req.headers };
    if (viaStorage) {
      // The storage host trusts its signed URL, not the client's credentials: forward the original ones.
      delete headers.authorization;
      const auth = key ? this.signed.get(key) : undefined;
      if (auth) headers.authorization = auth;
      headers.host = this.upstream;
    }
    const fault = viaStorage ? undefined : this.take(`${entry.method} ${pathQuery}`);
    entry.fault = fault?.kind;

    switch (fault?.kind) {
      case 'status': {
        entry.status = fault.status;
        const h: Record<string, string> = { 'content-type': fault.contentType ?? 'application/json' };
        if (fault.retryAfter !== undefined) h['retry-after'] = fault.retryAfter;
        res.writeHead(fault.status, h);
        res.end(fault.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${fault.status}` }] }));
        return;
      }
      case 'reset':
        entry.status = -1;
        req.socket.destroy();
        return;
      case 'html':
        entry.status = 200;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!DOCTYPE html><html><head><title>Welcome</title></head><body>Sign in to continue</body></html>');
        return;
      case 'redirect': {
        entry.status = 307;
        if (fault.to === 'loop') {
          const next = new URL(pathQuery, 'http://x');
          next.searchParams.set('hop', String(Number(next.searchParams.get('hop') ?? 0) + 1));
          res.writeHead(307, { location: next.pathname + next.search }).end();
          return;
        }
        const signedKey = crypto.randomUUID();
        this.signed.set(signedKey, req.headers.authorization);
        const sep = url.search ? '&' : '?';
        res.writeHead(307, { location: `http://${this.storageHost}:${this.storagePort}${pathQuery}${sep}nook-signed=${signedKey}` }).end();
        return;
      }
      case 'ignore-range':
        delete headers.range;
        break;
    }

    const mod = this.upstreamTls ? https : http;
    const up = mod.request(
      { host: '127.0.0.1', port: Number(this.upstream.split(':')[1]), method: req.method, path: pathQuery, headers, agent: this.upstreamTls ? undefined : this.agent, rejectUnauthorized: false },
      (upRes) => {
        entry.status = upRes.statusCode ?? 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        let sent = 0;
        const length = Number(upRes.headers['content-length'] ?? 0);
        const flipAt = fault?.kind === 'corrupt' ? (fault.atByte ?? Math.floor(length / 2)) : -1;
        const limit = fault?.kind === 'cut' || fault?.kind === 'stall' ? fault.afterBytes : Infinity;
        if (limit === 0) {
          res.flushHeaders();
          this.stopAt(fault!.kind, res, upRes);
          return;
        }
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= limit) return;
          let out = chunk;
          if (flipAt >= sent && flipAt < sent + out.length) {
            out = Buffer.from(out);
            out[flipAt - sent] ^= 0xff;
          }
          if (sent + out.length >= limit) {
            out = out.subarray(0, limit - sent);
            sent += out.length;
            entry.bytes = sent;
            res.write(out, () => this.stopAt(fault!.kind, res, upRes));
            return;
          }
          sent += out.length;
          entry.bytes = sent;
          res.write(out);
        });
        upRes.on('end', () => {
          if (sent < limit) res.end();
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  private stopAt(kind: string, res: http.ServerResponse, upRes: http.IncomingMessage): void {
    upRes.destroy();
    if (kind === 'stall') this.stalled.add(res.socket!);
    else res.socket?.destroy();
  }
}

export async function startProxy(upstream: string, upstreamTls = false): Promise<FaultyProxy> {
  return new FaultyProxy(upstream, upstreamTls).start();
}
