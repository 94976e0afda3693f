/**
 * `push` against real registries (Debian's docker-registry), watched
 * through a proxy that logs every request: blobs the repository has are
 * skipped, blobs of another repository of the registry are mounted, the rest
 * are uploaded (POST then PUT, or PATCH chunks), the manifest goes last with
 * its media type; Basic and token auth; refusals named with their status
 * and the registry's error code.
 *
 * The images are put into a nook store as a pull leaves them (manifest,
 * config and compressed blobs, and the record with the repo digest), without
 * extracting layers, which push never reads.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buildManifest } from '../../src/image/archive/manifest-build';
import { parseImageConfig } from '../../src/image/config';
import { parseManifest } from '../../src/image/manifest';
import { pushImage, type PushOptions } from '../../src/image/push';
import { BlobStore } from '../../src/image/blobs';
import { RegistryClient } from '../../src/image/registry/client';
import { recordImage } from '../../src/image/store/install';
import { ImageStore } from '../../src/image/store/store';
import {
  describeImage,
  isolateEnv,
  pushImage as publish,
  randomLayer,
  startProxy,
  startRegistry,
  tempDir,
  type FaultyProxy,
  type ProxyLogEntry,
  type RegistryServer,
  type TestImage,
} from '../helpers/registry';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** An image of `layers` random "compressed" layers (the registry never looks inside). */
function testImage(seed: number, sizes = [200_000, 150_000]): TestImage {
  const layers = sizes.map((n, i) => randomLayer(n, seed * 10 + i + 1));
  // diff_ids name the uncompressed layers; push never checks them, so the blobs' own digests do.
  return { config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, seed }, layers };
}

async function writeBlob(blobs: BlobStore, data: Buffer): Promise<void> {
  await pipeline(Readable.from([data]), blobs.writer(sha256(data), data.length));
}

/** Stores `image` as pulled from `ref` (host/repo:tag) would be, under the name `ref`. */
async function storePulled(store: ImageStore, ref: string): Promise<string> {
  const [, host, repo, tag] = /^([^/]+)\/(.+):([^:]+)$/.exec(ref)!;
  const client = new RegistryClient(host, repo, { tlsVerify: false });
  const top = await client.getManifest(tag);
  fs.mkdirSync(path.dirname(store.blobs.path(top.digest)), { recursive: true });
  fs.writeFileSync(store.blobs.path(top.digest), top.body);
  const manifest = parseManifest(top.body, top.mediaType);
  if (manifest.kind !== 'manifest') throw new Error('not an image');
  await client.fetchBlob(store.blobs, manifest.config);
  for (const l of manifest.layers) await client.fetchBlob(store.blobs, l);
  const config = parseImageConfig(fs.readFileSync(store.blobs.path(manifest.config.digest)), ref);
  await recordImage(
    store,
    {
      manifestDigest: top.digest,
      manifestMediaType: manifest.mediaType,
      configDigest: manifest.config.digest,
      config,
      layers: manifest.layers.map((l, i) => ({ ...l, diffId: config.rootfs.diff_ids[i] })),
      repoDigests: [`${host}/${repo}@${top.digest}`],
    },
    [ref],
  );
  return top.digest;
}

/** Stores `image` as a build would leave it: blobs and a manifest of its own, no repo digest. */
async function storeLocal(store: ImageStore, image: TestImage, name: string): Promise<{ digest: string; layers: string[] }> {
  const d = describeImage(image);
  await writeBlob(store.blobs, d.config.data);
  for (const l of d.layers) await writeBlob(store.blobs, l.data);
  const manifest = buildManifest(d.config, d.layers);
  fs.writeFileSync(store.blobs.path(manifest.digest), manifest.body);
  const config = parseImageConfig(d.config.data, name);
  await recordImage(
    store,
    {
      manifestDigest: manifest.digest,
      manifestMediaType: manifest.mediaType,
      configDigest: d.config.digest,
      config,
      layers: d.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.rootfs.diff_ids[i] })),
      repoDigests: [],
    },
    [name],
  );
  return { digest: manifest.digest, layers: d.layers.map((l) => l.digest) };
}

