/**
 * Layers made to write outside their destination: each must be refused with
 * a message naming the entry and why, and nothing outside dest may change
 * (extractRefused compares a sentinel directory next to dest before and after).
 * Absolute targets point at that sentinel, never at real host files such as
 * /etc/passwd: these tests run as root, and a regression must not damage the
 * machine that runs them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanupScratch, extractEntries, extractRefused, needRootToChown, scratch, snapshot, type LayerEntry, type Scratch } from '../helpers/layers';

afterEach(cleanupScratch);

/** Entries that refer to the sentinel directory, which sits at ../outside from dest. */
const OUT = '../outside';

describe('extractLayer refuses unsafe layers', () => {
  const cases: [string, LayerEntry[] | ((s: Scratch) => LayerEntry[]), RegExp][] = [
    ['a "../" escape', [{ path: '../outside/evil', content: 'x' }], /entry "\.\.\/outside\/evil" contains a "\.\." component/],
    ['a ".." further down', [{ path: 'a/b/../../../outside/evil', content: 'x' }], /contains a "\.\." component/],
    ['a ".." directory', [{ path: 'a/..', type: 'dir' }], /contains a "\.\." component/],
    ['an absolute path', (s) => [{ path: `${s.outside}/evil`, content: 'x' }], /entry "\/.*\/outside\/evil" is an absolute path/],
    ['an absolute PAX path', (s) => [{ path: 'innocent', content: 'x', pax: { path: `${s.outside}/evil` } }], /entry "\/.*\/outside\/evil" is an absolute path/],
    ['a hardlink to the sentinel by absolute path', (s) => [{ path: 'pw', type: 'hardlink', linkname: `${s.outside}/secret` }], /entry "pw" is a hardlink to "\/.*\/outside\/secret", which is an absolute path/],
    ['a NUL in a PAX name', [{ path: 'x', content: 'x', pax: { path: 'etc/passwd\0.txt' } }], /entry "etc\/passwd\\u0000\.txt" contains a NUL byte/],
    [
      'a symlink parent to an absolute path',
      (s) => [{ path: 'evil', type: 'symlink', linkname: s.outside }, { path: 'evil/secret', content: 'x' }],
      /entry "evil\/secret" goes through "evil", a symlink in the layer/,
    ],
    [
      'a hardlink through a symlink to an absolute path',
      (s) => [{ path: 'etc', type: 'symlink', linkname: s.outside }, { path: 'pw', type: 'hardlink', linkname: 'etc/secret' }],
      /entry "pw" is a hardlink through "etc", a symlink in the layer/,
    ],
    ['a symlink parent, relative', [{ path: 'evil', type: 'symlink', linkname: OUT }, { path: 'evil/secret', content: 'pwned' }], /goes through "evil", a symlink/],
    [
      'a symlink deeper in the parents',
      [{ path: 'a/b/', type: 'dir' }, { path: 'a/b/c', type: 'symlink', linkname: '../../../outside' }, { path: 'a/b/c/d/e', content: 'x' }],
      /entry "a\/b\/c\/d\/e" goes through "a\/b\/c", a symlink/,
    ],
    ['a directory through a symlink', [{ path: 'evil', type: 'symlink', linkname: OUT }, { path: 'evil/sub/', type: 'dir', mode: 0o777 }], /goes through "evil"/],
    ['a whiteout through a symlink', [{ path: 'evil', type: 'symlink', linkname: OUT }, { path: 'evil/.wh.secret', content: '' }], /entry "evil\/\.wh\.secret" goes through "evil"/],
    ['an opaque marker through a symlink', [{ path: 'evil', type: 'symlink', linkname: OUT }, { path: 'evil/.wh..wh..opq', content: '' }], /goes through "evil"/],
    // Refused from its name alone, before any file system call: a link to the real file is safe to try.
    ['a hardlink to /etc/passwd', [{ path: 'pw', type: 'hardlink', linkname: '/etc/passwd' }], /entry "pw" is a hardlink to "\/etc\/passwd", which is an absolute path/],
    ['a hardlink out of the tree', [{ path: 'pw', type: 'hardlink', linkname: `${OUT}/secret` }], /is a hardlink to "\.\.\/outside\/secret", which contains a "\.\." component/],
    [
      'a hardlink through a symlink',
      [{ path: 'evil', type: 'symlink', linkname: OUT }, { path: 'pw', type: 'hardlink', linkname: 'evil/secret' }],
      /entry "pw" is a hardlink through "evil", a symlink in the layer/,
    ],
    ['a hardlink to nothing', [{ path: 'pw', type: 'hardlink', linkname: 'etc/passwd' }], /is a hardlink to "etc\/passwd", which is not an earlier entry of this layer/],
    ['a hardlink to a directory', [{ path: 'd/', type: 'dir' }, { path: 'pw', type: 'hardlink', linkname: 'd' }], /is a hardlink to "d", which is a directory/],
    ['a hardlink to the root', [{ path: 'pw', type: 'hardlink', linkname: './' }], /is a hardlink to the layer's root directory/],
    ['a symlink as the root', [{ path: '.', type: 'symlink', linkname: OUT }], /entry "\." would replace the layer's root directory with a symlink/],
    ['a file as the root', [{ path: './', content: 'x' }], /would replace the layer's root directory/],
    ['a whiteout named ..', [{ path: 'a/.wh...', content: '' }], /entry "a\/\.wh\.\.\." is a whiteout without a valid name/],
  ];

  for (const [what, entries, message] of cases) {
    it(what, async () => {
      const err = await extractRefused(entries);
      expect(err.message).toMatch(/^layer sha256:0123456789ab… of test:1 is refused: /);
      expect(err.message).toMatch(message);
      expect(err.hint).toMatch(/malformed or made to write outside/);
    });
  }

  it('a NUL in a GNU long name', async () => {
    const err = await extractRefused([{ path: 'a'.repeat(101) + '\0/../../x', content: 'x' }], { longNames: 'gnu' });
    expect(err.message).toMatch(/contains a NUL byte/);
  });

  it('never writes through a symlink that an entry replaces', async (ctx) => {
    needRootToChown(ctx);
    // Files, directories, FIFOs and links over a symlink to the outside replace the symlink itself.
    const s = scratch();
    const before = snapshot(s.outside);
    const x = await extractEntries([
      { path: 'f', type: 'symlink', linkname: `${OUT}/secret` },
      { path: 'f', content: 'replaced', mode: 0o777 },
      { path: 'd', type: 'symlink', linkname: OUT },
      { path: 'd/', type: 'dir', mode: 0o777, uid: 1234, mtime: 1 },
      { path: 'p', type: 'symlink', linkname: `${OUT}/secret` },
      { path: 'p', type: 'fifo', mode: 0o666 },
      { path: 'abs', type: 'symlink', linkname: path.join(s.outside, 'secret') },
      { path: 'abs', type: 'hardlink', linkname: 'f' },
      { path: 'o', type: 'symlink', linkname: OUT },
      { path: 'o', type: 'symlink', linkname: 'x', uid: 99, mtime: 5 },
    ]);
    expect(snapshot(s.outside)).toEqual(before);
    // The extraction's own outside directory: the same single, untouched secret (times differ between scratch dirs).
    expect(fs.readdirSync(x.outside)).toEqual(['secret']);
    expect(fs.readFileSync(path.join(x.outside, 'secret'), 'utf8')).toBe('secret\n');
    expect(fs.statSync(path.join(x.outside, 'secret')).mode & 0o7777).toBe(0o600);
    expect(fs.readFileSync(path.join(x.dest, 'f'), 'utf8')).toBe('replaced');
    expect(fs.lstatSync(path.join(x.dest, 'd')).isDirectory()).toBe(true);
    expect(fs.lstatSync(path.join(x.dest, 'p')).isFIFO()).toBe(true);
    expect(fs.lstatSync(path.join(x.dest, 'abs')).ino).toBe(fs.lstatSync(path.join(x.dest, 'f')).ino);
  });

  it('refuses an entry inside a file', async () => {
    const err = await extractRefused([{ path: 'f', content: 'x' }, { path: 'f/g', content: 'y' }]);
    expect(err.message).toBe('layer sha256:0123456789ab… of test:1: "f/g" is inside "f", which is not a directory');
  });
});
