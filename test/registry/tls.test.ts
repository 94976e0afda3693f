/**
 * Which transport a registry gets: HTTPS with verified certificates unless
 * it is declared insecure (--tls-verify=false, or registries.json); then
 * HTTPS without verification, falling back to plain HTTP.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlobStore } from '../../src/image/blobs';
import { RegistryClient } from '../../src/image/registry/client';
import { describeImage, isolateEnv, pushImage, startRegistry, tempDir, type RegistryServer, type TestImage } from '../helpers/registry';

const img: TestImage = { config: { architecture: 'amd64', os: 'linux' }, layers: [Buffer.from('tls layer')] };
let plain: RegistryServer;
let secure: RegistryServer;
let env: ReturnType<typeof isolateEnv>;
const digests: Record<string, string> = {};

beforeAll(async () => {
  [plain, secure] = await Promise.all([startRegistry(), startRegistry({ tls: true })]);
  digests.plain = await pushImage(plain.host, 'x/y', 'v1', img, plain.pushOpts);
  digests.secure = await pushImage(secure.host, 'x/y', 'v1', img, secure.pushOpts);
});
afterAll(async () => {
  await Promise.all([plain?.stop(), secure?.stop()]);
});
beforeEach(() => {
  env = isolateEnv();
});
const stores: BlobStore[] = [];
const newStore = () => stores[stores.push(new BlobStore(tempDir('nook-store-'))) - 1];
afterEach(() => {
  for (const s of stores.splice(0)) fs.rmSync(s.root, { recursive: true, force: true });
  env.restore();
});

function registriesJson(content: string): string {
  const file = path.join(env.config, 'nook', 'registries.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

describe('a plain-HTTP registry', () => {
  it('is refused by default (not even localhost is insecure), with a hint naming both ways out', async () => {
    const err = await new RegistryClient(plain.host, 'x/y').getManifest('v1').catch((e) => e);
    expect(err.message).toMatch(new RegExp(`^${plain.host}: TLS connection to ${plain.host} failed: .*\\(the server seems to speak plain HTTP\\)$`));
    expect(err.hint).toContain('--tls-verify=false');
    expect(err.hint).toContain(path.join(env.config, 'nook', 'registries.json'));
    expect(err.exitCode).toBe(125);
  });

  it('is used with tlsVerify=false', async () => {
    expect((await new RegistryClient(plain.host, 'x/y', { tlsVerify: false }).getManifest('v1')).digest).toBe(digests.plain);
  });

  it('is used when registries.json lists it, unless tlsVerify=true', async () => {
    registriesJson(JSON.stringify({ insecure: [plain.host] }));
    expect((await new RegistryClient(plain.host, 'x/y').getManifest('v1')).digest).toBe(digests.plain);
    await expect(new RegistryClient(plain.host, 'x/y', { tlsVerify: true }).getManifest('v1')).rejects.toThrow(/TLS connection .* failed/);
  });

  it('needs the exact host and port in registries.json', async () => {
    registriesJson(JSON.stringify({ insecure: ['127.0.0.1'] }));
    await expect(new RegistryClient(plain.host, 'x/y').getManifest('v1')).rejects.toThrow(/TLS connection .* failed/);
  });

  it('names a broken registries.json', async () => {
    const file = registriesJson('{"insecure": ');
    await expect(new RegistryClient(plain.host, 'x/y').getManifest('v1')).rejects.toThrow(`${file} is not valid JSON`);
    registriesJson('{"insecure": "127.0.0.1:5000"}');
    await expect(new RegistryClient(plain.host, 'x/y').getManifest('v1')).rejects.toThrow(/"insecure" must be a list of registry names/);
  });
});

describe('a registry with a self-signed certificate', () => {
  it('is refused by default, with the hint', async () => {
    const err = await new RegistryClient(secure.host, 'x/y').getManifest('v1').catch((e) => e);
    expect(err.message).toMatch(/TLS connection to 127\.0\.0\.1:\d+ failed: self-signed certificate/);
    expect(err.hint).toContain('--tls-verify=false');
  });

  it('is used over HTTPS without verification when insecure', async () => {
    const client = new RegistryClient(secure.host, 'x/y', { tlsVerify: false });
    expect((await client.getManifest('v1')).digest).toBe(digests.secure);
    const store = newStore();
    const layer = describeImage(img).layers[0];
    await client.fetchBlob(store, layer);
    expect(fs.readFileSync(store.path(layer.digest)).toString()).toBe('tls layer');
  });
});