const requests = (log: ProxyLogEntry[], method: string, what: RegExp = /./) => log.filter((e) => e.method === method && what.test(e.path));
const BLOB_UPLOAD = /\/blobs\/uploads\//;

let reg: RegistryServer;
let proxy: FaultyProxy;
let env: ReturnType<typeof isolateEnv>;
let root: string;
let store: ImageStore;
const src = testImage(1);
const opts: PushOptions = { tlsVerify: false };

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startProxy(reg.host);
  await publish(reg.host, 'lib/src', 'v1', src);
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  env = isolateEnv();
  proxy.reset();
  root = tempDir('nook-store-');
  store = new ImageStore(root);
});
afterEach(() => {
  env.restore();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('push to the registry an image was pulled from', () => {
  it('mounts every blob from the source repository, and the manifest comes out byte for byte', async () => {
    const digest = await storePulled(store, `${proxy.host}/lib/src:v1`);
    proxy.reset();
    const result = await pushImage(store, `${proxy.host}/lib/src:v1`, `${proxy.host}/lib/copy:v2`, opts);
    expect(result.blobs).toEqual({ exists: 0, mounted: 3, uploaded: 0 });
    expect(result.digest).toBe(digest);
    expect(result.tag).toBe('v2');
    const mounts = requests(proxy.log, 'POST', BLOB_UPLOAD);
    expect(mounts.map((m) => [new URL(m.path, 'http://x').searchParams.get('from'), m.status])).toEqual([
      ['lib/src', 201],
      ['lib/src', 201],
      ['lib/src', 201],
    ]);
    expect(requests(proxy.log, 'PUT', /\/blobs\//)).toEqual([]);
    expect(requests(proxy.log, 'PATCH')).toEqual([]);
    // The manifest is the last request, once every blob is there.
    expect(`${proxy.log.at(-1)!.method} ${proxy.log.at(-1)!.path}`).toBe('PUT /v2/lib/copy/manifests/v2');
    const back = await new RegistryClient(reg.host, 'lib/copy', { tlsVerify: false }).getManifest('v2');
    expect(back.digest).toBe(digest);
    expect(back.body.equals(fs.readFileSync(store.blobs.path(digest)))).toBe(true);
    expect(back.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    // The record knows where else the image is now.
    expect(store.images()[0].repoDigests).toEqual([`${proxy.host}/lib/src@${digest}`, `${proxy.host}/lib/copy@${digest}`]);
  });

  it('a second push uploads nothing: HEAD finds every blob, then the manifest', async () => {
    await storePulled(store, `${proxy.host}/lib/src:v1`);
    await pushImage(store, `${proxy.host}/lib/src:v1`, `${proxy.host}/lib/again:v1`, opts);
    proxy.reset();
    const result = await pushImage(store, `${proxy.host}/lib/src:v1`, `${proxy.host}/lib/again:v1`, opts);
    expect(result.blobs).toEqual({ exists: 3, mounted: 0, uploaded: 0 });
    expect(proxy.log.map((e) => `${e.method} ${e.status}`).sort()).toEqual(['HEAD 200', 'HEAD 200', 'HEAD 200', 'PUT 201']);
  });
});

describe('uploads', () => {
  it('POSTs then PUTs each missing blob with its digest appended to the Location, and the manifest with its media type', async () => {
    const local = await storeLocal(store, testImage(2), 'localhost/built:v1');
    const result = await pushImage(store, 'localhost/built:v1', `${proxy.host}/team/built:v1`, opts);
    expect(result.blobs).toEqual({ exists: 0, mounted: 0, uploaded: 3 });
    expect(result.digest).toBe(local.digest);
    const puts = requests(proxy.log, 'PUT', BLOB_UPLOAD);
    expect(puts).toHaveLength(3);
    for (const p of puts) {
      const url = new URL(p.path, 'http://x');
      // distribution's Location carries _state: digest= comes after an &.
      expect(url.searchParams.get('_state')).toBeTruthy();
      expect(url.searchParams.get('digest')).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(p.status).toBe(201);
    }
    const store2 = new BlobStore(tempDir('nook-store-'));
    try {
      for (const digest of local.layers) {
        await new RegistryClient(reg.host, 'team/built', { tlsVerify: false }).fetchBlob(store2, { digest, size: fs.statSync(store.blobs.path(digest)).size });
        expect(fs.readFileSync(store2.path(digest)).equals(fs.readFileSync(store.blobs.path(digest)))).toBe(true);
      }
    } finally {
      fs.rmSync(store2.root, { recursive: true, force: true });
    }
    expect(store.images()[0].repoDigests).toEqual([`${proxy.host}/team/built@${local.digest}`]);
  });

  it('sends large blobs in PATCH chunks, then closes the upload with an empty PUT', async () => {
    const image = testImage(3, [250_000]);
    await storeLocal(store, image, 'localhost/chunky:v1');
    const result = await pushImage(store, 'localhost/chunky:v1', `${proxy.host}/team/chunky:v1`, { ...opts, chunkSize: 100_000 });
    expect(result.blobs.uploaded).toBe(2);
    const layer = describeImage(image).layers[0];
    const patches = requests(proxy.log, 'PATCH');
    // Only the layer is larger than a chunk; the config goes in one PUT.
    expect(patches.map((p) => p.status)).toEqual([202, 202, 202]);
    const close = requests(proxy.log, 'PUT', new RegExp(`digest=${encodeURIComponent(layer.digest)}`));
    expect(close).toHaveLength(1);
    expect(close[0].status).toBe(201);
    const back = new BlobStore(tempDir('nook-store-'));
    try {
      await new RegistryClient(reg.host, 'team/chunky', { tlsVerify: false }).fetchBlob(back, layer);
      expect(fs.readFileSync(back.path(layer.digest)).equals(layer.data)).toBe(true);
    } finally {
      fs.rmSync(back.root, { recursive: true, force: true });
    }
  });

  it('resumes a chunked upload from where the registry got after a connection reset', async () => {
    const image = testImage(4, [250_000]);
    await storeLocal(store, image, 'localhost/flaky:v1');
    proxy.fault({ kind: 'reset', match: /^PATCH /, times: 1 });
    // The first PATCH is reset: nothing reached the registry, and the upload goes on from byte 0 after asking.
    const result = await pushImage(store, 'localhost/flaky:v1', `${proxy.host}/team/flaky:v1`, { ...opts, chunkSize: 100_000 });
    expect(result.blobs.uploaded).toBe(2);
    const statuses = proxy.log.filter((e) => BLOB_UPLOAD.test(e.path)).map((e) => `${e.method} ${e.status}`);
    expect(statuses.filter((s) => s.startsWith('GET'))).toEqual(['GET 204']);
    expect(statuses.filter((s) => s.startsWith('PATCH'))).toEqual(['PATCH -1', 'PATCH 202', 'PATCH 202', 'PATCH 202']);
    const layer = describeImage(image).layers[0];
    expect((await new RegistryClient(reg.host, 'team/flaky', { tlsVerify: false }).getManifest('v1')).digest).toBe(result.digest);
    const back = new BlobStore(tempDir('nook-store-'));
    try {
      await new RegistryClient(reg.host, 'team/flaky', { tlsVerify: false }).fetchBlob(back, layer);
    } finally {
      fs.rmSync(back.root, { recursive: true, force: true });
    }
  });

  it('retries a manifest PUT the registry answers with 503', async () => {
    await storeLocal(store, testImage(5), 'localhost/busy:v1');
    proxy.fault({ kind: 'status', status: 503, match: /^PUT \/v2\/.+\/manifests\//, times: 1 });
    const retries: string[] = [];
    const result = await pushImage(store, 'localhost/busy:v1', `${proxy.host}/team/busy:v1`, { ...opts, events: { retry: (what) => retries.push(what) } });
    expect(retries).toEqual([`manifest ${proxy.host}/team/busy:v1`]);
    expect((await new RegistryClient(reg.host, 'team/busy', { tlsVerify: false }).getManifest('v1')).digest).toBe(result.digest);
  });

  it('reports the progress of each blob up to its size, then how it got there', async () => {
    await storeLocal(store, testImage(6), 'localhost/progress:v1');
    const seen = new Map<string, string[]>();
    const done = new Map<string, number>();
    await pushImage(store, 'localhost/progress:v1', `${proxy.host}/team/progress:v1`, {
      ...opts,
      events: {
        blob: (digest, state, n) => {
          const states = seen.get(digest) ?? [];
          if (states.at(-1) !== state) states.push(state);
          seen.set(digest, states);
          if (state === 'pushing') done.set(digest, Math.max(done.get(digest) ?? 0, n ?? 0));
        },
      },
    });
    const d = describeImage(testImage(6));
    for (const l of d.layers) {
      expect(seen.get(l.digest)).toEqual(['waiting', 'pushing', 'pushed']);
      expect(done.get(l.digest)).toBe(l.size);
    }
  });
});

describe('--format', () => {
  it('docker: the same blobs under a Docker schema 2 manifest, which the registry serves as such', async () => {
    const image = testImage(13);
    const local = await storeLocal(store, image, 'localhost/fmt:v1');
    const result = await pushImage(store, 'localhost/fmt:v1', `${proxy.host}/team/fmt:docker`, { ...opts, format: 'docker' });
    expect(result.digest).not.toBe(local.digest);
    const back = await new RegistryClient(reg.host, 'team/fmt', { tlsVerify: false }).getManifest('docker');
    expect(back.digest).toBe(result.digest);
    expect(back.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const doc = JSON.parse(back.body.toString());
    expect(doc.config).toEqual({ mediaType: 'application/vnd.docker.container.image.v1+json', digest: describeImage(image).config.digest, size: describeImage(image).config.size });
    expect(doc.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest])).toEqual(
      local.layers.map((d) => ['application/vnd.docker.image.rootfs.diff.tar.gzip', d]),
    );
    const oci = await pushImage(store, 'localhost/fmt:v1', `${proxy.host}/team/fmt:oci`, { ...opts, format: 'oci' });
    expect(oci.digest).toBe(local.digest); // the store's manifest is OCI already: pushed as it is
  });

  it('docker: refuses a zstd layer, which Docker\'s format cannot name', async () => {
    await storeLocal(store, { ...testImage(14), layerMediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, 'localhost/zstd:v1');
    const err = await pushImage(store, 'localhost/zstd:v1', `${proxy.host}/team/zstd:v1`, { ...opts, format: 'docker' }).catch((e) => e);
    expect(err.message).toMatch(/^localhost\/zstd:v1 cannot be pushed in Docker's format: layer sha256:[a-f0-9]{64} is application\/vnd.oci.image.layer.v1.tar\+zstd, which it has no media type for$/);
    expect(proxy.log).toEqual([]);
  });
});

describe('refusals and mistakes', () => {
  it('names the status and the error code of a refused upload, with a hint, exit 125', async () => {
    await storeLocal(store, testImage(7), 'localhost/refused:v1');
    const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
    proxy.fault({ kind: 'status', status: 403, body, match: /^POST /, times: 10 });
    const err = await pushImage(store, 'localhost/refused:v1', `${proxy.host}/team/refused:v1`, opts).catch((e) => e);
    expect(err.message).toMatch(new RegExp(`^${proxy.host} refused the upload of blob sha256:[a-f0-9]{64} to ${proxy.host}/team/refused: 403 Forbidden \\(DENIED: requested access to the resource is denied\\)$`));
    expect(err.hint).toMatch(/may not push to team\/refused/);
    expect(err.exitCode).toBe(125);
    // Nothing was recorded, and no manifest went out.
    expect(requests(proxy.log, 'PUT', /manifests/)).toEqual([]);
    expect(store.images()[0].repoDigests).toEqual([]);
  });

  it('says when an image is not in the store', async () => {
    const err = await pushImage(store, 'localhost/nothing:v1', undefined, opts).catch((e) => e);
    expect(err.message).toBe('No such image: localhost/nothing:v1');
    expect(err.hint).toMatch(/nook images/);
    expect(proxy.log).toEqual([]);
  });

  it('wants a destination for an image given by id', async () => {
    await storeLocal(store, testImage(8), 'localhost/byid:v1');
    const id = store.images()[0].id.slice(7, 19);
    const err = await pushImage(store, id, undefined, opts).catch((e) => e);
    expect(err.message).toBe(`${id} is an image id, not a name to push to`);
    const ok = await pushImage(store, id, `${proxy.host}/team/byid:v1`, opts);
    expect(ok.blobs.uploaded).toBe(3);
  });

  it('refuses a destination digest that is not the manifest\'s', async () => {
    await storeLocal(store, testImage(9), 'localhost/pinned:v1');
    const err = await pushImage(store, 'localhost/pinned:v1', `${proxy.host}/team/pinned@sha256:${'0'.repeat(64)}`, opts).catch((e) => e);
    expect(err.message).toMatch(/names digest sha256:0{64}, but the image's manifest is sha256:/);
  });
});

describe('authentication', () => {
  let basic: RegistryServer;
  let token: RegistryServer;
  const auths = (host: string, pass = 'wonderland') => ({ auths: { [host]: { auth: b64(`alice:${pass}`) } } });
  const writeAuth = (doc: object) => {
    const file = path.join(env.config, 'nook', 'auth.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(doc));
    return file;
  };

  beforeAll(async () => {
    [basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
    await publish(token.host, 'src/app', 'v1', src, token.pushOpts);
  });
  afterAll(async () => {
    await Promise.all([basic?.stop(), token?.stop()]);
  });
  beforeEach(() => {
    token.token!.requests.length = 0;
  });

  it('Basic: without credentials the push is refused with 401 and a hint to log in; with them it goes through', async () => {
    const local = await storeLocal(store, testImage(10), 'localhost/basic:v1');
    const err = await pushImage(store, 'localhost/basic:v1', `${basic.host}/team/app:v1`, opts).catch((e) => e);
    expect(err.message).toMatch(new RegExp(`^${basic.host} refused the check for blob sha256:[a-f0-9]{64} in ${basic.host}/team/app: 401 Unauthorized \\(no credentials for ${basic.host}\\)$`));
    expect(err.hint).toBe(`pushing needs a login: \`nook login ${basic.host}\` (or --authfile FILE)`);
    writeAuth(auths(basic.host));
    const result = await pushImage(store, 'localhost/basic:v1', `${basic.host}/team/app:v1`, opts);
    expect(result.digest).toBe(local.digest);
    const back = await new RegistryClient(basic.host, 'team/app', { tlsVerify: false }).getManifest('v1');
    expect(back.digest).toBe(local.digest);
  });

  it('Basic: wrong credentials are named with where they come from', async () => {
    await storeLocal(store, testImage(11), 'localhost/basic:v2');
    const file = writeAuth(auths(basic.host, 'wrong'));
    const err = await pushImage(store, 'localhost/basic:v2', `${basic.host}/team/app:v2`, opts).catch((e) => e);
    expect(err.message).toMatch(/401 Unauthorized/);
    expect(err.hint).toContain(file);
    expect(err.hint).toContain('alice');
  });

  it('token: anonymous callers get pull tokens only, and the push is refused', async () => {
    await storeLocal(store, testImage(12), 'localhost/anon:v1');
    const err = await pushImage(store, 'localhost/anon:v1', `${token.host}/team/anon:v1`, opts).catch((e) => e);
    expect(err.message).toMatch(/ refused the upload of blob sha256:[a-f0-9]{64} to .*team\/anon: 401 Unauthorized \(UNAUTHORIZED: authentication required\)$/);
    expect(err.hint).toMatch(/pushing needs a login/);
    expect(token.token!.requests[0].scopes).toEqual(['repository:team/anon:pull,push']);
  });

  it('token: asks for push,pull on the target and pull on the source repository, and mounts from it', async () => {
    writeAuth(auths(token.host));
    const digest = await storePulled(store, `${token.host}/src/app:v1`);
    token.token!.requests.length = 0;
    const result = await pushImage(store, `${token.host}/src/app:v1`, `${token.host}/team/copy:v1`, opts);
    expect(result.blobs).toEqual({ exists: 0, mounted: 3, uploaded: 0 });
    expect(result.digest).toBe(digest);
    expect(token.token!.requests.map((r) => [r.user, r.scopes])).toEqual([['alice', ['repository:team/copy:pull,push', 'repository:src/app:pull']]]);
    const back = await new RegistryClient(token.host, 'team/copy', { tlsVerify: false }).getManifest('v1');
    expect(back.digest).toBe(digest);
  });
});
