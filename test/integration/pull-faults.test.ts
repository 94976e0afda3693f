/**
 * Pulls that go wrong, with the real binary as an unprivileged user: hostile
 * layers, corrupt blobs, a pull killed midway, many pulls at once, and
 * registries that want credentials.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/files';
import { layersImage, publishTestImages, rootOnlyImage } from '../helpers/images';
import { makeLayer } from '../helpers/layers';
import { runNook, show, startNook, type NookOptions } from '../helpers/nook';
import { describeImage, pushImage, startProxy, startRegistry, type FaultyProxy, type RegistryServer } from '../helpers/registry';
import { need, type TestUser } from '../helpers/users';

const PLAIN = '--tls-verify=false';
let registry: RegistryServer;
let proxy: FaultyProxy;
let images: Awaited<ReturnType<typeof publishTestImages>>;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'none' });
  images = await publishTestImages(registry.host);
  proxy = await startProxy(registry.host);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

function storeFor(user: TestUser): { root: string; opts: NookOptions } {
  const root = path.join(scratchDir(user, 'store-'), 'nook');
  return { root, opts: { user, env: { NOOK_ROOT: root, NOOK_RETRY_BASE_MS: '5' }, timeoutMs: 60_000 } };
}

const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

describe('hostile layers are refused and nothing is written outside the store', () => {
  const cases: [string, object[]][] = [
    ['a ../ path', [{ path: `../escape-${process.pid}`, content: 'x' }]],
    ['an absolute path', [{ path: `/tmp/nook-abs-${process.pid}`, content: 'x' }]],
    ['a path through a symlink', [{ path: 'evil', type: 'symlink', linkname: '/tmp' }, { path: `evil/nook-sym-${process.pid}`, content: 'x' }]],
    ['a hardlink to a host file', [{ path: 'pw', type: 'hardlink', linkname: '/etc/passwd' }]],
  ];
  for (const [what, entries] of cases)
    it(`with ${what}`, async (ctx) => {
      const user = need(ctx, 'sub');
      const { root, opts } = storeFor(user);
      const repo = `nook/evil-${what.replace(/\W+/g, '-')}`;
      const img = rootOnlyImage();
      const layer = makeLayer(entries as never, { compression: 'gzip' });
      const tar = makeLayer(entries as never);
      const { createHash } = await import('node:crypto');
      const cfg = img.config as { rootfs: { diff_ids: string[] } };
      cfg.rootfs.diff_ids.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
      await pushImage(registry.host, repo, 'latest', { ...img, layers: [...img.layers, layer] });
      const r = await runNook(['pull', PLAIN, `${registry.host}/${repo}:latest`], opts);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr).toMatch(/refus|outside|unsafe|absolute|\.\.|symlink|link/i);
      expect(list(path.join(root, 'images'))).toEqual([]);
      expect(fs.existsSync(path.join(root, 'layers', `escape-${process.pid}`))).toBe(false);
      expect(fs.existsSync(path.join(path.dirname(root), `escape-${process.pid}`))).toBe(false);
      expect(fs.existsSync(`/tmp/nook-abs-${process.pid}`)).toBe(false);
      expect(fs.existsSync(`/tmp/nook-sym-${process.pid}`)).toBe(false);
    });
});

describe('an image whose config lies about a layer', () => {
  it('is refused: the uncompressed layer must hash to its diff_id', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    const img = rootOnlyImage('liar');
    (img.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids[0] = `sha256:${'ab'.repeat(32)}`;
    await pushImage(registry.host, 'nook/liar', 'latest', img);
    const r = await runNook(['pull', PLAIN, `${registry.host}/nook/liar:latest`], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/does not match its diff_id/);
    expect(list(path.join(root, 'images'))).toEqual([]);
    expect(list(path.join(root, 'layers')).filter((d) => d !== 'tmp')).toEqual([]);
  });
});

describe('corrupt and interrupted downloads', () => {
  it('a blob that does not match its digest is rejected and not stored', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    proxy.reset();
    const d = describeImage(layersImage());
    const victim = d.layers[1].digest;
    proxy.fault({ kind: 'corrupt', times: 10, match: new RegExp(`^GET /v2/.+/blobs/${victim}`) });
    const r = await runNook(['pull', PLAIN, `${proxy.host}/nook/layers:v1`], opts);
    proxy.reset();
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/corrupt/);
    expect(list(path.join(root, 'blobs', 'sha256'))).not.toContain(victim.slice(7));
    expect(list(path.join(root, 'images'))).toEqual([]);
  });

  it('a pull killed with SIGKILL midway is finished by the next one, which fetches only the rest', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    const big = randomBytes(24 << 20);
    const img = rootOnlyImage('big');
    const entries = [{ path: 'big', content: big }];
    const { createHash } = await import('node:crypto');
    (img.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.push(`sha256:${createHash('sha256').update(makeLayer(entries)).digest('hex')}`);
    const bigLayer = makeLayer(entries, { compression: 'gzip' });
    const bigDigest = `sha256:${createHash('sha256').update(bigLayer).digest('hex')}`;
    await pushImage(registry.host, 'nook/big', 'latest', { ...img, layers: [...img.layers, bigLayer] });

    proxy.reset();
    proxy.fault({ kind: 'stall', afterBytes: 8 << 20, match: new RegExp(`^GET /v2/.+/blobs/${bigDigest}`) });
    const first = startNook(['pull', PLAIN, `${proxy.host}/nook/big:latest`], opts);
    // The partial download appears once the first bytes are on disk; the proxy then holds the rest back.
    const partial = path.join(root, 'blobs', 'partial', bigDigest.slice(7));
    await expect.poll(() => (fs.existsSync(partial) ? fs.statSync(partial).size : 0), { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(8 << 20);
    process.kill(first.pid, 'SIGKILL');
    await first.processExited;
    proxy.releaseStalled();
    proxy.reset();

    const second = await runNook(['pull', PLAIN, `${proxy.host}/nook/big:latest`], opts);
    expect(second.code, show(second)).toBe(0);
    const gets = proxy.blobGets(bigDigest);
    expect(gets.length).toBeGreaterThanOrEqual(1);
    expect(gets[0].range).toMatch(/^bytes=\d+-$/);
    expect(Number(gets[0].range!.slice(6, -1))).toBeGreaterThanOrEqual(8 << 20);
    expect(gets.reduce((n, g) => n + g.bytes, 0)).toBeLessThan(bigLayer.length - (8 << 20) + 1);
    const r = await runNook(['run', `${proxy.host}/nook/big:latest`, 'sh', '-c', 'wc -c < /big'], opts);
    expect(r.stdout.trim()).toBe(String(big.length));
    expect(list(path.join(root, 'blobs', 'partial')).filter((f) => !f.endsWith('.lock'))).toEqual([]);
  });
});

describe('a pull killed while extracting', () => {
  it('leaves a store the next pull completes, and prune clears the half-extracted layer', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    const img = rootOnlyImage('many-files');
    const entries = Array.from({ length: 20000 }, (_, i) => ({ path: `files/${i % 100}/${i}`, content: `${i}\n` }));
    const { createHash } = await import('node:crypto');
    (img.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.push(`sha256:${createHash('sha256').update(makeLayer(entries)).digest('hex')}`);
    await pushImage(registry.host, 'nook/many-files', 'latest', { ...img, layers: [...img.layers, makeLayer(entries, { compression: 'gzip' })] });
    const ref = `${registry.host}/nook/many-files:latest`;

    const first = startNook(['pull', PLAIN, ref], opts);
    const tmp = path.join(root, 'layers', 'tmp');
    // A layer being extracted lives in layers/tmp until it is complete.
    await expect.poll(() => list(tmp).length, { timeout: 20_000, interval: 10 }).toBeGreaterThan(0);
    process.kill(first.pid, 'SIGKILL');
    await first.processExited;
    expect(list(path.join(root, 'images'))).toEqual([]);

    const second = await runNook(['pull', PLAIN, ref], opts);
    expect(second.code, show(second)).toBe(0);
    const r = await runNook(['run', ref, 'sh', '-c', 'find /files -type f | wc -l'], opts);
    expect(r.stdout.trim()).toBe('20000');
    const prune = await runNook(['image', 'prune'], opts);
    expect(prune.code, show(prune)).toBe(0);
    expect(list(tmp)).toEqual([]);
    expect(list(path.join(root, 'images'))).toHaveLength(1);
  });
});

describe('concurrent pulls', () => {
  it('eight pulls of the same image at once all succeed and store one copy', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    const results = await Promise.all(Array.from({ length: 8 }, () => runNook(['pull', '-q', PLAIN, images.layers], opts)));
    for (const r of results) expect(r.code, show(r)).toBe(0);
    expect(new Set(results.map((r) => r.stdout)).size).toBe(1);
    expect(list(path.join(root, 'images'))).toHaveLength(1);
    expect(list(path.join(root, 'layers')).filter((d) => d !== 'tmp')).toHaveLength(3);
    expect(list(path.join(root, 'layers', 'tmp'))).toEqual([]);
    const run = await runNook(['run', images.layers, 'cat', '/etc/motd'], opts);
    expect(run.stdout).toBe('hello from layer 3\n');
    expect(run.stderr).toBe('');
  });
});

describe('registries that want credentials', () => {
  it('basic auth: refused without credentials, pulls after nook login', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    const reg = await startRegistry({ auth: 'htpasswd' });
    try {
      await pushImage(reg.host, 'nook/private', 'latest', rootOnlyImage('private'), reg.pushOpts);
      const ref = `${reg.host}/nook/private:latest`;
      const config = scratchDir(user, 'xdg-');
      const env = { ...opts.env!, XDG_CONFIG_HOME: config };
      const denied = await runNook(['pull', PLAIN, ref], { ...opts, env });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/nook login/);
      const bad = await runNook(['login', PLAIN, '-u', 'alice', '--password-stdin', reg.host], { ...opts, env, input: 'wrong\n' });
      expect(bad.code).toBe(1);
      const login = await runNook(['login', PLAIN, '-u', 'alice', '--password-stdin', reg.host], { ...opts, env, input: 'wonderland\n' });
      expect(login.code, show(login)).toBe(0);
      expect(login.stdout).toMatch(/Login Succeeded/);
      expect(fs.statSync(path.join(config, 'nook', 'auth.json')).mode & 0o777).toBe(0o600);
      const r = await runNook(['run', PLAIN, ref], { ...opts, env });
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe('private\n');
      expect((await runNook(['logout', reg.host], { ...opts, env })).code).toBe(0);
      expect((await runNook(['pull', PLAIN, ref], { ...opts, env: { ...env, NOOK_ROOT: path.join(scratchDir(user, 'store-'), 'nook') } })).code).toBe(1);
    } finally {
      await reg.stop();
    }
  });

  it('bearer tokens: an anonymous pull gets a token from the realm', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    const reg = await startRegistry({ auth: 'token', anonymous: true });
    try {
      await pushImage(reg.host, 'nook/public', 'latest', rootOnlyImage('public'), reg.pushOpts);
      const r = await runNook(['run', PLAIN, `${reg.host}/nook/public:latest`], opts);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe('public\n');
    } finally {
      await reg.stop();
    }
  });
});
