/**
 * save, load and import against real stores in temp dirs. Layers are
 * extracted by the store helper, which is build/nook started in a user
 * namespace (NOOK_SELF); as root it maps ids 1:1, so owners are checked too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PassThrough } from 'node:stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importRootfs } from '../../src/image/archive/import';
import { loadArchive } from '../../src/image/archive/load';
import { fileOutput } from '../../src/image/archive/output';
import { resolveImages, saveImages, type ArchiveFormat } from '../../src/image/archive/save';
import { hostPlatform, parseManifest } from '../../src/image/manifest';
import type { ImageRecord, ImageStore } from '../../src/image/store/store';
import { makeLayer } from '../helpers/layers';
import { REPO } from '../helpers/paths';
import {
  chunked,
  cleanup,
  EMPTY_STORE,
  hex,
  hostOwner,
  legacyDockerArchive,
  modernDockerArchive,
  newStore,
  readTar,
  ROOTFS,
  sha,
  storeContents,
  tempDir,
  UPPER,
  WHY_NO_OWNERS,
} from './helpers';
import { skipAllIf } from '../helpers/skip';

beforeAll(() => {
  process.env.NOOK_SELF = path.join(REPO, 'build/nook');
});
afterEach(cleanup);
skipAllIf(WHY_NO_OWNERS);

const rootfsTar = makeLayer(ROOTFS);
const upperTar = makeLayer(UPPER);

async function importBuffer(store: ImageStore, data: Buffer, name?: string): Promise<ImageRecord> {
  return importRootfs(store, chunked(data), 'rootfs.tar', { name });
}

/** The checks that a store holds ROOTFS extracted, exactly. */
function expectRootfs(store: ImageStore, diffId: string): void {
  const dir = store.layerDir(diffId);
  const st = (p: string) => fs.lstatSync(path.join(dir, p));
  expect(fs.readFileSync(path.join(dir, 'etc/hostname'), 'utf8')).toBe('nook\n');
  expect(st('etc/shadow').mode & 0o7777).toBe(0o640);
  expect(st('etc/shadow').gid).toBe(hostOwner(0, 42)[1]);
  expect(st('home/user').mode & 0o7777).toBe(0o700);
  expect([st('home/user').uid, st('home/user').gid]).toEqual(hostOwner(1000, 1000));
  // Only root may enter home/user (0700) from the host when its owner is a subordinate id.
  if (process.getuid?.() === 0) {
    expect([st('home/user/notes').uid, st('home/user/notes').gid]).toEqual(hostOwner(1000, 1000));
    expect(fs.readFileSync(path.join(dir, 'home/user/notes'), 'utf8')).toBe('hello\n');
  }
  expect(st('bin/hello').mode & 0o7777).toBe(0o755);
  expect(fs.readlinkSync(path.join(dir, 'bin/hi'))).toBe('hello');
  // The short link overlayfs mounts use.
  expect(fs.readlinkSync(store.p('l', hex(diffId).slice(0, 16)))).toBe(`../layers/${hex(diffId)}`);
}

