/**
 * Compatibility with the containers tools (skopeo reads and writes
 * docker-archive and oci-archive with the same code as podman): archives
 * nook saves must be accepted there (skopeo checks every digest), and the
 * archives skopeo writes must load here. Skipped where skopeo is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { skipAllIf } from '../helpers/skip';
import { importRootfs } from '../../src/image/archive/import';
import { loadArchive } from '../../src/image/archive/load';
import { fileOutput } from '../../src/image/archive/output';
import { resolveImages, saveImages, type ArchiveFormat } from '../../src/image/archive/save';
import type { ImageStore } from '../../src/image/store/store';
import { makeLayer } from '../helpers/layers';
import { REPO } from '../helpers/paths';
import { chunked, cleanup, newStore, ROOTFS, sha, tempDir, WHY_NO_OWNERS } from './helpers';

const hasSkopeo = spawnSync('skopeo', ['--version']).status === 0;

beforeAll(() => {
  process.env.NOOK_SELF = path.join(REPO, 'build/nook');
});
afterEach(cleanup);

const skopeo = (...args: string[]) => execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function save(store: ImageStore, name: string, format: ArchiveFormat): Promise<string> {
  const file = path.join(tempDir(), `${format}.tar`);
  const out = fileOutput(file);
  await saveImages(store, resolveImages(store, [name]), format, out.stream);
  await out.commit();
  return file;
}

describe('skopeo', () => {
  skipAllIf(!hasSkopeo ? 'skopeo is not installed (apt-get install skopeo)' : WHY_NO_OWNERS);
  for (const format of ['docker-archive', 'oci-archive'] as const) {
    it(`copies what nook saves as ${format}, and nook loads what skopeo writes in both formats`, async () => {
      const store = newStore();
      const rec = await importRootfs(store, chunked(makeLayer(ROOTFS, { compression: 'gzip' })), 'rootfs.tar', { name: 'example.com/team/app:v1' });
      const saved = await save(store, 'example.com/team/app:v1', format);

      const inspected = JSON.parse(skopeo('inspect', '--config', `${format}:${saved}`));
      expect(inspected.rootfs.diff_ids).toEqual([sha(makeLayer(ROOTFS))]);
      const dir = tempDir();
      const dockerCopy = path.join(dir, 'copy-docker.tar');
      const ociCopy = path.join(dir, 'copy-oci.tar');
      skopeo('copy', '-q', `${format}:${saved}`, `docker-archive:${dockerCopy}:other/app:3`);
      skopeo('copy', '-q', `${format}:${saved}`, `oci-archive:${ociCopy}:quay.io/x/app:4`);

      const fresh = newStore();
      const [fromDocker] = await loadArchive(fresh, fs.createReadStream(dockerCopy), dockerCopy);
      const [fromOci] = await loadArchive(fresh, fs.createReadStream(ociCopy), ociCopy);
      expect([fromDocker.record.id, fromDocker.names]).toEqual([rec.id, ['docker.io/other/app:3']]);
      expect([fromOci.record.layers[0].diffId, fromOci.names]).toEqual([rec.layers[0].diffId, ['quay.io/x/app:4']]);
      // From a docker-archive, skopeo rewrites the config in OCI's schema for an OCI destination: a new id then.
      if (format === 'oci-archive') expect(fromOci.record.id).toBe(rec.id);
      expect(fs.readFileSync(path.join(fresh.layerDir(rec.layers[0].diffId), 'etc/hostname'), 'utf8')).toBe('nook\n');
    });
  }
});
