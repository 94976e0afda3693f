import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assembleLayers } from '../../src/image/store/assemble';
import { setTimes, timestampOf } from '../../src/image/unpack/times';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-assemble-times-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('file times to the nanosecond', () => {
  it('timestampOf splits a stat time as utimensat takes it, before 1970 too', () => {
    expect(timestampOf(1_700_000_000_999_999_999n)).toEqual({ sec: 1_700_000_000, nsec: 999_999_999 });
    expect(timestampOf(-1_500_000_000n)).toEqual({ sec: -2, nsec: 500_000_000 });
    expect(timestampOf(-2_000_000_000n)).toEqual({ sec: -2, nsec: 0 });
  });

  it("the copy-mode fallback (assembleLayers) keeps them: a time just below a whole second stays below it (Node's utimes rounds)", () => {
    const layer = path.join(root, 'layer');
    fs.mkdirSync(path.join(layer, 'd'), { recursive: true });
    fs.writeFileSync(path.join(layer, 'd/f'), 'x');
    const t = { sec: 1_700_000_000, nsec: 999_999_999 };
    for (const p of ['d/f', 'd']) setTimes(Buffer.from(`${path.join(layer, p)}\0`), t, t);
    const dest = path.join(root, 'dest');
    fs.mkdirSync(dest);
    assembleLayers([layer], dest);
    for (const p of ['d/f', 'd']) expect(fs.lstatSync(path.join(dest, p), { bigint: true }).mtimeNs).toBe(1_700_000_000_999_999_999n);
  });
});
