import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobCorruptError, BlobStore } from '../../src/image/blobs';

const digestOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const roots: string[] = [];
const newStore = () => {
  roots.push(fs.mkdtempSync(path.join(os.tmpdir(), 'nook-blobs-')));
  return new BlobStore(roots.at(-1)!);
};
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
const tmpFiles = (s: BlobStore) => fs.readdirSync(path.join(s.root, 'blobs', 'tmp'));

describe('blob store', () => {
  const data = Buffer.from('hello layer '.repeat(1000));
  const digest = digestOf(data);

  it('stores verified content under its digest, streamed in chunks', async () => {
    const store = newStore();
    await pipeline(Readable.from([data.subarray(0, 100), data.subarray(100)]), store.writer(digest, data.length));
    expect(store.has(digest)).toBe(true);
    expect(fs.readFileSync(store.path(digest)).equals(data)).toBe(true);
    expect(tmpFiles(store)).toEqual([]);
  });

  it('rejects corrupt, short and long content and leaves nothing behind', async () => {
    const store = newStore();
    const corrupt = Buffer.from(data);
    corrupt[5] ^= 1;
    await expect(pipeline(Readable.from([corrupt]), store.writer(digest, data.length))).rejects.toThrow(/is corrupt: its content hashes to sha256:/);
    await expect(pipeline(Readable.from([data.subarray(1)]), store.writer(digest, data.length))).rejects.toThrow(/bytes, \d+ were announced/);
    await expect(pipeline(Readable.from([data, Buffer.from('x')]), store.writer(digest, data.length))).rejects.toThrow(/larger than/);
    expect(store.has(digest)).toBe(false);
    expect(tmpFiles(store)).toEqual([]);
  });

  it('lets concurrent writers of the same blob all succeed with one copy', async () => {
    const store = newStore();
    await Promise.all(Array.from({ length: 5 }, () => pipeline(Readable.from([data]), store.writer(digest, data.length))));
    expect(fs.readdirSync(path.join(store.root, 'blobs', 'sha256'))).toEqual([digest.slice(7)]);
    expect(tmpFiles(store)).toEqual([]);
  });

  it('refuses digests it cannot verify', () => {
    expect(() => newStore().path('md5:abc')).toThrow(/unsupported digest/);
  });
});

describe('partial downloads', () => {
  const data = Buffer.from('partial layer '.repeat(500));
  const digest = digestOf(data);
  const ls = (s: BlobStore, dir: string) => (fs.existsSync(path.join(s.root, 'blobs', dir)) ? fs.readdirSync(path.join(s.root, 'blobs', dir)) : []);

  it('appends, verifies and commits into blobs/sha256, leaving no partial or lock file', async () => {
    const store = newStore();
    const p = (await store.openPartial(digest, data.length))!;
    p.append(data.subarray(0, 1000));
    expect(store.has(digest)).toBe(false);
    p.append(data.subarray(1000));
    expect(p.complete).toBe(true);
    p.commit();
    p.close();
    expect(fs.readFileSync(store.path(digest)).equals(data)).toBe(true);
    expect(ls(store, 'partial')).toEqual([]);
    expect(await store.openPartial(digest, data.length)).toBeUndefined();
  });

  it('picks up the bytes a previous writer left, already hashed', async () => {
    const store = newStore();
    const first = (await store.openPartial(digest, data.length))!;
    first.append(data.subarray(0, 2500));
    first.close(); // as if the process had died: the bytes stay
    expect(fs.statSync(store.partialPath(digest)).size).toBe(2500);
    const second = (await store.openPartial(digest, data.length))!;
    expect(second.offset).toBe(2500);
    second.append(data.subarray(2500));
    second.commit();
    second.close();
    expect(fs.readFileSync(store.path(digest)).equals(data)).toBe(true);
  });

  it('empties a partial whose digest is wrong, and never commits it', async () => {
    const store = newStore();
    const p = (await store.openPartial(digest, data.length, { origin: 'from r.example' }))!;
    const bad = Buffer.from(data);
    bad[0] ^= 1;
    p.append(bad);
    expect(() => p.commit()).toThrow(BlobCorruptError);
    expect(p.offset).toBe(0);
    expect(() => p.commit()).toThrow(/has 0 bytes/);
    p.close();
    expect(store.has(digest)).toBe(false);
    expect(fs.statSync(store.partialPath(digest)).size).toBe(0);
  });

  it('names the origin in corruption messages and refuses content beyond the size', async () => {
    const store = newStore();
    const p = (await store.openPartial(digest, data.length, { origin: 'from r.example' }))!;
    expect(() => p.append(Buffer.concat([data, Buffer.from('x')]))).toThrow(`blob ${digest} from r.example is larger than the ${data.length} bytes announced`);
    const bad = Buffer.from(data);
    bad[9] ^= 1;
    p.append(bad);
    expect(() => p.commit()).toThrow(new RegExp(`^blob ${digest} from r.example is corrupt: its content hashes to sha256:[0-9a-f]{64}$`));
    p.close();
  });

  it('drops a partial file longer than the blob', async () => {
    const store = newStore();
    fs.mkdirSync(path.dirname(store.partialPath(digest)), { recursive: true });
    fs.writeFileSync(store.partialPath(digest), Buffer.concat([data, data]));
    const p = (await store.openPartial(digest, data.length))!;
    expect(p.offset).toBe(0);
    p.close();
  });

  it('lets one writer at a time own a partial; the next finds the blob done', async () => {
    const a = newStore();
    const b = new BlobStore(a.root);
    const owner = (await a.openPartial(digest, data.length))!;
    let waiterDone = false;
    const waiter = b.openPartial(digest, data.length).then((r) => {
      waiterDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(waiterDone).toBe(false);
    owner.append(data);
    owner.commit();
    owner.close();
    expect(await waiter).toBeUndefined();
    expect(ls(a, 'partial')).toEqual([]);
  });

  it('hands the partial on when its owner gives up', async () => {
    const store = newStore();
    const owner = (await store.openPartial(digest, data.length))!;
    owner.append(data.subarray(0, 10));
    const next = store.openPartial(digest, data.length);
    owner.close();
    const p = (await next)!;
    expect(p.offset).toBe(10);
    p.close();
  });
});
