import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobStore } from '../../src/image/blobs';

const digestOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const newStore = () => new BlobStore(fs.mkdtempSync(path.join(os.tmpdir(), 'nook-blobs-')));
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
