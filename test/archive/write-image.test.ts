/**
 * New layers and images in a real store (temp dir), through the real store
 * helper (build/nook in a user namespace, NOOK_SELF): commitTarLayer and
 * commitLayer put a layer's blob and its extraction in the store,
 * writeImage makes an image of them over a base whose layer blobs it
 * reuses, reproducibly; tools no nook code wrote (skopeo, umoci) accept what
 * `save` then exports, and see the same tree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importRootfs } from '../../src/image/archive/import';
import { fileOutput } from '../../src/image/archive/output';
import { resolveImages, saveImages } from '../../src/image/archive/save';
import { commitLayer, commitTarLayer } from '../../src/image/layer/commit-layer';
import { MediaType } from '../../src/image/manifest';
import { StoreHelper } from '../../src/image/store/helper-client';
import type { ImageStore } from '../../src/image/store/store';
import { writeImage } from '../../src/image/write-image';
import { makeLayer, whiteout } from '../helpers/layers';
import { REPO } from '../helpers/paths';
import { skipAllIf } from '../helpers/skip';
import { chunked, cleanup, newStore, ROOTFS, sha, tempDir, WHY_NO_OWNERS } from './helpers';

beforeAll(() => {
  process.env.NOOK_SELF = path.join(REPO, 'build/nook');
});
afterEach(cleanup);
skipAllIf(WHY_NO_OWNERS);

const CREATED = '2026-03-04T05:06:07Z';

async function base(store: ImageStore) {
  return importRootfs(store, chunked(makeLayer(ROOTFS, { compression: 'gzip' })), 'rootfs.tar', { name: 'example.com/base:1' });
}

/** A layer tar on disk, as COPY would write one. */
function tarFile(entries: Parameters<typeof makeLayer>[0]): string {
  const file = path.join(tempDir(), 'layer.tar');
  fs.writeFileSync(file, makeLayer(entries));
  return file;
}

const ADDED = [
  { path: 'opt/', type: 'dir' },
  { path: 'opt/app', content: 'app\n', mode: 0o755 },
  whiteout('bin/hi'),
];

