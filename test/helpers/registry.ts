/**
 * A real registry for tests: Debian's docker-registry (distribution v2.8),
 * started per test file on a free port with its storage in a temporary
 * directory, optionally behind htpasswd (Basic) or token (Bearer) auth, with
 * a token server written here (Docker's token spec, RS256 JWTs signed by a
 * key made with the openssl CLI). Also: pushing test images and indexes
 * (independently of nook's client, so that tests of the client do not rest
 * on it), and a proxy that injects faults between client and registry.
 *
 * Needs the Debian packages docker-registry, apache2-utils (htpasswd) and
 * openssl.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { REPO } from './paths';

export const REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry';

const sha256 = (b: Buffer | string) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

export function tempDir(prefix = 'nook-reg-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function need(bin: string, pkg: string): void {
  const found = (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => fs.existsSync(path.join(d, bin)));
  if (!found && !fs.existsSync(bin)) throw new Error(`${bin} not found: install the Debian package ${pkg}`);
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r, j) => srv.once('error', j).listen(0, host, r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((r, j) => server.once('error', j).listen(0, host, r));
  return (server.address() as net.AddressInfo).port;
}

async function close(server: net.Server & { closeAllConnections?: () => void }): Promise<void> {
  server.closeAllConnections?.();
  await new Promise((r) => server.close(r));
}

/** A self-signed certificate and its key (PEM files) made with the openssl CLI. */
export function makeCert(dir: string, name: string, subjectAltName?: string): { cert: string; key: string } {
  need('openssl', 'openssl');
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`];
  if (subjectAltName) args.push('-addext', `subjectAltName=${subjectAltName}`);
  execFileSync('openssl', args, { stdio: 'pipe' });
  return { cert, key };
}

// ---------------------------------------------------------------- token server

export interface TokenRequest {
  service?: string;
  scopes: string[];
  account?: string;
  /** The user that authenticated, if any. */
  user?: string;
  status: number;
}

/**
 * Docker's token spec: GET realm?service=S&scope=repository:NAME:ACTIONS,
 * optionally with Basic credentials, answers {"token", "access_token"}.
 * Users get what they ask for (pull, push); anonymous callers get pull when
 * `anonymous` is true, and a 401 otherwise.
 */
export class TokenServer {
  readonly requests: TokenRequest[] = [];
  anonymous: boolean;
  port = 0;
  private readonly server: http.Server;
  private readonly x5c: string;
  private readonly key: crypto.KeyObject;

  constructor(
    readonly users: Record<string, string>,
    readonly service: string,
    readonly issuer: string,
    keyPem: string,
    certPem: string,
    anonymous: boolean,
  ) {
    this.anonymous = anonymous;
    this.key = crypto.createPrivateKey(keyPem);
    this.x5c = new crypto.X509Certificate(certPem).raw.toString('base64');
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  async start(): Promise<void> {
    this.port = await listen(this.server);
  }

  stop(): Promise<void> {
    return close(this.server);
  }

  /** An RS256 JWT as distribution's token auth verifies it: x5c chain to the rootcertbundle, iss, aud, exp/nbf. */
  sign(subject: string, access: { type: string; name: string; actions: string[] }[], ttlSeconds = 300): string {
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const header = b64({ alg: 'RS256', typ: 'JWT', x5c: [this.x5c] });
    const claims = b64({ iss: this.issuer, sub: subject, aud: this.service, exp: now + ttlSeconds, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access });
    const signature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), this.key).toString('base64url');
    return `${header}.${claims}.${signature}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const entry: TokenRequest = { service: url.searchParams.get('service') ?? undefined, scopes, account: url.searchParams.get('account') ?? undefined, status: 200 };
    this.requests.push(entry);
    const deny = (why: string) => {
      entry.status = 401;
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="nook-test-token"' });
      res.end(JSON.stringify({ details: why }));
    };
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    let user: string | undefined;
    if (basic) {
      const text = Buffer.from(basic[1], 'base64').toString();
      const i = text.indexOf(':');
      const [name, pass] = [text.slice(0, i), text.slice(i + 1)];
      if (i < 0 || this.users[name] === undefined || this.users[name] !== pass) return deny('incorrect username or password');
      user = name;
    } else if (!this.anonymous) {
      return deny('authentication required');
    }
    entry.user = user;
    const access = scopes
      .map((s) => /^repository:([^:]+):(.+)$/.exec(s))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => ({ type: 'repository', name: m[1], actions: m[2].split(',').filter((a) => (user ? ['pull', 'push'] : ['pull']).includes(a)) }));
    const token = this.sign(user ?? '', access);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  }
}

