/** The context digest memo: reused while a file's stat is unchanged, never after a write. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DigestMemo } from '../../src/build/context/digest-memo';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-memo-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('DigestMemo', () => {
  it('answers from the memo while the stat is the same, and reads the file again once it was written', async () => {
    const file = path.join(dir, 'f');
    const memoFile = path.join(dir, 'memo.json');
    fs.writeFileSync(file, 'one');
    const first = new DigestMemo(memoFile);
    expect(await first.digest(file, fs.statSync(file))).toBe(sha('one'));
    first.save();

    // A memo that says something else for this very stat is believed: the file is not read.
    const doc = JSON.parse(fs.readFileSync(memoFile, 'utf8'));
    const key = Object.keys(doc.digests)[0];
    doc.digests[key] = 'f'.repeat(64);
    fs.writeFileSync(memoFile, JSON.stringify(doc));
    expect(await new DigestMemo(memoFile).digest(file, fs.statSync(file))).toBe('f'.repeat(64));

    // A write (even one that puts the old mtime back) changes the ctime: the file is read again.
    const { atime, mtime } = fs.statSync(file);
    fs.writeFileSync(file, 'two');
    fs.utimesSync(file, atime, mtime);
    expect(await new DigestMemo(memoFile).digest(file, fs.statSync(file))).toBe(sha('two'));
  });

  it('a missing or foreign memo file is an empty memo', async () => {
    const file = path.join(dir, 'g');
    fs.writeFileSync(file, 'x');
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"version": 7}');
    expect(await new DigestMemo(path.join(dir, 'bad.json')).digest(file, fs.statSync(file))).toBe(sha('x'));
    expect(await new DigestMemo(path.join(dir, 'none.json')).digest(file, fs.statSync(file))).toBe(sha('x'));
  });
});
