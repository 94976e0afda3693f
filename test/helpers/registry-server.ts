/**
 * A real registry for tests: Debian's docker-registry (distribution v2.8),
 * started per test file on a free port with its storage in a temporary
 * directory, optionally behind htpasswd (Basic) or token (Bearer) auth, with
 * a token server written here (Docker's token spec, RS256 JWTs signed by a
 * key made with the openssl CLI). Also the small things around it: free
 * ports, temporary directories, self-signed certificates.
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
import type { PushOptions } from './registry-push';

export const REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? '/usr/bin/docker-registry';

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

/** Listens on a free port of `host`; returns the port. */
export async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((r, j) => server.once('error', j).listen(0, host, r));
  return (server.address() as net.AddressInfo).port;
}

/** Closes a server, dropping its open (keep-alive) connections. */
export async function close(server: net.Server & { closeAllConnections?: () => void }): Promise<void> {
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
