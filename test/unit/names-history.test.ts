import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageStore, type ImageRecord } from '../../src/image/store/store';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-names-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function image(store: ImageStore, n: number): string {
  const id = `sha256:${String(n).repeat(64).slice(0, 64)}`;
  const rec: ImageRecord = { id, manifestDigest: id, manifestMediaType: 'x', platform: { os: 'linux', architecture: 'amd64' }, layers: [], stored: '', repoDigests: [] };
  store.writeImage(rec);
  return id;
}

describe("an image's names history (podman's NamesHistory)", () => {
  it('keeps the names an image had: its names now first, then older ones, newest first, once each', async () => {
    const store = new ImageStore(root);
    const a = image(store, 1);
    const b = image(store, 2);
    await store.updateRefs((refs) => void (refs['x/img:latest'] = a));
    expect(store.namesHistory(a)).toEqual(['x/img:latest']);
    await store.updateRefs((refs) => void (refs['x/one:latest'] = a));
    await store.updateRefs((refs) => void delete refs['x/one:latest']);
    expect(store.namesHistory(a)).toEqual(['x/img:latest', 'x/one:latest']);
    await store.updateRefs((refs) => void (refs['x/two:latest'] = a));
    await store.updateRefs((refs) => void delete refs['x/two:latest']);
    expect(store.namesHistory(a)).toEqual(['x/img:latest', 'x/two:latest', 'x/one:latest']);
    // A name moving to another image enters that image's history; the first keeps it as a past name.
    await store.updateRefs((refs) => void (refs['x/img:latest'] = b));
    expect(store.namesHistory(b)).toEqual(['x/img:latest']);
    expect(store.namesHistory(a)).toEqual(['x/img:latest', 'x/two:latest', 'x/one:latest']);
    expect(store.refs()).toEqual({ 'x/img:latest': b });
    // A deleted image's history goes at the next change.
    store.deleteImage(a);
    await store.updateRefs((refs) => void (refs['x/b2:latest'] = b));
    expect(store.namesHistory(a)).toEqual([]);
    expect(store.namesHistory(b)).toEqual(['x/b2:latest', 'x/img:latest']);
  });
});