// ---------------------------------------------------------------- registry

export interface RegistryServerOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** Users for htpasswd and token auth (default alice/wonderland). */
  users?: Record<string, string>;
  /** Token auth: whether anonymous callers get pull tokens (default true, as Docker Hub). */
  anonymous?: boolean;
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

export interface RegistryServer {
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  /** Base URL: http://HOST or https://HOST. */
  url: string;
  dir: string;
  auth: 'none' | 'htpasswd' | 'token';
  users: Record<string, string>;
  /** The first user, handy for pushes. */
  user: { username: string; password: string };
  token?: TokenServer;
  /** The registry's own certificate, with tls. */
  cert?: string;
  /** Options for pushImage/pushIndex against this registry (auth, tls). */
  pushOpts: PushOptions;
  stop(): Promise<void>;
}

function registryConfig(dir: string, port: number, auth: string, extra: { htpasswd?: string; token?: TokenServer; rootcert?: string; tls?: { cert: string; key: string } }): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: nook-test-secret',
  ];
  if (extra.tls) lines.push('  tls:', `    certificate: ${extra.tls.cert}`, `    key: ${extra.tls.key}`);
  if (auth === 'htpasswd') lines.push('auth:', '  htpasswd:', '    realm: nook-test', `    path: ${extra.htpasswd}`);
  if (auth === 'token')
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${extra.token!.realm}`,
      `    service: ${extra.token!.service}`,
      `    issuer: ${extra.token!.issuer}`,
      `    rootcertbundle: ${extra.rootcert}`,
    );
  return lines.join('\n') + '\n';
}

/** Waits until GET /v2/ gets an HTTP answer (any status: 401 is ready too), or the process dies, or 20 s pass. */
async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`docker-registry exited during start-up: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const mod = url.startsWith('https:') ? https : http;
      const req = mod.get(`${url}/v2/`, { rejectUnauthorized: false, agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${url}/v2/ within 20 s: ${stderr()}`);
}

export async function startRegistry(opts: RegistryServerOptions = {}): Promise<RegistryServer> {
  need(REGISTRY_BIN, 'docker-registry');
  const auth = opts.auth ?? 'none';
  const users = opts.users ?? { alice: 'wonderland' };
  const dir = tempDir('nook-registry-');
  const extra: Parameters<typeof registryConfig>[3] = {};
  let token: TokenServer | undefined;

  if (auth === 'htpasswd') {
    need('htpasswd', 'apache2-utils');
    const lines = Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim());
    extra.htpasswd = path.join(dir, 'htpasswd');
    fs.writeFileSync(extra.htpasswd, lines.join('\n') + '\n');
  }
  if (auth === 'token') {
    const { cert, key } = makeCert(dir, 'token-signer');
    token = new TokenServer(users, 'nook-test-registry', 'nook-test-issuer', fs.readFileSync(key, 'utf8'), fs.readFileSync(cert, 'utf8'), opts.anonymous ?? true);
    await token.start();
    extra.token = token;
    extra.rootcert = cert;
  }
  let cert: string | undefined;
  if (opts.tls) {
    extra.tls = makeCert(dir, 'registry', 'IP:127.0.0.1');
    cert = extra.tls.cert;
  }

  // A free port can be taken between our check and the registry's bind: try a few.
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const config = path.join(dir, 'config.yml');
    fs.writeFileSync(config, registryConfig(dir, port, auth, extra));
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const host = `127.0.0.1:${port}`;
    const url = `${opts.tls ? 'https' : 'http'}://${host}`;
    try {
      await waitReady(url, child, () => stderr);
    } catch (e) {
      child.kill('SIGKILL');
      if (tries < 3 && /address already in use/.test(stderr)) continue;
      await token?.stop();
      throw e;
    }
    const [username, password] = Object.entries(users)[0] ?? ['', ''];
    const pushOpts: PushOptions = { tls: opts.tls, auth: auth === 'none' ? undefined : { username, password } };
    return {
      host,
      port,
      url,
      dir,
      auth,
      users,
      user: { username, password },
      token,
      cert,
      pushOpts,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
        await token?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

// ---------------------------------------------------------------- pushing

export interface PushOptions {
  auth?: { username: string; password: string };
  /** The registry speaks HTTPS (certificates are not checked). */
  tls?: boolean;
}

export interface TestImage {
  config: object;
  /** Layer contents, already compressed as they should be stored. */
  layers: Buffer[];
  /** Default: OCI or Docker gzip layer type, per format. */
  layerMediaType?: string;
  /** Manifest format: OCI (default) or Docker schema 2. */
  format?: 'oci' | 'docker';
}

export interface BlobDesc {
  mediaType: string;
  digest: string;
  size: number;
}

export interface DescribedImage {
  manifest: Buffer;
  mediaType: string;
  digest: string;
  size: number;
  config: BlobDesc & { data: Buffer };
  layers: (BlobDesc & { data: Buffer })[];
}

const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

/** The manifest an image will have, with its digest and size, without pushing anything. */
export function describeImage(image: TestImage): DescribedImage {
  const oci = (image.format ?? 'oci') === 'oci';
  const configData = Buffer.from(JSON.stringify(image.config));
  const config = { mediaType: oci ? MT.ociConfig : MT.dockerConfig, digest: sha256(configData), size: configData.length, data: configData };
  const layerType = image.layerMediaType ?? (oci ? MT.ociLayer : MT.dockerLayer);
  const layers = image.layers.map((data) => ({ mediaType: layerType, digest: sha256(data), size: data.length, data }));
  const mediaType = oci ? MT.ociManifest : MT.dockerManifest;
  const strip = ({ mediaType: m, digest, size }: BlobDesc) => ({ mediaType: m, digest, size });
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: strip(config), layers: layers.map(strip) }));
  return { manifest, mediaType, digest: sha256(manifest), size: manifest.length, config, layers };
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function rawRequest(url: URL, method: string, headers: Record<string, string>, body?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Requests to one repository, answering Basic and Bearer challenges with push scope. */
class PushSession {
  private authorization?: string;
  constructor(
    readonly base: URL,
    readonly repo: string,
    readonly opts: PushOptions,
  ) {}

  async call(method: string, pathOrUrl: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RawResponse> {
    const url = new URL(pathOrUrl, this.base);
    for (let round = 0; ; round++) {
      const h = { ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) };
      const res = await rawRequest(url, method, h, body);
      if (res.status !== 401 || round > 0) return res;
      await this.authenticate(String(res.headers['www-authenticate'] ?? ''));
    }
  }

  private async authenticate(challenge: string): Promise<void> {
    const creds = this.opts.auth;
    const basic = creds && `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    if (/^Basic/i.test(challenge)) {
      if (!basic) throw new Error('the registry wants Basic auth: pass opts.auth');
      this.authorization = basic;
      return;
    }
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${this.repo}:pull,push`);
    const res = await rawRequest(realm, 'GET', basic ? { authorization: basic } : {});
    if (res.status !== 200) throw new Error(`token server answered ${res.status}: ${res.body}`);
    this.authorization = `Bearer ${JSON.parse(res.body.toString()).token}`;
  }
}

function session(host: string, repo: string, opts: PushOptions = {}): PushSession {
  return new PushSession(new URL(`${opts.tls ? 'https' : 'http'}://${host}/`), repo, opts);
}

async function expectStatus(res: RawResponse, want: number[], what: string): Promise<void> {
  if (!want.includes(res.status)) throw new Error(`${what}: HTTP ${res.status}: ${res.body.toString().slice(0, 500)}`);
}

/** Uploads a blob (monolithic: POST, then PUT ?digest=), unless the registry has it. */
export async function pushBlob(host: string, repo: string, data: Buffer, opts: PushOptions = {}, s = session(host, repo, opts)): Promise<string> {
  const digest = sha256(data);
  const head = await s.call('HEAD', `/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return digest;
  const start = await s.call('POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': '0' });
  await expectStatus(start, [202], `starting the upload of ${digest}`);
  const location = new URL(String(start.headers.location), s.base);
  location.searchParams.set('digest', digest);
  const put = await s.call('PUT', location.href, { 'content-type': 'application/octet-stream' }, data);
  await expectStatus(put, [201], `uploading ${digest}`);
  return digest;
}

/** PUTs a manifest (or index) body under `ref` (a tag or its digest); returns its digest. */
export async function pushManifest(host: string, repo: string, ref: string, body: Buffer, mediaType: string, opts: PushOptions = {}, s = session(host, repo, opts)): Promise<string> {
  const res = await s.call('PUT', `/v2/${repo}/manifests/${ref}`, { 'content-type': mediaType }, body);
  await expectStatus(res, [201], `pushing the manifest ${repo}:${ref}`);
  const digest = sha256(body);
  if (res.headers['docker-content-digest'] && res.headers['docker-content-digest'] !== digest)
    throw new Error(`the registry computed ${res.headers['docker-content-digest']} for a manifest whose digest is ${digest}`);
  return digest;
}

/** Publishes an image (its blobs, then its manifest under `ref`); returns the manifest digest. */
export async function pushImage(host: string, repo: string, ref: string, image: TestImage, opts: PushOptions = {}): Promise<string> {
  const s = session(host, repo, opts);
  const d = describeImage(image);
  await pushBlob(host, repo, d.config.data, opts, s);
  for (const l of d.layers) await pushBlob(host, repo, l.data, opts, s);
  return pushManifest(host, repo, ref, d.manifest, d.mediaType, opts, s);
}

export interface IndexEntry {
  digest: string;
  /** Looked up on the registry (HEAD) when not given. */
  size?: number;
  mediaType?: string;
  platform: { os: string; architecture: string; variant?: string };
}

/** Publishes an image index (multi-arch) of manifests already in the repository; returns its digest. */
export async function pushIndex(host: string, repo: string, tag: string, manifests: IndexEntry[], opts: PushOptions & { format?: 'oci' | 'docker' } = {}): Promise<string> {
  const s = session(host, repo, opts);
  const entries = [];
  for (const m of manifests) {
    let { size, mediaType } = m;
    if (size === undefined || mediaType === undefined) {
      const head = await s.call('HEAD', `/v2/${repo}/manifests/${m.digest}`, { accept: [MT.ociManifest, MT.dockerManifest].join(', ') });
      await expectStatus(head, [200], `looking up ${m.digest}`);
      size ??= Number(head.headers['content-length']);
      mediaType ??= String(head.headers['content-type']);
    }
    entries.push({ mediaType, digest: m.digest, size, platform: m.platform });
  }
  const mediaType = opts.format === 'docker' ? MT.dockerList : MT.ociIndex;
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries }));
  return pushManifest(host, repo, tag, body, mediaType, opts, s);
}

/** A gzip layer of `size` pseudo-random bytes (random data: gzip cannot shrink it, so the blob is about `size`). */
export function randomLayer(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------- faulty proxy

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

// ---------------------------------------------------------------- environment and child processes

/**
 * Points HOME and XDG_CONFIG_HOME at fresh directories (no real
 * ~/.docker/config.json or registries.json can leak in), clears
 * REGISTRY_AUTH_FILE and DOCKER_CONFIG, and makes retries fast. Returns the
 * restore function.
 */
export function isolateEnv(): { home: string; config: string; restore: () => void } {
  const keys = ['HOME', 'XDG_CONFIG_HOME', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG', 'NOOK_RETRY_BASE_MS', 'NOOK_REGISTRY_TIMEOUT_MS'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  const home = tempDir('nook-home-');
  const config = path.join(home, 'xdg-config');
  process.env.HOME = home;
  process.env.XDG_CONFIG_HOME = config;
  delete process.env.REGISTRY_AUTH_FILE;
  delete process.env.DOCKER_CONFIG;
  process.env.NOOK_RETRY_BASE_MS = '5';
  return {
    home,
    config,
    restore() {
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * Bundles a TypeScript snippet that imports nook's sources (paths relative
 * to the repository) into a script a plain `node` runs, for tests that need
 * separate processes. It lives under build/out/, so that nook's native parts
 * are found as in development.
 */
export async function bundleScript(source: string): Promise<{ file: string; remove: () => void }> {
  const esbuild = await import('esbuild');
  fs.mkdirSync(path.join(REPO, 'build', 'out'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(REPO, 'build', 'out', 'test-registry-'));
  const file = path.join(dir, 'script.js');
  await esbuild.build({
    stdin: { contents: source, resolveDir: REPO, loader: 'ts', sourcefile: 'registry-test-script.ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: file,
    logLevel: 'error',
  });
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