describe('commitTarLayer, commitLayer and writeImage', () => {
  it('store a layer (blob and extraction) and an image over the base, reusing its blobs; the same inputs give the same image', async () => {
    const store = newStore();
    const helper = new StoreHelper();
    try {
      const baseRec = await base(store);
      const tar = tarFile(ADDED);
      const layer = await commitTarLayer(store, helper, tar);
      expect(layer.empty).toBe(false);
      expect(layer.diffId).toBe(sha(fs.readFileSync(tar)));
      expect(layer.digest).toBe(sha(fs.readFileSync(store.blobPath(layer.digest))));
      expect(fs.readFileSync(path.join(store.layerDir(layer.diffId), 'opt/app'), 'utf8')).toBe('app\n');
      expect(fs.lstatSync(path.join(store.layerDir(layer.diffId), 'bin/hi')).isCharacterDevice()).toBe(true); // the whiteout, overlay's way
      expect(fs.readlinkSync(store.p('l', layer.diffId.slice(7, 23)))).toBe(`../layers/${layer.diffId.slice(7)}`);

      const empty = await commitTarLayer(store, helper, tarFile([]));
      expect(empty.empty).toBe(true);
      const nothing = await commitLayer(store, helper, { upper: tempDir() });
      expect(nothing.empty).toBe(true);

      const spec = {
        base: baseRec,
        layers: [layer, empty],
        config: { config: { Env: ['A=1'], Cmd: ['/bin/hello'] } },
        history: [{ created_by: 'COPY app /opt/app' }, { created_by: 'ENV A=1', empty_layer: true }],
        format: 'docker' as const,
        created: CREATED,
        names: ['example.com/new:1'],
      };
      const img = await writeImage(store, spec);
      expect(store.refs()['example.com/new:1']).toBe(img.id);
      expect(img.manifestMediaType).toBe(MediaType.DOCKER_MANIFEST);
      expect(img.layers.map((l) => l.digest)).toEqual([baseRec.layers[0].digest, layer.digest]);
      expect(img.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
      const manifest = JSON.parse(fs.readFileSync(store.blobPath(img.manifestDigest), 'utf8'));
      expect(manifest.config.mediaType).toBe(MediaType.DOCKER_CONFIG);
      const config = store.config(img);
      expect(config.rootfs.diff_ids).toEqual([baseRec.layers[0].diffId, layer.diffId]);
      expect(config.created).toBe(CREATED);
      expect(config.config).toEqual({ Env: ['A=1'], Cmd: ['/bin/hello'] });
      expect(config.history!.slice(-2)).toEqual([
        { created: CREATED, created_by: 'COPY app /opt/app' },
        { created: CREATED, created_by: 'ENV A=1', empty_layer: true },
      ]);
      expect(config.history!.length).toBe((store.config(baseRec).history ?? []).length + 2);

      // Again, from the same inputs (another layer write of the same tar): the same ids.
      const again = await commitTarLayer(store, helper, tar);
      expect(again.digest).toBe(layer.digest);
      const img2 = await writeImage(store, { ...spec, layers: [again, empty], names: [] });
      expect(img2.id).toBe(img.id);
      expect(img2.manifestDigest).toBe(img.manifestDigest);
      // The OCI form: other media types, other ids, same layers.
      const oci = await writeImage(store, { ...spec, format: 'oci', names: ['example.com/new:oci'] });
      expect(oci.manifestMediaType).toBe(MediaType.OCI_MANIFEST);
      expect(oci.layers.map((l) => [l.digest, l.mediaType])).toEqual(img.layers.map((l) => [l.digest, 'application/vnd.oci.image.layer.v1.tar+gzip']));
      // History entries must match the layers.
      await expect(writeImage(store, { ...spec, history: [] })).rejects.toThrow(/history entries/);
    } finally {
      await helper.close();
    }
  });

  it('of FROM scratch: only the new layers, the host platform', async () => {
    const store = newStore();
    const helper = new StoreHelper();
    try {
      const layer = await commitTarLayer(store, helper, tarFile(ROOTFS));
      const img = await writeImage(store, { layers: [layer], config: {}, history: [{ created_by: 'ADD rootfs' }], format: 'oci', created: CREATED, names: ['scratchy:1'] });
      const config = store.config(img);
      expect(config.rootfs.diff_ids).toEqual([layer.diffId]);
      expect(config.os).toBe('linux');
      expect(config.history).toEqual([{ created: CREATED, created_by: 'ADD rootfs' }]);
      expect(store.refs()['docker.io/library/scratchy:1']).toBe(img.id);
    } finally {
      await helper.close();
    }
  });
});

const hasTools = spawnSync('skopeo', ['--version']).status === 0 && spawnSync('umoci', ['--version']).status === 0;

describe('interoperability of written images', () => {
  skipAllIf(hasTools ? null : 'skopeo and umoci are not installed (apt-get install skopeo umoci)');
  it('skopeo copies what nook saves, and umoci unpacks it to the tree nook runs', async () => {
    const store = newStore();
    const helper = new StoreHelper();
    try {
      const baseRec = await base(store);
      const upper = tempDir();
      fs.mkdirSync(path.join(upper, 'opt'));
      fs.writeFileSync(path.join(upper, 'opt/app'), 'app\n');
      fs.mkdirSync(path.join(upper, 'bin'));
      execFileSync('mknod', [path.join(upper, 'bin/hi'), 'c', '0', '0']); // deletes the base's bin/hi, overlay's way
      const layer = await commitLayer(store, helper, { upper, lowers: baseRec.layers.map((l) => store.layerDir(l.diffId)) });
      const img = await writeImage(store, { base: baseRec, layers: [layer], config: { config: { Cmd: ['/bin/hello'] } }, history: [{ created_by: 'test' }], format: 'oci', names: ['example.com/new:1'] });
      const file = path.join(tempDir(), 'oci.tar');
      const out = fileOutput(file);
      await saveImages(store, resolveImages(store, ['example.com/new:1']), 'oci-archive', out.stream);
      await out.commit();
      const skopeo = (...args: string[]) => execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8' });
      const inspected = JSON.parse(skopeo('inspect', '--config', `oci-archive:${file}`));
      expect(inspected.rootfs.diff_ids).toEqual(store.config(img).rootfs.diff_ids);
      const layout = path.join(tempDir(), 'layout');
      skopeo('copy', '-q', `oci-archive:${file}`, `oci:${layout}:new`);
      const bundle = path.join(tempDir(), 'bundle');
      execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:new`, bundle], { stdio: 'pipe' });
      const root = path.join(bundle, 'rootfs');
      expect(fs.readFileSync(path.join(root, 'opt/app'), 'utf8')).toBe('app\n');
      expect(fs.existsSync(path.join(root, 'bin/hi'))).toBe(false);
      expect(fs.readFileSync(path.join(root, 'bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hello\n');
      expect(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('nook\n');
    } finally {
      await helper.close();
    }
  });
});
