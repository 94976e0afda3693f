import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { extractLayer } from '../../src/image/unpack/extract';
// makeLayerAsMe: as another user than root, files the user may own (see ownedByMe).
import { cleanupScratch, makeLayerAsMe as makeLayer, scratch } from '../helpers/layers';

afterEach(cleanupScratch);

const entries = [{ path: 'etc/hello', content: 'hello\n' }];
const diffId = `sha256:${createHash('sha256').update(makeLayer(entries)).digest('hex')}`;

describe('diff_id check', () => {
  for (const compression of ['gzip', 'zstd', 'none'] as const)
    it(`accepts a ${compression} layer whose uncompressed content matches its diff_id`, async () => {
      const s = scratch();
      fs.writeFileSync(s.blob, makeLayer(entries, { compression }));
      await extractLayer(s.blob, s.dest, { ids: 'any', diffId });
      expect(fs.readFileSync(`${s.dest}/etc/hello`, 'utf8')).toBe('hello\n');
    });

  it('refuses a layer whose content is not what the config says', async () => {
    const s = scratch();
    fs.writeFileSync(s.blob, makeLayer([{ path: 'etc/hello', content: 'evil\n' }], { compression: 'gzip' }));
    await expect(extractLayer(s.blob, s.dest, { ids: 'any', diffId })).rejects.toThrow(/does not match its diff_id/);
  });
});
