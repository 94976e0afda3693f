/**
 * A pull whose one layer fails cancels the others: their downloads and
 * retries stop before the pull gives up, so nothing is written into the
 * store once its lock is released and its helpers closed.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { pullImage } from '../../src/image/pull';
import { ImageStore } from '../../src/image/store/store';
import { FileLock } from '../../src/util/lock';
import { isolateEnv, pushImage, randomLayer, startProxy, startRegistry, tempDir, type FaultyProxy, type RegistryServer } from '../helpers/registry';

const layers = [1, 2, 3].map((seed) => randomLayer(300_000, seed));
const digests = layers.map((l) => `sha256:${createHash('sha256').update(l).digest('hex')}`);

let reg: RegistryServer;
let proxy: FaultyProxy;
let env: ReturnType<typeof isolateEnv>;
let root: string;
const retryBase = process.env.NOOK_RETRY_BASE_MS;

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startProxy(reg.host);
  await pushImage(reg.host, 'lib/three', 'v1', { config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: digests } }, layers });
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  env = isolateEnv();
  proxy.reset();
  root = tempDir('nook-store-');
  process.env.NOOK_RETRY_BASE_MS = '50';
});
afterEach(() => {
  env.restore();
  if (retryBase === undefined) delete process.env.NOOK_RETRY_BASE_MS;
  else process.env.NOOK_RETRY_BASE_MS = retryBase;
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every file under `dir` with its size. */
function tree(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.lstatSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

describe('a pull with a failing layer', () => {
  it('stops the other downloads and their retries before it fails; nothing is written after', async () => {
    // Layer 1 is missing (404: no retry); layers 2 and 3 keep being cut, and would be retried for long.
    proxy.fault({ kind: 'status', status: 404, match: new RegExp(`^GET /v2/.+/blobs/${digests[0]}`) });
    for (const d of digests.slice(1)) proxy.fault({ kind: 'cut', afterBytes: 20_000, times: 1000, match: new RegExp(`^GET /v2/.+/blobs/${d}`) });
    const store = new ImageStore(root);
    await expect(pullImage(store, `${proxy.host}/lib/three:v1`, { tlsVerify: false })).rejects.toThrow(/not found/);

    const files = tree(root);
    // The store lock is free at once: the pull holds nothing any more.
    const lock = FileLock.tryAcquire(store.p('store.lock'));
    expect(lock).toBeDefined();
    lock?.release();
    // A request nook sent and aborted just before may still reach the proxy: count from a moment later.
    await new Promise((r) => setTimeout(r, 150));
    const requests = proxy.log.length;
    await new Promise((r) => setTimeout(r, 1000));
    expect(proxy.log.slice(requests).map((e) => `${e.method} ${e.path}`)).toEqual([]);
    expect(tree(root)).toEqual(files);
    // No image, no layer, no finished blob of any layer; at most the partial downloads the next pull resumes.
    expect(Object.keys(files).filter((f) => /^(images|layers)\//.test(f) && !f.endsWith('.lock'))).toEqual([]);
    for (const d of digests) expect(fs.existsSync(store.blobs.path(d))).toBe(false);
  });
});
