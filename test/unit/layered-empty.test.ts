/**
 * LayeredView.isEmptyDir (volume copy-up's shortcut): a directory is empty
 * only when no layer shows anything there, and a link is never a directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LayeredView } from '../../src/sandbox/rootfs-view';

describe('LayeredView.isEmptyDir', () => {
  it('looks through every layer and never through a link', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-layers-'));
    const [upper, lower, outside] = ['upper', 'lower', 'outside'].map((d) => path.join(base, d));
    for (const d of [`${upper}/a`, `${upper}/b`, `${lower}/a`, `${lower}/b`, `${lower}/only`, outside]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(`${lower}/a/x`, '');
    fs.symlinkSync(outside, `${upper}/link`);
    const view = new LayeredView([upper, lower]);
    try {
      expect(view.isEmptyDir('/b')).toBe(true);
      expect(view.isEmptyDir('/only')).toBe(true);
      expect(view.isEmptyDir('/a')).toBe(false); // the lower layer's file shows through
      expect(view.isEmptyDir('/link')).toBe(false); // a link to an empty host directory is no directory
      expect(view.isEmptyDir('/missing')).toBe(false);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
