/**
 * Layer extraction: what ends up on disk. Tests run as real root (ids 'any'),
 * so ownership can be checked for any id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { libcFs } from '../../ffi/libc-fs';
import { extractLayer, isOpaque, isWhiteout, OPAQUE_XATTR } from '../../src/image/unpack/extract';
import { cleanupScratch, extractEntries, isRoot, makeLayer, makeLayerAsMe, needRootToChown, opaque, scratch, whiteout, type LayerEntry } from '../helpers/layers';

afterEach(cleanupScratch);

const T = 1600000000;

function xattr(file: string, name: string): string | undefined {
  const buf = Buffer.alloc(256);
  const n = libcFs().lgetxattr(Buffer.from(`${file}\0`), name, buf, buf.length);
  return n < 0 ? undefined : buf.toString('latin1', 0, n);
}

describe('extractLayer', () => {
  it('writes files with their content, modes (setuid, setgid, sticky), owners and times', async (ctx) => {
    needRootToChown(ctx);
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const x = await extractEntries([
      { path: './', type: 'dir', mode: 0o755, mtime: T },
      { path: './usr/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: T + 1 },
      { path: './usr/bin/', type: 'dir', mode: 0o755, mtime: T + 2 },
      { path: './usr/bin/su', mode: 0o4755, uid: 0, gid: 0, content: 'su', mtime: T + 3 },
      { path: './usr/bin/wall', mode: 0o2755, uid: 0, gid: 5, content: 'wall', mtime: T + 4 },
      { path: 'usr/bin/owned', mode: 0o6750, uid: 1000, gid: 1001, content: 'mine', mtime: T + 5 },
      { path: 'tmp/', type: 'dir', mode: 0o1777, mtime: T + 6 },
      { path: 'empty', mode: 0o600, content: '', mtime: T + 7 },
      { path: 'big', content: big, mtime: T + 8.25 },
      { path: 'ro-dir/', type: 'dir', mode: 0o500, uid: 7, gid: 8 },
      { path: 'ro-dir/inside', content: 'written after its read-only parent', mode: 0o400 },
    ]);
    const st = (p: string) => fs.lstatSync(path.join(x.dest, p));
    expect(st('usr/bin/su').mode & 0o7777).toBe(0o4755);
    expect(st('usr/bin/wall').mode & 0o7777).toBe(0o2755);
    expect(st('usr/bin/wall').gid).toBe(5);
    expect(st('usr/bin/owned')).toMatchObject({ uid: 1000, gid: 1001 });
    expect(st('usr/bin/owned').mode & 0o7777).toBe(0o6750); // set after chown, which clears them
    expect(st('tmp').mode & 0o7777).toBe(0o1777);
    expect(st('empty')).toMatchObject({ size: 0, mode: 0o100600 });
    expect(fs.readFileSync(path.join(x.dest, 'big')).equals(big)).toBe(true);
    expect(fs.readFileSync(path.join(x.dest, 'usr/bin/su'), 'utf8')).toBe('su');
    expect(st('ro-dir')).toMatchObject({ mode: 0o40500, uid: 7, gid: 8 });
    expect(fs.readFileSync(path.join(x.dest, 'ro-dir/inside'), 'utf8')).toBe('written after its read-only parent');
    // Times of files, and of directories even though their children were written after them.
    expect(st('usr/bin/su').mtimeMs).toBe((T + 3) * 1000);
    expect(st('big').mtimeMs).toBe((T + 8.25) * 1000);
    expect(st('usr').mtimeMs).toBe((T + 1) * 1000);
    expect(st('usr/bin').mtimeMs).toBe((T + 2) * 1000);
    expect(st('tmp').mtimeMs).toBe((T + 6) * 1000);
    expect(st('').mtimeMs).toBe(T * 1000);
    expect(x.result).toEqual({ entries: 11, bytes: 2 + 4 + 4 + big.length + 34 });
  });

  it('applies the "./" entry to the destination itself', async (ctx) => {
    needRootToChown(ctx);
    const x = await extractEntries([{ path: './', type: 'dir', mode: 0o750, uid: 3, gid: 4, mtime: T }]);
    expect(fs.lstatSync(x.dest)).toMatchObject({ mode: 0o40750, uid: 3, gid: 4, mtimeMs: T * 1000 });
  });

  it('creates missing parent directories 0755, owned by root', async (ctx) => {
    needRootToChown(ctx);
    const x = await extractEntries([{ path: 'a/b/c/file', content: 'x', uid: 5 }]);
    for (const d of ['a', 'a/b', 'a/b/c']) expect(fs.lstatSync(path.join(x.dest, d))).toMatchObject({ mode: 0o40755, uid: 0, gid: 0 });
  });

  it('makes symlinks with any target, owned and timed without following them', async (ctx) => {
    needRootToChown(ctx);
    const x = await extractEntries([
      { path: 'etc/', type: 'dir' },
      { path: 'etc/abs', type: 'symlink', linkname: '/etc/passwd', uid: 1000, gid: 1000, mtime: T },
      { path: 'etc/up', type: 'symlink', linkname: '../../../../outside', mtime: T + 1 },
      { path: 'etc/dangling', type: 'symlink', linkname: 'nowhere/at/all' },
      { path: 'etc/long', type: 'symlink', linkname: 'x/'.repeat(200) + 'end' },
    ]);
    const l = (p: string) => fs.readlinkSync(path.join(x.dest, p));
    expect(l('etc/abs')).toBe('/etc/passwd');
    expect(l('etc/up')).toBe('../../../../outside');
    expect(l('etc/dangling')).toBe('nowhere/at/all');
    expect(l('etc/long')).toBe('x/'.repeat(200) + 'end');
    expect(fs.lstatSync(path.join(x.dest, 'etc/abs'))).toMatchObject({ uid: 1000, gid: 1000, mtimeMs: T * 1000 });
    expect(fs.lstatSync('/etc/passwd').uid).toBe(0);
  });

  it('makes hardlinks to earlier entries: one inode', async () => {
    const x = await extractEntries([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/gzip', content: 'gzip', mode: 0o755 },
      { path: 'bin/gunzip', type: 'hardlink', linkname: 'bin/gzip' },
      { path: './bin/zcat', type: 'hardlink', linkname: './bin/gzip' },
      { path: 'lnk', type: 'symlink', linkname: 'bin/gzip' },
      { path: 'lnk2', type: 'hardlink', linkname: 'lnk' }, // a link to the symlink itself
    ]);
    const ino = (p: string) => fs.lstatSync(path.join(x.dest, p)).ino;
    expect(ino('bin/gunzip')).toBe(ino('bin/gzip'));
    expect(ino('bin/zcat')).toBe(ino('bin/gzip'));
    expect(fs.lstatSync(path.join(x.dest, 'bin/gzip')).nlink).toBe(3);
    expect(ino('lnk2')).toBe(ino('lnk'));
    expect(fs.lstatSync(path.join(x.dest, 'lnk2')).isSymbolicLink()).toBe(true);
  });

  it('keeps long and non-UTF-8 names exactly (PAX and GNU long names)', async () => {
    const long = 'd'.repeat(120) + '/' + 'f'.repeat(200);
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in latin1: not UTF-8
    for (const longNames of ['pax', 'gnu'] as const) {
      const x = await extractEntries(
        [
          { path: long, content: 'long' },
          { path: 'ünïcödé/名前', content: 'utf8' },
          { path: latin1, content: 'latin1' },
          { path: 'sym', type: 'symlink', linkname: 't'.repeat(300) },
          { path: 'hl', type: 'hardlink', linkname: long },
        ],
        { longNames },
      );
      expect(fs.readFileSync(path.join(x.dest, long), 'utf8')).toBe('long');
      expect(fs.readFileSync(path.join(x.dest, 'ünïcödé/名前'), 'utf8')).toBe('utf8');
      expect(fs.readFileSync(Buffer.concat([Buffer.from(x.dest + '/'), latin1]), 'utf8')).toBe('latin1');
      expect(fs.readlinkSync(path.join(x.dest, 'sym'))).toBe('t'.repeat(300));
      expect(fs.lstatSync(path.join(x.dest, 'hl')).ino).toBe(fs.lstatSync(path.join(x.dest, long)).ino);
    }
  });

  it('takes owners and times from PAX records, to the nanosecond', async (ctx) => {
    needRootToChown(ctx);
    const x = await extractEntries([
      { path: 'big-ids', content: 'x', uid: 3000000, gid: 4000000 },
      { path: 'pax-owner', content: 'x', uid: 1, gid: 1, pax: { uid: '100000', gid: '100001', mtime: '1500000000.5' } },
      { path: 'old', content: 'x', mtime: -86400 },
      { path: 'older', content: 'x', pax: { mtime: '-1.25' } },
      { path: 'ns/', type: 'dir', pax: { mtime: '1700000000.123456789', atime: '1700000001.987654321' } },
      { path: 'ns/file', content: 'x', pax: { mtime: '1700000000.000000001' } },
      { path: 'ns/link', type: 'symlink', linkname: 'file', pax: { mtime: '1700000000.999999999' } },
    ]);
    const ns = (p: string) => fs.lstatSync(path.join(x.dest, p), { bigint: true });
    expect(fs.lstatSync(path.join(x.dest, 'big-ids'))).toMatchObject({ uid: 3000000, gid: 4000000 });
    expect(fs.lstatSync(path.join(x.dest, 'pax-owner'))).toMatchObject({ uid: 100000, gid: 100001, mtimeMs: 1500000000500 });
    expect(ns('old').mtimeNs).toBe(-86400000000000n);
    expect(ns('older').mtimeNs).toBe(-1250000000n);
    expect(ns('ns').mtimeNs).toBe(1700000000123456789n);
    expect(ns('ns').atimeNs).toBe(1700000001987654321n);
    expect(ns('ns/file').mtimeNs).toBe(1700000000000000001n);
    expect(ns('ns/link').mtimeNs).toBe(1700000000999999999n);
  });

  it('sets xattrs from SCHILY.xattr records; never overlay ones', async (ctx) => {
    if (!isRoot) ctx.skip('needs real root: only root may set security.capability');
    const cap = Buffer.from('0100000201000000000000000000000000000000', 'hex'); // v2, cap_chown
    const x = await extractEntries([
      { path: 'dir/', type: 'dir', xattrs: { 'user.dir': 'd' } },
      { path: 'dir/f', content: 'x', xattrs: { 'user.mime': 'text/plain', 'user.empty': '', 'user.overlay.opaque': 'y' } },
      { path: 'ping', content: 'x', mode: 0o755, xattrs: { 'security.capability': cap } },
      { path: 'sym', type: 'symlink', linkname: 'ping', xattrs: { 'user.x': 'no user xattrs on symlinks' } },
    ]);
    expect(xattr(path.join(x.dest, 'dir'), 'user.dir')).toBe('d');
    expect(xattr(path.join(x.dest, 'dir/f'), 'user.mime')).toBe('text/plain');
    expect(xattr(path.join(x.dest, 'dir/f'), 'user.empty')).toBe('');
    expect(xattr(path.join(x.dest, 'dir/f'), OPAQUE_XATTR)).toBeUndefined();
    expect(Buffer.from(xattr(path.join(x.dest, 'ping'), 'security.capability') ?? '', 'latin1').equals(cap)).toBe(true);
    expect(x.debug.join('\n')).toMatch(/"dir\/f": not setting user\.overlay\.opaque from the layer/);
    expect(x.debug.join('\n')).toMatch(/"sym": not setting user\.x/);
    expect(x.warnings).toEqual([]);
  });

  it('makes FIFOs and skips device nodes with a debug note', async (ctx) => {
    needRootToChown(ctx);
    const x = await extractEntries([
      { path: 'dev/', type: 'dir' },
      { path: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'dev/sda', type: 'blockdev', devmajor: 8, devminor: 0 },
      { path: 'run/fifo', type: 'fifo', mode: 0o620, uid: 4, gid: 5, mtime: T },
    ]);
    expect(fs.existsSync(path.join(x.dest, 'dev/null'))).toBe(false);
    expect(fs.existsSync(path.join(x.dest, 'dev/sda'))).toBe(false);
    const fifo = fs.lstatSync(path.join(x.dest, 'run/fifo'));
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo).toMatchObject({ mode: 0o10620, uid: 4, gid: 5, mtimeMs: T * 1000 });
    expect(x.debug).toEqual([
      'layer sha256:0123456789ab… of test:1: skipped device node "dev/null" (chardev 1:3)',
      'layer sha256:0123456789ab… of test:1: skipped device node "dev/sda" (blockdev 8:0)',
    ]);
  });

  describe('whiteouts', () => {
    it('turns .wh.NAME into a 0/0 character device and .wh..wh..opq into the opaque xattr', async () => {
      const x = await extractEntries([
        { path: 'etc/', type: 'dir' },
        whiteout('etc/removed.conf'),
        whiteout('gone-dir'),
        opaque('var/lib/apt'), // its directory is created
        { path: 'usr/', type: 'dir' },
        opaque('usr'),
        { path: 'usr/new', content: 'x' },
        { path: 'plain/', type: 'dir' },
      ]);
      for (const w of ['etc/removed.conf', 'gone-dir']) {
        const st = fs.lstatSync(path.join(x.dest, w));
        expect(isWhiteout(st)).toBe(true);
        expect(st.rdev).toBe(0);
      }
      expect(fs.existsSync(path.join(x.dest, 'etc/.wh.removed.conf'))).toBe(false);
      expect(fs.existsSync(path.join(x.dest, 'usr/.wh..wh..opq'))).toBe(false);
      expect(isOpaque(path.join(x.dest, 'var/lib/apt'))).toBe(true);
      expect(isOpaque(path.join(x.dest, 'usr'))).toBe(true);
      expect(fs.readdirSync(path.join(x.dest, 'usr'))).toEqual(['new']);
      expect(isOpaque(path.join(x.dest, 'plain'))).toBe(false);
      expect(isWhiteout(fs.lstatSync(path.join(x.dest, 'usr/new')))).toBe(false);
    });

    it('leaves this layer\'s own file alone and lets a later entry replace a whiteout', async () => {
      const x = await extractEntries([
        { path: 'kept', content: 'mine' },
        whiteout('kept'),
        whiteout('back'),
        { path: 'back', content: 'again' },
      ]);
      expect(fs.readFileSync(path.join(x.dest, 'kept'), 'utf8')).toBe('mine');
      expect(fs.readFileSync(path.join(x.dest, 'back'), 'utf8')).toBe('again');
      expect(x.debug.join('\n')).toMatch(/ignored whiteout "\.wh\.kept": "kept" is part of this same layer/);
    });

    it('skips AUFS metadata', async () => {
      const x = await extractEntries([{ path: '.wh..wh.plnk/', type: 'dir' }, { path: '.wh..wh.aufs', content: '' }]);
      expect(fs.readdirSync(x.dest)).toEqual([]);
    });
  });

  describe('a later entry for the same path replaces the earlier one', () => {
    it('file, symlink, hardlink, FIFO → anything', async () => {
      const x = await extractEntries([
        { path: 'f', content: 'one' },
        { path: 'f', content: 'two', mode: 0o600 },
        { path: 's', type: 'symlink', linkname: 'f' },
        { path: 's', content: 'now a file' },
        { path: 'toDir', content: 'file' },
        { path: 'toDir/', type: 'dir', mode: 0o700 },
        { path: 'toDir/child', content: 'c' },
        { path: 'fifo', type: 'fifo' },
        { path: 'fifo', type: 'symlink', linkname: 'elsewhere' },
        { path: 'h', type: 'hardlink', linkname: 'f' },
        { path: 'h', content: 'own inode' },
      ]);
      const r = (p: string) => fs.readFileSync(path.join(x.dest, p), 'utf8');
      expect(r('f')).toBe('two');
      expect(fs.lstatSync(path.join(x.dest, 'f')).mode).toBe(0o100600);
      expect(r('s')).toBe('now a file');
      expect(fs.lstatSync(path.join(x.dest, 'toDir')).mode).toBe(0o40700);
      expect(r('toDir/child')).toBe('c');
      expect(fs.readlinkSync(path.join(x.dest, 'fifo'))).toBe('elsewhere');
      expect(r('h')).toBe('own inode');
      expect(fs.lstatSync(path.join(x.dest, 'f')).nlink).toBe(1);
    });

    it('a directory is removed, with its content, before a non-directory takes its place', async () => {
      const x = await extractEntries([
        { path: 'd/', type: 'dir', mtime: T },
        { path: 'd/sub/file', content: 'x' },
        { path: 'd', type: 'symlink', linkname: '/' },
        { path: 'e/', type: 'dir' },
        { path: 'e', content: 'file now' },
      ]);
      expect(fs.readlinkSync(path.join(x.dest, 'd'))).toBe('/');
      expect(fs.readFileSync(path.join(x.dest, 'e'), 'utf8')).toBe('file now');
      expect(fs.readdirSync(x.dest).sort()).toEqual(['d', 'e']);
    });

    it('a directory entry for an existing directory updates its mode, owner and time only', async (ctx) => {
      needRootToChown(ctx);
      const x = await extractEntries([
        { path: 'd/', type: 'dir', mode: 0o755 },
        { path: 'd/keep', content: 'x' },
        opaque('d'),
        { path: 'd/', type: 'dir', mode: 0o711, uid: 9, gid: 9, mtime: T },
      ]);
      expect(fs.lstatSync(path.join(x.dest, 'd'))).toMatchObject({ mode: 0o40711, uid: 9, gid: 9, mtimeMs: T * 1000 });
      expect(fs.readdirSync(path.join(x.dest, 'd'))).toEqual(['keep']);
      expect(isOpaque(path.join(x.dest, 'd'))).toBe(true);
    });
  });

  describe('owners outside the ids available', () => {
    const ids = { uid: [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65536 }], gid: [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65536 }] };
    const single = { uid: [{ inside: 0, outside: 1000, count: 1 }], gid: [{ inside: 0, outside: 1000, count: 1 }] };
    const entries: LayerEntry[] = [
      { path: 'ok', content: 'x', uid: 65536, gid: 65536 },
      { path: 'home/nobody/.profile', content: 'x', uid: 70000, gid: 100, mode: 0o4750 },
      { path: 'home/nobody/group', content: 'x', uid: 0, gid: 80000 },
      { path: 'home/nobody/link', type: 'symlink', linkname: 'x', uid: 70001, gid: 70001 },
    ];

    it('refuse the layer, naming the file, the id and the fix', async (ctx) => {
      needRootToChown(ctx);
      const s = scratch();
      fs.writeFileSync(s.blob, makeLayer(entries));
      const err = await extractLayer(s.blob, s.dest, { ids, layerName: 'layer sha256:abcd… of debian:12' }).catch((e) => e);
      expect(err.name).toBe('NookError');
      expect(err.message).toBe(
        `layer sha256:abcd… of debian:12: "home/nobody/.profile" is owned by uid 70000, which is not mapped into nook's user namespace (available: 0, 1-65536)`,
      );
      // Subordinate ids are mapped, so the range is what is too small.
      expect(err.hint).toMatch(/^uid 70000 is beyond the ids mapped from your subordinate range \(0-65536 inside\): the first range for \$USER in \/etc\/subuid is too small;.*usermod --add-subuids 100000-165535 \$USER.*; or pull with --squash-ids/);
      expect(fs.existsSync(path.join(s.dest, 'home/nobody/.profile'))).toBe(false);

      const s2 = scratch();
      fs.writeFileSync(s2.blob, makeLayer([{ path: 'f', content: '', gid: 5 }]));
      await expect(extractLayer(s2.blob, s2.dest, { ids: single })).rejects.toThrow(/"f" is owned by gid 5, which is not mapped into nook's user namespace \(available: 0\)/);
    });

    it('with squashIds become root\'s, keeping the mode, with one warning', async (ctx) => {
      needRootToChown(ctx);
      const x = await extractEntries(entries, {}, { ids, squashIds: true });
      const st = (p: string) => fs.lstatSync(path.join(x.dest, p));
      expect(st('ok')).toMatchObject({ uid: 65536, gid: 65536 });
      expect(st('home/nobody/.profile')).toMatchObject({ uid: 0, gid: 100, mode: 0o104750 });
      expect(st('home/nobody/group')).toMatchObject({ uid: 0, gid: 0 });
      expect(st('home/nobody/link')).toMatchObject({ uid: 0, gid: 0 });
      expect(x.warnings).toEqual([
        `layer sha256:0123456789ab… of test:1: 3 files owned by ids that are not mapped into nook's user namespace now belong to root (--squash-ids), e.g. "home/nobody/.profile" (uid 70000)`,
      ]);
    });
  });

  it('reports the compressed bytes read, up to the blob size', async () => {
    const s = scratch();
    const files: LayerEntry[] = Array.from({ length: 50 }, (_, i) => ({ path: `f${i}`, content: Buffer.alloc(100000, i) }));
    for (const compression of ['gzip', 'none'] as const) {
      const blob = makeLayerAsMe(files, { compression });
      fs.writeFileSync(s.blob, blob);
      const dest = fs.mkdtempSync(path.join(s.base, 'd'));
      const seen: number[] = [];
      await extractLayer(s.blob, dest, { ids: 'any', onProgress: (n) => seen.push(n) });
      expect(seen.at(-1)).toBe(blob.length);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
  });
});
