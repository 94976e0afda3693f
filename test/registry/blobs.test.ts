/**
 * Blob downloads from a real registry through a proxy that injects faults:
 * verification while streaming, retries, resumption with Range (after a cut
 * connection, after a killed process), and ten processes fetching one blob.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { BlobStore } from '../../src/image/blobs';
import { RegistryClient } from '../../src/image/registry/client';
import {
  bundleScript,
  isolateEnv,
  pushImage,
  randomLayer,
  startProxy,
  startRegistry,
  tempDir,
  type FaultyProxy,
  type RegistryServer,
} from '../helpers/registry';

const SIZE = 600_000;
const layer = randomLayer(SIZE, 7);
const blob = { digest: 'sha256:' + createHash('sha256').update(layer).digest('hex'), size: SIZE };
const hex = blob.digest.slice(7);

let reg: RegistryServer;
let proxy: FaultyProxy;
let env: ReturnType<typeof isolateEnv>;
let store: BlobStore;
let child: Awaited<ReturnType<typeof bundleScript>>;

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startProxy(reg.host);
  await pushImage(reg.host, 'lib/big', 'v1', { config: { architecture: 'amd64', os: 'linux' }, layers: [layer] });
  child = await bundleScript(`
    import { RegistryClient } from './src/image/registry/client';
    import { BlobStore } from './src/image/blobs';
    const [host, repo, root, digest, size] = process.argv.slice(2);
    new RegistryClient(host, repo, { tlsVerify: false })
      .fetchBlob(new BlobStore(root), { digest, size: Number(size) })
      .then(() => { process.stdout.write('ok\\n'); process.exit(0); }, (e) => { process.stdout.write(String(e.message) + '\\n'); process.exit(1); });
  `);
});
afterAll(async () => {
  child?.remove();
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => {
  env = isolateEnv();
  proxy.reset();
  store = new BlobStore(tempDir('nook-store-'));
});
afterEach(() => {
  fs.rmSync(store.root, { recursive: true, force: true });
  env.restore();
});

const client = () => new RegistryClient(proxy.host, 'lib/big', { tlsVerify: false });
const ls = (dir: string) => (fs.existsSync(path.join(store.root, 'blobs', dir)) ? fs.readdirSync(path.join(store.root, 'blobs', dir)) : []);
const stored = () => fs.readFileSync(store.path(blob.digest));
const served = () => proxy.blobGets(blob.digest).reduce((n, e) => n + e.bytes, 0);

function writePartial(data: Buffer): void {
  fs.mkdirSync(path.dirname(store.partialPath(blob.digest)), { recursive: true });
  fs.writeFileSync(store.partialPath(blob.digest), data);
}

describe('downloads', () => {
  it('stores a verified blob and reports progress up to its size', async () => {
    const progress: number[] = [];
    await client().fetchBlob(store, blob, (n) => progress.push(n));
    expect(stored().equals(layer)).toBe(true);
    expect(ls('sha256')).toEqual([hex]);
    expect(ls('partial')).toEqual([]); // neither the partial file nor its lock stays
    expect(progress.at(-1)).toBe(SIZE);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(served()).toBe(SIZE);
  });

  it('does not download a blob the store has', async () => {
    await client().fetchBlob(store, blob);
    await client().fetchBlob(store, blob);
    expect(proxy.blobGets(blob.digest)).toHaveLength(1);
  });

  it('downloads a corrupt blob once more, from scratch', async () => {
    proxy.fault({ kind: 'corrupt' });
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    const gets = proxy.blobGets(blob.digest);
    expect(gets.map((g) => [g.fault, g.range])).toEqual([['corrupt', undefined], [undefined, undefined]]);
  });

  it('rejects a blob that stays corrupt, and nothing appears in blobs/sha256', async () => {
    proxy.fault({ kind: 'corrupt', times: Infinity });
    const err = await client().fetchBlob(store, blob).catch((e) => e);
    expect(err.message).toMatch(new RegExp(`^blob ${blob.digest} from ${proxy.host} is corrupt: its content hashes to sha256:[0-9a-f]{64}$`));
    expect(err.exitCode).toBe(125);
    expect(ls('sha256')).toEqual([]);
    expect(proxy.blobGets(blob.digest)).toHaveLength(2);
    expect(fs.statSync(store.partialPath(blob.digest)).size).toBe(0); // no corrupt bytes kept for a resume
  });

  it('rejects content longer than the descriptor says', async () => {
    const short = { digest: blob.digest, size: SIZE - 10 };
    await expect(client().fetchBlob(store, short)).rejects.toThrow(/is larger than the 599990 bytes announced/);
    expect(ls('sha256')).toEqual([]);
  });

  it('says when the registry does not have the blob, without retrying', async () => {
    const missing = { digest: 'sha256:' + 'ab'.repeat(32), size: 10 };
    await expect(client().fetchBlob(store, missing)).rejects.toThrow(new RegExp(`blob ${missing.digest} not found in ${proxy.host}/lib/big`));
    expect(proxy.blobGets(missing.digest)).toHaveLength(1);
  });
});

describe('retries and resumption', () => {
  it('retries 503, 429 with Retry-After, and a connection closed before the answer', async () => {
    proxy.fault({ kind: 'status', status: 503 }).fault({ kind: 'status', status: 429, retryAfter: '0' }).fault({ kind: 'reset' });
    const retries: string[] = [];
    await new RegistryClient(proxy.host, 'lib/big', { tlsVerify: false, onRetry: (_w, a, e) => retries.push(`${a}: ${e.message}`) }).fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest).map((g) => g.status)).toEqual([503, 429, -1, 200]);
    expect(retries).toHaveLength(3);
    expect(retries[1]).toMatch(/^3: .*rate-limiting/);
    expect(retries[2]).toMatch(/^4: connection to 127\.0\.0\.1:\d+ was cut \(socket hang up\)/);
  });

  it('resumes with Range after the connection is cut, fetching only the rest', async () => {
    proxy.fault({ kind: 'cut', afterBytes: 250_000 });
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    const gets = proxy.blobGets(blob.digest);
    expect(gets.map((g) => [g.range, g.status, g.bytes])).toEqual([
      [undefined, 200, 250_000],
      ['bytes=250000-', 206, SIZE - 250_000],
    ]);
  });

  it('keeps going while a flaky connection makes progress, beyond the attempt limit', async () => {
    proxy.fault({ kind: 'cut', afterBytes: 50_000, times: 8 });
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest)).toHaveLength(9);
    expect(served()).toBe(SIZE);
  });

  it('resumes after a stalled connection times out', async () => {
    process.env.NOOK_REGISTRY_TIMEOUT_MS = '300';
    proxy.fault({ kind: 'stall', afterBytes: 100_000 });
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest).map((g) => g.range)).toEqual([undefined, 'bytes=100000-']);
  });

  it("continues a partial download left by a killed process, hashing what is there", async () => {
    writePartial(layer.subarray(0, 123_456));
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest).map((g) => [g.range, g.bytes])).toEqual([['bytes=123456-', SIZE - 123_456]]);
    expect(ls('partial')).toEqual([]);
  });

  it('starts over when the registry ignores Range and sends everything', async () => {
    writePartial(layer.subarray(0, 100_000));
    proxy.fault({ kind: 'ignore-range' });
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest).map((g) => [g.range, g.status, g.bytes])).toEqual([['bytes=100000-', 200, SIZE]]);
  });

  it('downloads again from scratch when the partial bytes were wrong', async () => {
    const bad = Buffer.from(layer.subarray(0, 100_000));
    bad[5] ^= 1;
    writePartial(bad);
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest).map((g) => g.range)).toEqual(['bytes=100000-', undefined]);
  });

  it('ignores a partial file longer than the blob', async () => {
    writePartial(Buffer.concat([layer, Buffer.from('junk')]));
    await client().fetchBlob(store, blob);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest).map((g) => [g.range, g.bytes])).toEqual([[undefined, SIZE]]);
  });
});

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

function runChild(host: string): { done: Promise<ChildResult>; kill: () => void } {
  const p = spawn(process.execPath, [child.file, host, 'lib/big', store.root, blob.digest, String(SIZE)], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return {
    done: new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, out: out.trim() }))),
    kill: () => p.kill('SIGKILL'),
  };
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('across processes', () => {
  it('finishes the download of a process killed with SIGKILL in the middle', async () => {
    proxy.fault({ kind: 'stall', afterBytes: 200_000 });
    const c = runChild(proxy.host);
    const partial = store.partialPath(blob.digest);
    await until('200000 bytes in the partial file', () => fs.existsSync(partial) && fs.statSync(partial).size === 200_000);
    c.kill();
    expect((await c.done).signal).toBe('SIGKILL');
    proxy.releaseStalled();
    expect(ls('sha256')).toEqual([]);

    await client().fetchBlob(store, blob); // the dead process's lock is gone with it
    expect(stored().equals(layer)).toBe(true);
    const gets = proxy.blobGets(blob.digest);
    expect(gets.map((g) => [g.range, g.bytes])).toEqual([
      [undefined, 200_000],
      ['bytes=200000-', SIZE - 200_000],
    ]);
  });

  it('ten processes fetching one blob: one download, one copy, all succeed', async () => {
    const children = Array.from({ length: 10 }, () => runChild(proxy.host));
    const results = await Promise.all(children.map((c) => c.done));
    expect(results.map((r) => [r.code, r.out])).toEqual(Array.from({ length: 10 }, () => [0, 'ok']));
    expect(ls('sha256')).toEqual([hex]);
    expect(stored().equals(layer)).toBe(true);
    expect(proxy.blobGets(blob.digest)).toHaveLength(1);
    expect(ls('partial')).toEqual([]);
    expect(ls('tmp')).toEqual([]);
  });

  it('in one process, concurrent fetches of one blob share one download', async () => {
    const stores = Array.from({ length: 5 }, () => new BlobStore(store.root));
    await Promise.all(stores.map((s) => client().fetchBlob(s, blob)));
    expect(ls('sha256')).toEqual([hex]);
    expect(proxy.blobGets(blob.digest)).toHaveLength(1);
  });
});
