import { describe, expect, it, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { ingest, looksLikeTar } from '../../src/image/archive/ingest';
import { buildManifest } from '../../src/image/archive/manifest-build';
import { descriptorNames } from '../../src/image/archive/oci-layout';
import { parseFormat } from '../../src/image/archive/save';
import { archiveName, Spool } from '../../src/image/archive/spool';
import { removeStale } from '../../src/image/archive/stale';
import { TarWriter } from '../../src/image/archive/tar-writer';
import { makeLayer } from '../helpers/layers';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-archive-unit-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function entriesOf(data: Buffer): Promise<{ path: string; type: string; size: number; content: Buffer }[]> {
  const out: { path: string; type: string; size: number; content: Buffer }[] = [];
  await new Promise<void>((resolve, reject) => {
    const p = new Parser({
      strict: true,
      onReadEntry: (e: ReadEntry) => {
        const chunks: Buffer[] = [];
        e.on('data', (c: Buffer) => chunks.push(c));
        e.on('end', () => out.push({ path: e.path, type: e.type, size: e.size, content: Buffer.concat(chunks) }));
      },
    });
    p.on('error', reject);
    p.on('end', () => resolve());
    p.end(data);
  });
  return out;
}

describe('archive names and formats', () => {
  it('normalises names inside archives', () => {
    expect(archiveName('./manifest.json')).toBe('manifest.json');
    expect(archiveName('/blobs//sha256/abc/')).toBe('blobs/sha256/abc');
    expect(archiveName('a/../b/./c')).toBe('b/c');
    expect(archiveName('../../etc/passwd')).toBe('etc/passwd');
  });

  it('accepts the format names docker and podman use, and short forms', () => {
    expect(['docker', 'docker-archive', 'oci', 'oci-archive'].map(parseFormat)).toEqual(['docker-archive', 'docker-archive', 'oci-archive', 'oci-archive']);
    expect(() => parseFormat('oci-dir')).toThrow(/unknown archive format "oci-dir"/);
  });

  it('takes image names from index.json annotations; a bare ref.name is only a tag', () => {
    const d = { mediaType: '', digest: sha('x'), size: 1 };
    expect(descriptorNames({ ...d, annotations: { 'io.containerd.image.name': 'docker.io/library/debian:12', 'org.opencontainers.image.ref.name': '12' } }, 'a')).toEqual([
      'docker.io/library/debian:12',
    ]);
    expect(descriptorNames({ ...d, annotations: { 'org.opencontainers.image.ref.name': 'debian:12' } }, 'a')).toEqual(['docker.io/library/debian:12']);
    expect(descriptorNames({ ...d, annotations: { 'org.opencontainers.image.ref.name': '12' } }, 'a')).toEqual([]);
    expect(descriptorNames(d, 'a')).toEqual([]);
    expect(() => descriptorNames({ ...d, annotations: { 'io.containerd.image.name': 'Bad Name' } }, 'x.tar')).toThrow(
      /index.json in x.tar names the image "Bad Name", which is not a valid image name/,
    );
  });

  it('builds an OCI manifest whose digest is that of its bytes', () => {
    const m = buildManifest({ digest: sha('c'), size: 1 }, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha('l'), size: 2 }]);
    expect(m.digest).toBe(sha(m.body));
    expect(JSON.parse(m.body.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('c'), size: 1 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha('l'), size: 2 }],
    });
  });
});

