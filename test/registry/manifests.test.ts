/**
 * Manifests from a real registry (docker-registry), directly and through a
 * proxy that injects faults: by tag and by digest, both formats, indexes
 * with platform selection, retries, and the errors a user reads.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/image/registry/client';
import { MediaType, parseManifest, selectPlatform, type ImageIndex, type ImageManifest } from '../../src/image/manifest';
import { describeImage, freePort, isolateEnv, pushImage, pushIndex, startProxy, startRegistry, type FaultyProxy, type RegistryServer, type TestImage } from '../helpers/registry';

const MANIFESTS = /^GET \/v2\/.+\/manifests\//;
const image = (arch: string, layer: string, format?: 'oci' | 'docker'): TestImage => ({
  config: { architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['/bin/sh'] } },
  layers: [Buffer.from(layer)],
  format,
});

let reg: RegistryServer;
let proxy: FaultyProxy;
let env: ReturnType<typeof isolateEnv>;
const pushed: Record<string, string> = {};

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startProxy(reg.host);
  pushed.v1 = await pushImage(reg.host, 'lib/app', 'v1', image('amd64', 'layer one'));
  pushed.docker = await pushImage(reg.host, 'lib/app', 'docker', image('amd64', 'layer two', 'docker'));
  pushed.amd64 = await pushImage(reg.host, 'lib/multi', 'amd64', image('amd64', 'amd64 layer'));
  pushed.arm64 = await pushImage(reg.host, 'lib/multi', 'arm64', image('arm64', 'arm64 layer', 'docker'));
  pushed.index = await pushIndex(reg.host, 'lib/multi', 'latest', [
    { digest: pushed.amd64, platform: { os: 'linux', architecture: 'amd64' } },
    { digest: pushed.arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  env = isolateEnv();
  proxy.reset();
});
afterEach(() => env.restore());

const direct = (repo = 'lib/app') => new RegistryClient(reg.host, repo, { tlsVerify: false });
const proxied = (repo = 'lib/app', onRetry?: (what: string, attempt: number, err: Error) => void) =>
  new RegistryClient(proxy.host, repo, { tlsVerify: false, onRetry });

describe('manifests', () => {
  it('fetches a manifest by tag, with its digest and media type', async () => {
    const m = await direct().getManifest('v1');
    expect(m.digest).toBe(pushed.v1);
    expect(m.body.equals(describeImage(image('amd64', 'layer one')).manifest)).toBe(true);
    expect(m.mediaType).toBe(MediaType.OCI_MANIFEST);
    const parsed = parseManifest(m.body, m.mediaType) as ImageManifest;
    expect(parsed.kind).toBe('manifest');
    expect(parsed.layers[0].size).toBe('layer one'.length);
  });

  it('fetches a manifest by digest', async () => {
    const m = await direct().getManifest(pushed.v1);
    expect(m.digest).toBe(pushed.v1);
    expect(m.mediaType).toBe(MediaType.OCI_MANIFEST);
  });

  it('fetches Docker schema 2 manifests', async () => {
    const m = await direct().getManifest('docker');
    expect(m.digest).toBe(pushed.docker);
    expect(m.mediaType).toBe(MediaType.DOCKER_MANIFEST);
  });

  it('refuses a manifest whose content does not match the digest asked for', async () => {
    proxy.fault({ kind: 'corrupt', match: MANIFESTS });
    await expect(proxied().getManifest(pushed.v1)).rejects.toThrow(
      new RegExp(`manifest .*lib/app@${pushed.v1} from .* does not match its digest: its content hashes to sha256:[0-9a-f]{64}`),
    );
    expect(proxy.log.filter((e) => e.fault === 'corrupt')).toHaveLength(1);
  });

  it('resolves an index, then the manifest of the chosen platform', async () => {
    const client = direct('lib/multi');
    const top = await client.getManifest('latest');
    expect(top.digest).toBe(pushed.index);
    expect(top.mediaType).toBe(MediaType.OCI_INDEX);
    const index = parseManifest(top.body, top.mediaType) as ImageIndex;
    expect(index.kind).toBe('index');

    const arm = selectPlatform(index, { os: 'linux', architecture: 'arm64' }, 'lib/multi');
    expect(arm.digest).toBe(pushed.arm64);
    const m = await client.getManifest(arm.digest);
    expect(m.mediaType).toBe(MediaType.DOCKER_MANIFEST);
    const manifest = parseManifest(m.body, m.mediaType) as ImageManifest;
    expect(manifest.config.digest).toBe(describeImage(image('arm64', 'arm64 layer', 'docker')).config.digest);

    expect(() => selectPlatform(index, { os: 'linux', architecture: 's390x' }, 'lib/multi')).toThrow(/has no image for linux\/s390x/);
  });

  it('says "manifest unknown" for a missing tag and "repository not found" for a missing repository', async () => {
    const err = await direct().getManifest('nope').catch((e) => e);
    expect(err.message).toBe(`${reg.host}/lib/app:nope: manifest unknown`);
    expect(err.hint).toMatch(/it has (v1, docker|docker, v1)$/);
    await expect(direct('no/such/repo').getManifest('latest')).rejects.toThrow(new RegExp(`^${reg.host}/no/such/repo: repository not found$`));
  });
});

describe('retries', () => {
  it('retries 503 answers, and tells onRetry', async () => {
    proxy.fault({ kind: 'status', status: 503, match: MANIFESTS, times: 2 });
    const retries: [string, number, string][] = [];
    const m = await proxied('lib/app', (what, attempt, err) => retries.push([what, attempt, err.message])).getManifest('v1');
    expect(m.digest).toBe(pushed.v1);
    expect(retries.map((r) => r[1])).toEqual([2, 3]);
    expect(retries[0][0]).toMatch(/manifest .*lib\/app:v1/);
    expect(retries[0][2]).toMatch(/answered 503 Service Unavailable/);
    expect(proxy.log.filter((e) => MANIFESTS.test(`${e.method} ${e.path}`)).map((e) => e.status)).toEqual([503, 503, 200]);
  });

  it('gives up after a few attempts', async () => {
    proxy.fault({ kind: 'status', status: 502, match: MANIFESTS, times: Infinity });
    await expect(proxied().getManifest('v1')).rejects.toThrow(/answered 502 Bad Gateway .*\(gave up after 5 attempts\)/);
    expect(proxy.log.filter((e) => e.status === 502)).toHaveLength(5);
  });

  it('waits as long as a 429 Retry-After says', async () => {
    proxy.fault({ kind: 'status', status: 429, retryAfter: '1', match: MANIFESTS });
    const start = Date.now();
    const m = await proxied().getManifest('v1');
    expect(m.digest).toBe(pushed.v1);
    expect(Date.now() - start).toBeGreaterThanOrEqual(950);
  });

  it('fails at once when Retry-After asks for more than a minute', async () => {
    proxy.fault({ kind: 'status', status: 429, retryAfter: '3600', match: MANIFESTS });
    await expect(proxied().getManifest('v1')).rejects.toThrow(/is rate-limiting requests: it asks to wait 3600 s/);
    expect(proxy.log).toHaveLength(1);
  });

  it('retries a connection closed without an answer', async () => {
    proxy.fault({ kind: 'reset', match: MANIFESTS });
    const m = await proxied().getManifest('v1');
    expect(m.digest).toBe(pushed.v1);
    expect(proxy.log.map((e) => e.status)).toEqual([-1, 200]);
  });

  it('does not retry a 404', async () => {
    await expect(proxied().getManifest('missing')).rejects.toThrow(/manifest unknown/);
    expect(proxy.log.filter((e) => MANIFESTS.test(`${e.method} ${e.path}`))).toHaveLength(1);
  });
});

describe('errors', () => {
  it('names a web page answering instead of a registry', async () => {
    proxy.fault({ kind: 'html', match: MANIFESTS });
    const err = await proxied().getManifest('v1').catch((e) => e);
    expect(err.message).toMatch(/sent something that is not a manifest for .*lib\/app:v1 \(text\/html: "<!DOCTYPE html>/);
    expect(err.hint).toMatch(/is a container registry \(it answered like a web site\)/);
  });

  it('stops following redirects in a loop', async () => {
    proxy.fault({ kind: 'redirect', to: 'loop', match: MANIFESTS, times: Infinity });
    const err = await proxied().getManifest('v1').catch((e) => e);
    expect(err.message).toMatch(/too many redirects fetching http:\/\/127\.0\.0\.1:\d+\/v2\/lib\/app\/manifests\/v1 \(more than 10\)/);
    expect(proxy.log.length).toBe(11);
  });

  it('names host and port when the connection is refused', async () => {
    const port = await freePort();
    const err = await new RegistryClient(`127.0.0.1:${port}`, 'a/b', { tlsVerify: true }).getManifest('v1').catch((e) => e);
    expect(err.message).toBe(`cannot connect to 127.0.0.1:${port}: connection refused`);
    expect(err.exitCode).toBe(125);
    // Insecure: HTTPS and then plain HTTP were tried.
    const insecure = await new RegistryClient(`127.0.0.1:${port}`, 'a/b', { tlsVerify: false }).getManifest('v1').catch((e) => e);
    expect(insecure.message).toMatch(new RegExp(`cannot reach 127.0.0.1:${port} over HTTPS .* nor over plain HTTP \\(cannot connect to 127.0.0.1:${port}: connection refused\\)`));
  });

  it('names the host that does not resolve', async () => {
    await expect(new RegistryClient('registry.nonexistent.invalid:5000', 'a/b').getManifest('v1')).rejects.toThrow(
      /cannot resolve registry\.nonexistent\.invalid/,
    );
  });
});