async function saveToFile(store: ImageStore, inputs: string[], format: ArchiveFormat): Promise<string> {
  const file = path.join(tempDir(), 'out.tar');
  const out = fileOutput(file);
  try {
    await saveImages(store, resolveImages(store, inputs), format, out.stream);
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return file;
}

describe('import', () => {
  for (const compression of ['none', 'gzip', 'zstd'] as const) {
    it(`makes a one-layer image of a ${compression === 'none' ? 'plain' : compression} rootfs tarball`, async () => {
      const store = newStore();
      const blob = makeLayer(ROOTFS, { compression });
      const before = Date.now();
      const rec = await importBuffer(store, blob, 'docker.io/library/myroot:1');

      expect(rec.layers).toEqual([
        {
          digest: sha(blob),
          size: blob.length,
          mediaType: `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`,
          diffId: sha(rootfsTar),
        },
      ]);
      // The blob is the file as given; the image id is the config's digest.
      expect(fs.readFileSync(store.blobs.path(sha(blob))).equals(blob)).toBe(true);
      const configBody = fs.readFileSync(store.blobs.path(rec.id));
      expect(sha(configBody)).toBe(rec.id);
      const config = JSON.parse(configBody.toString());
      expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [sha(rootfsTar)] });
      expect({ os: config.os, architecture: config.architecture }).toEqual({ os: hostPlatform().os, architecture: hostPlatform().architecture });
      expect(Date.parse(config.created)).toBeGreaterThanOrEqual(before - 1000);
      expect(rec.platform.architecture).toBe(hostPlatform().architecture);
      const manifest = parseManifest(fs.readFileSync(store.blobs.path(rec.manifestDigest)));
      expect(sha(fs.readFileSync(store.blobs.path(rec.manifestDigest)))).toBe(rec.manifestDigest);
      expect(manifest).toMatchObject({ kind: 'manifest', config: { digest: rec.id }, layers: [{ digest: sha(blob) }] });

      expect(store.refs()).toEqual({ 'docker.io/library/myroot:1': rec.id });
      expect(store.image(rec.id)).toEqual(rec);
      expectRootfs(store, sha(rootfsTar));
      expect(fs.readdirSync(store.p('blobs', 'tmp'))).toEqual([]);
    });
  }

  it('gives an image without a name only an id; importing the same tarball again reuses the blob', async () => {
    const store = newStore();
    const a = await importBuffer(store, rootfsTar);
    expect(store.refs()).toEqual({});
    expect(store.images().map((r) => r.id)).toEqual([a.id]);
    const b = await importBuffer(store, rootfsTar, 'docker.io/library/again:latest');
    expect(b.layers[0].digest).toBe(a.layers[0].digest);
    expect(fs.readdirSync(store.p('blobs', 'tmp'))).toEqual([]);
  });

  it('refuses what is not a tar archive, and corrupt compressed data, leaving nothing', async () => {
    const store = newStore();
    await expect(importBuffer(store, Buffer.from('just some text, not a tar archive\n'.repeat(40)), 'docker.io/library/x:1')).rejects.toThrow(
      /rootfs.tar is not a tar archive/,
    );
    const gz = zlib.gzipSync(rootfsTar);
    gz[gz.length - 6] ^= 0xff; // the CRC
    await expect(importBuffer(store, gz)).rejects.toThrow(/rootfs.tar is corrupt: its gzip data cannot be read/);
    await expect(importBuffer(store, zlib.gzipSync(Buffer.from('gzip, but no tar inside')))).rejects.toThrow(/not a tar archive/);
    await expect(importBuffer(store, Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(600)]))).rejects.toThrow(
      /compressed with xz, which nook does not read/,
    );
    expect(storeContents(store)).toEqual(EMPTY_STORE);
  });
});

