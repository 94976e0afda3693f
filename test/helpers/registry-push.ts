/**
 * Pushing test images and indexes to a registry through its HTTP API,
 * independently of nook's client, so that tests of the client do not rest on
 * it. Answers Basic and Bearer (token) challenges with push scope.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';

const sha256 = (b: Buffer | string) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

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