describe('tar writer', () => {
  async function written(fn: (t: TarWriter) => Promise<void>): Promise<Buffer> {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const t = new TarWriter(out);
    await fn(t);
    await t.finish();
    return Buffer.concat(chunks);
  }

  it('writes directories, files from memory and streams, and names longer than 100 bytes', async () => {
    const long = `${'d'.repeat(80)}/${'f'.repeat(90)}.tar`;
    const big = Buffer.alloc(70_000, 7);
    const data = await written(async (t) => {
      await t.dir('abc', new Date(1_700_000_000_000));
      await t.file('abc/x.json', '{"a":1}', new Date(0));
      await t.stream(long, big.length, Readable.from([big.subarray(0, 1000), big.subarray(1000)]), new Date(0));
    });
    expect(data.length % 512).toBe(0);
    const entries = await entriesOf(data);
    expect(entries.map((e) => [e.path, e.type, e.size])).toEqual([
      ['abc/', 'Directory', 0],
      ['abc/x.json', 'File', 7],
      [long, 'File', big.length],
    ]);
    expect(entries[2].content.equals(big)).toBe(true);
  });

  it('refuses a stream whose length is not the announced size', async () => {
    await expect(written((t) => t.stream('x', 10, Readable.from([Buffer.alloc(5)]), new Date(0)))).rejects.toThrow(/x changed while being written: expected 10 bytes, read 5/);
    await expect(written((t) => t.stream('x', 10, Readable.from([Buffer.alloc(11)]), new Date(0)))).rejects.toThrow(/expected 10 bytes, read more/);
  });

  it('waits for a slow reader (backpressure) and stops at its error', async () => {
    const child = spawn('sh', ['-c', 'sleep 0.2; exec head -c 1000 >/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const t = new TarWriter(child.stdin);
    child.stdin.on('error', () => undefined);
    const big = Buffer.alloc(4 << 20);
    await expect(t.stream('big', big.length, Readable.from([big]), new Date(0)).then(() => t.finish())).rejects.toThrow(/EPIPE|write after end|closed/);
  });
});

describe('ingest', () => {
  const tar = makeLayer([{ path: 'a', content: 'hello\n' }]);

  it('hashes plain, gzip and zstd data, and the tar inside', async () => {
    const dir = tmp();
    for (const data of [tar, zlib.gzipSync(tar), makeLayer([{ path: 'a', content: 'hello\n' }], { compression: 'zstd' })]) {
      const r = await ingest(Readable.from([data.subarray(0, 3), data.subarray(3)]), dir, 'x');
      expect([r.digest, r.size, r.uncompressedDigest, r.looksLikeTar]).toEqual([sha(data), data.length, sha(tar), true]);
      expect(fs.readFileSync(r.file).equals(data)).toBe(true);
    }
  });

  it('records what is not a tar, or not decompressible, without failing', async () => {
    const dir = tmp();
    const text = await ingest(Readable.from([Buffer.from('{"json": true}')]), dir, 'x');
    expect([text.compression, text.looksLikeTar, text.uncompressedDigest]).toEqual(['none', false, sha('{"json": true}')]);
    const bad = zlib.gzipSync(tar);
    bad.fill(0xaa, 20, 40);
    const broken = await ingest(Readable.from([bad]), dir, 'x');
    expect([broken.compression, broken.uncompressedDigest, broken.looksLikeTar]).toEqual(['gzip', undefined, false]);
    expect(broken.decompressError).toBeTruthy();
    const empty = await ingest(Readable.from([]), dir, 'x');
    expect([empty.size, empty.digest, empty.looksLikeTar]).toEqual([0, sha(''), false]);
  });

  it('removes its file when the source fails', async () => {
    const dir = tmp();
    const src = new Readable({ read() {} });
    const done = ingest(src, dir, 'x');
    src.push(Buffer.alloc(1000));
    await new Promise((r) => setTimeout(r, 10));
    expect(fs.readdirSync(dir)).toHaveLength(1);
    src.destroy(new Error('gone'));
    await expect(done).rejects.toThrow('gone');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('recognises tar headers and empty archives', () => {
    expect(looksLikeTar(tar)).toBe(true);
    expect(looksLikeTar(Buffer.alloc(1024))).toBe(true);
    expect(looksLikeTar(Buffer.alloc(100))).toBe(false);
    const bad = Buffer.from(tar);
    bad[0] ^= 1;
    expect(looksLikeTar(bad)).toBe(false);
  });
});

describe('spool', () => {
  it('stores every file under a number and resolves hard and symbolic links, not loops', async () => {
    const dir = path.join(tmp(), 'spool');
    const archive = makeLayer([
      { path: './one/', type: 'dir' },
      { path: './one/layer.tar', content: 'layer' },
      { path: 'two/layer.tar', type: 'symlink', linkname: '../one/layer.tar' },
      { path: 'three', type: 'hardlink', linkname: 'one/layer.tar' },
      { path: 'abs', type: 'symlink', linkname: '/one/layer.tar' },
      { path: 'loop1', type: 'symlink', linkname: 'loop2' },
      { path: 'loop2', type: 'symlink', linkname: 'loop1' },
      { path: '../../escape', content: 'x' },
    ]);
    const spool = await Spool.read(Readable.from([zlib.gzipSync(archive)]), dir, 'a.tar');
    for (const n of ['one/layer.tar', 'two/layer.tar', 'three', 'abs']) expect(spool.get(n)?.digest).toBe(sha('layer'));
    expect(spool.get('loop1')).toBeUndefined();
    expect(spool.get('escape')?.digest).toBe(sha('x'));
    expect(fs.readdirSync(dir).every((n) => n.startsWith('ingest.'))).toBe(true);
    expect(() => spool.require('missing', 'manifest.json')).toThrow('a.tar is incomplete: manifest.json names "missing", which is not in the archive');
    spool.remove();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('says what is wrong with input that is no tar, truncated or corrupt, and removes its directory', async () => {
    const base = tmp();
    const archive = makeLayer([{ path: 'big', content: Buffer.alloc(5000, 1) }]);
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('plain text '.repeat(100)), /^x is not a tar archive$/],
      [archive.subarray(0, 2000), /^x is truncated$/],
      [zlib.gzipSync(archive).subarray(0, 40), /^x is (truncated|corrupt)/],
    ];
    for (const [data, re] of cases) {
      await expect(Spool.read(Readable.from([data]), path.join(base, 's'), 'x')).rejects.toThrow(re);
      expect(fs.readdirSync(base)).toEqual([]);
    }
  });
});

describe('stale leftovers', () => {
  it('removes what processes that are gone left, and keeps the rest', () => {
    const dir = tmp();
    const dead = spawn('true');
    const deadPid = dead.pid!;
    return new Promise<void>((resolve) =>
      dead.on('exit', () => {
        for (const n of [`load-${deadPid}-abcd`, `load-${process.pid}-abcd`, 'load-1-abcd', 'other', `ingest.${deadPid}.ab`]) fs.mkdirSync(path.join(dir, n));
        removeStale(dir, 'load-');
        expect(fs.readdirSync(dir).sort()).toEqual([`ingest.${deadPid}.ab`, 'load-1-abcd', `load-${process.pid}-abcd`, 'other'].sort());
        resolve();
      }),
    );
  });
});