describe('save docker-archive', () => {
  it('writes manifest.json, the config and uncompressed layers whose sha256 are the diff_ids, and repositories', async () => {
    const store = newStore();
    const base = await importBuffer(store, makeLayer(ROOTFS, { compression: 'gzip' }), 'docker.io/library/myroot:1');
    await store.updateRefs((refs) => {
      refs['ghcr.io/owner/myroot:2'] = base.id;
    });
    const file = await saveToFile(store, ['myroot:1', 'ghcr.io/owner/myroot:2'], 'docker-archive');
    const tar = await readTar(fs.readFileSync(file));

    const manifest = JSON.parse(tar.get('manifest.json')!.content.toString());
    const diffId = sha(rootfsTar);
    expect(manifest).toEqual([{ Config: `${hex(base.id)}.json`, RepoTags: ['myroot:1', 'ghcr.io/owner/myroot:2'], Layers: [`${hex(diffId)}/layer.tar`] }]);
    expect(sha(tar.get(`${hex(base.id)}.json`)!.content)).toBe(base.id);
    const layer = tar.get(`${hex(diffId)}/layer.tar`)!.content;
    expect(sha(layer)).toBe(diffId);
    expect(layer.equals(rootfsTar)).toBe(true);
    expect(tar.get(`${hex(diffId)}/`)?.type).toBe('Directory');
    expect(JSON.parse(tar.get('repositories')!.content.toString())).toEqual({ myroot: { '1': hex(diffId) }, 'ghcr.io/owner/myroot': { '2': hex(diffId) } });
    // No temporary file is left beside it.
    expect(fs.readdirSync(path.dirname(file))).toEqual(['out.tar']);
  });

  it('is read by GNU tar and Python tarfile as a valid archive', async () => {
    const store = newStore();
    const rec = await importBuffer(store, makeLayer(ROOTFS, { compression: 'zstd' }), 'docker.io/library/myroot:1');
    const file = await saveToFile(store, ['myroot:1'], 'docker-archive');
    const { execFileSync } = await import('node:child_process');
    const list = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(list).toEqual([`${hex(rec.layers[0].diffId)}/`, `${hex(rec.layers[0].diffId)}/layer.tar`, `${hex(rec.id)}.json`, 'manifest.json', 'repositories'].sort());
    const py = execFileSync('python3', ['-c', 'import sys,tarfile; t=tarfile.open(sys.argv[1]); print(len(t.getmembers()))', file], { encoding: 'utf8' });
    expect(py.trim()).toBe('5');
  });

  it('saves every tag of a repository given without a tag, an image given by id without a name, and shared layers once', async () => {
    const store = newStore();
    const a = await importBuffer(store, rootfsTar, 'docker.io/library/multi:1');
    await store.updateRefs((refs) => {
      refs['docker.io/library/multi:2'] = a.id;
    });
    const b = await importBuffer(store, upperTar);
    const file = await saveToFile(store, ['multi', b.id.slice(7, 19)], 'docker-archive');
    const tar = await readTar(fs.readFileSync(file));
    const manifest = JSON.parse(tar.get('manifest.json')!.content.toString());
    expect(manifest).toEqual([
      { Config: `${hex(a.id)}.json`, RepoTags: ['multi:1', 'multi:2'], Layers: [`${hex(sha(rootfsTar))}/layer.tar`] },
      { Config: `${hex(b.id)}.json`, RepoTags: null, Layers: [`${hex(sha(upperTar))}/layer.tar`] },
    ]);
  });

  it('refuses an image that is not in the store', async () => {
    const store = newStore();
    expect(() => resolveImages(store, ['nosuch:1'])).toThrow(/No such image: nosuch:1/);
  });

  it('leaves no file when the store lacks a blob halfway through', async () => {
    const store = newStore();
    const a = await importBuffer(store, rootfsTar, 'docker.io/library/a:1');
    const b = await importBuffer(store, upperTar, 'docker.io/library/b:1');
    fs.rmSync(store.blobs.path(b.layers[0].digest));
    const dir = tempDir();
    const out = fileOutput(path.join(dir, 'out.tar'));
    await expect(saveImages(store, resolveImages(store, ['a:1', 'b:1']), 'docker-archive', out.stream)).rejects.toThrow(/the store lacks layer .* of b:1/);
    await out.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(a.id).toBeTruthy();
  });

  it('refuses a path whose directory does not exist, creating nothing', () => {
    const dir = tempDir();
    expect(() => fileOutput(path.join(dir, 'missing', 'out.tar'))).toThrow(/cannot write .*out.tar: the directory .*missing does not exist/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('round trips', () => {
  for (const format of ['docker-archive', 'oci-archive'] as const) {
    it(`${format}: load into an empty store gives the same image id, names and files`, async () => {
      const src = newStore();
      // Two layers (the lower one gzip, the upper zstd) and a second image sharing the lower layer.
      const lower = makeLayer(ROOTFS, { compression: 'gzip' });
      const upper = makeLayer(UPPER, { compression: 'zstd' });
      const one = await importBuffer(src, lower, 'docker.io/library/base:1');
      const two = await loadArchive(src, chunked(legacyDockerArchive('app:2', [rootfsTar, upperTar]).archive), 'app.tar');
      expect(two[0].names).toEqual(['docker.io/library/app:2']);
      const file = await saveToFile(src, ['base:1', 'app:2'], format);
      expect(upper.length).toBeGreaterThan(0);

      const dst = newStore();
      const loaded = await loadArchive(dst, fs.createReadStream(file), file);
      expect(loaded.map((l) => [l.record.id, l.names])).toEqual([
        [one.id, ['docker.io/library/base:1']],
        [two[0].record.id, ['docker.io/library/app:2']],
      ]);
      expect(dst.refs()).toEqual({ 'docker.io/library/base:1': one.id, 'docker.io/library/app:2': two[0].record.id });
      const again = dst.image(one.id)!;
      expect(again.layers.map((l) => l.diffId)).toEqual(one.layers.map((l) => l.diffId));
      if (format === 'oci-archive') {
        // The blobs travel as they are: same manifest, same compressed layer.
        expect(again.manifestDigest).toBe(one.manifestDigest);
        expect(again.layers).toEqual(one.layers);
      } else {
        // docker-archive layers are uncompressed tars.
        expect(again.layers[0].digest).toBe(sha(rootfsTar));
      }
      expectRootfs(dst, sha(rootfsTar));
      expect(fs.readFileSync(path.join(dst.layerDir(sha(upperTar)), 'etc/hostname'), 'utf8')).toBe('upper\n');
      expect(storeContents(dst).tmp).toEqual([]);

      // And back again: the same archive content (layers, configs, names).
      const file2 = await saveToFile(dst, ['base:1', 'app:2'], format);
      if (format === 'docker-archive') expect(fs.readFileSync(file2).equals(fs.readFileSync(file))).toBe(true);
    });
  }

  it('oci-archive: index.json names each image in full and by tag', async () => {
    const store = newStore();
    const rec = await importBuffer(store, makeLayer(ROOTFS, { compression: 'gzip' }), 'localhost:5000/team/app:v1');
    const file = await saveToFile(store, ['localhost:5000/team/app:v1'], 'oci-archive');
    const tar = await readTar(fs.readFileSync(file));
    expect(JSON.parse(tar.get('oci-layout')!.content.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(tar.get('index.json')!.content.toString());
    expect(index).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: rec.manifestDigest,
          size: fs.statSync(store.blobs.path(rec.manifestDigest)).size,
          platform: rec.platform,
          annotations: { 'io.containerd.image.name': 'localhost:5000/team/app:v1', 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    });
    for (const d of [rec.manifestDigest, rec.id, rec.layers[0].digest]) expect(sha(tar.get(`blobs/sha256/${hex(d)}`)!.content)).toBe(d);
  });

  it('loads a gzip-compressed archive from a stream', async () => {
    const src = newStore();
    const rec = await importBuffer(src, rootfsTar, 'docker.io/library/zipped:1');
    const file = await saveToFile(src, ['zipped:1'], 'oci-archive');
    const stdin = new PassThrough();
    const dst = newStore();
    const loading = loadArchive(dst, stdin, 'standard input');
    chunked(zlib.gzipSync(fs.readFileSync(file)), 4096).pipe(stdin);
    const loaded = await loading;
    expect(loaded.map((l) => [l.record.id, l.names])).toEqual([[rec.id, ['docker.io/library/zipped:1']]]);
    expectRootfs(dst, sha(rootfsTar));
  });
});

describe('archives of other tools', () => {
  it('loads what docker save wrote before docker 25 (layer directories, a repeated layer as a symlink)', async () => {
    const store = newStore();
    const empty = makeLayer([]);
    const { archive, configDigest } = legacyDockerArchive('busybox:latest', [rootfsTar, empty, upperTar, empty]);
    const [img] = await loadArchive(store, chunked(archive), 'busybox.tar');
    expect(img.record.id).toBe(configDigest);
    expect(img.names).toEqual(['docker.io/library/busybox:latest']);
    expect(img.record.layers.map((l) => l.diffId)).toEqual([sha(rootfsTar), sha(empty), sha(upperTar), sha(empty)]);
    expect(img.record.layers.map((l) => l.mediaType)).toEqual(Array(4).fill('application/vnd.oci.image.layer.v1.tar'));
    expect(store.config(img.record).config?.Cmd).toEqual(['/bin/hello']);
    expectRootfs(store, sha(rootfsTar));
    expect(fs.readdirSync(store.layerDir(sha(empty)))).toEqual([]);
    // A manifest was made for it, so it can be saved as an OCI layout too.
    expect(parseManifest(fs.readFileSync(store.blobs.path(img.record.manifestDigest)))).toMatchObject({ kind: 'manifest', config: { digest: configDigest } });
  });

  it('loads an untagged image of a docker archive by id', async () => {
    const store = newStore();
    const { archive, configDigest } = legacyDockerArchive(null, [rootfsTar]);
    const [img] = await loadArchive(store, chunked(archive), 'x.tar');
    expect([img.record.id, img.names]).toEqual([configDigest, []]);
    expect(store.refs()).toEqual({});
  });

  it("loads what docker 25+ saves (OCI layout plus manifest.json), keeping the layout's manifest", async () => {
    const store = newStore();
    const { archive, configDigest, manifestDigest } = modernDockerArchive('alpine', '3.20', [rootfsTar, upperTar]);
    const [img] = await loadArchive(store, chunked(zlib.gzipSync(archive)), 'alpine.tar.gz');
    expect([img.record.id, img.record.manifestDigest, img.names]).toEqual([configDigest, manifestDigest, ['docker.io/library/alpine:3.20']]);
    expectRootfs(store, sha(rootfsTar));
  });

  it('loads an OCI layout whose ref.name holds a whole name, and one with only a tag (no name)', async () => {
    const { archive } = modernDockerArchive('alpine', '3.20', [rootfsTar]);
    const entries = await readTar(archive);
    const index = JSON.parse(entries.get('index.json')!.content.toString());
    const rebuilt = (annotations: Record<string, string>) =>
      makeLayer(
        [...entries]
          .filter(([n, e]) => n !== 'manifest.json' && n !== 'index.json' && e.type === 'File')
          .map(([n, e]) => ({ path: n, content: e.content }))
          .concat([{ path: 'index.json', content: Buffer.from(JSON.stringify({ ...index, manifests: [{ ...index.manifests[0], annotations }] })) }]),
      );
    const store = newStore();
    const [named] = await loadArchive(store, chunked(rebuilt({ 'org.opencontainers.image.ref.name': 'quay.io/x/alpine:edge' })), 'a.tar');
    expect(named.names).toEqual(['quay.io/x/alpine:edge']);
    const [tagOnly] = await loadArchive(store, chunked(rebuilt({ 'org.opencontainers.image.ref.name': 'latest' })), 'b.tar');
    expect(tagOnly.names).toEqual([]);
  });
});

describe('refused archives leave the store as it was', () => {
  it('a docker-archive layer that does not match its diff_id', async () => {
    const store = newStore();
    const tampered = makeLayer([...ROOTFS.slice(0, 1), { path: 'etc/hostname', content: 'evil\n' }, ...ROOTFS.slice(2)]);
    const { archive } = legacyDockerArchive('victim:1', [tampered], [rootfsTar]);
    await expect(loadArchive(store, chunked(archive), 'victim.tar')).rejects.toThrow(
      new RegExp(`layer 1 of victim:1 \\(.*/layer.tar in victim.tar\\) does not match the image configuration: its content hashes to ${sha(tampered)}, the configuration expects ${sha(rootfsTar)}`),
    );
    expect(storeContents(store)).toEqual(EMPTY_STORE);
  });

  it('an OCI blob whose content is not its digest', async () => {
    const src = newStore();
    const rec = await importBuffer(src, rootfsTar, 'docker.io/library/good:1');
    const entries = await readTar(fs.readFileSync(await saveToFile(src, ['good:1'], 'oci-archive')));
    const layerName = `blobs/sha256/${hex(rec.layers[0].digest)}`;
    const tampered = makeLayer([{ path: 'etc/', type: 'dir' }, { path: 'etc/hostname', content: 'evil\n' }]);
    const archive = makeLayer([...entries].filter(([, e]) => e.type === 'File').map(([n, e]) => ({ path: n, content: n === layerName ? tampered : e.content })));
    const store = newStore();
    await expect(loadArchive(store, chunked(archive), 'good.tar')).rejects.toThrow(`${layerName} in good.tar is corrupt: its content hashes to ${sha(tampered)}, not ${rec.layers[0].digest}`);
    expect(storeContents(store)).toEqual(EMPTY_STORE);
  });

  it('a manifest.json naming a file the archive lacks, an unknown format, and something that is not a tar', async () => {
    const store = newStore();
    const { archive } = legacyDockerArchive('x:1', [rootfsTar]);
    const entries = await readTar(archive);
    const without = makeLayer([...entries].filter(([n, e]) => e.type === 'File' && !n.endsWith('layer.tar')).map(([n, e]) => ({ path: n, content: e.content })));
    await expect(loadArchive(store, chunked(without), 'x.tar')).rejects.toThrow(/x.tar is incomplete: manifest.json names ".*\/layer.tar", which is not in the archive/);
    await expect(loadArchive(store, chunked(rootfsTar), 'rootfs.tar')).rejects.toThrow(
      'rootfs.tar is not an image archive: it has neither manifest.json (docker save) nor index.json (an OCI layout)',
    );
    await expect(loadArchive(store, chunked(Buffer.from('hello\n'.repeat(500))), 'text.txt')).rejects.toThrow('text.txt is not a tar archive');
    await expect(loadArchive(store, chunked(archive.subarray(0, archive.length - 3000)), 'cut.tar')).rejects.toThrow(/cut.tar is (truncated|incomplete)/);
    expect(storeContents(store)).toEqual(EMPTY_STORE);
  });
});
