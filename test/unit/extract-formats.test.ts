/**
 * What layer blobs look like: compressions, archives written by real tools
 * (GNU tar in its formats, Python's tarfile), and damaged or odd input. The
 * tar reader is also fed in awkward chunk sizes directly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { libcFs } from '../../ffi/libc-fs';
import { extractLayer } from '../../src/image/unpack/extract';
import { TarReader, type TarEntry } from '../../src/image/unpack/tar-reader';
import { cleanupScratch, extractEntries, isRoot, makeLayer, makeLayerAsMe, scratch, snapshot, type LayerEntry } from '../helpers/layers';

afterEach(cleanupScratch);

const ENTRIES: LayerEntry[] = [
  { path: './', type: 'dir', mode: 0o755, mtime: 1500000000 },
  { path: 'bin/', type: 'dir', mode: 0o755, mtime: 1500000001 },
  { path: 'etc/', type: 'dir', mode: 0o755, mtime: 1600000000 },
  // An owner other than root's where the suite may give files away.
  { path: 'etc/hostname', content: 'box\n', mode: 0o644, ...(isRoot ? { uid: 1, gid: 2 } : {}), mtime: 1600000001 },
  { path: 'bin/sh', content: Buffer.alloc(70000, 's'), mode: 0o4755 },
  { path: 'bin/link', type: 'symlink', linkname: 'sh' },
];

async function extractBlob(blob: Buffer, opts: { debug?: string[] } = {}): Promise<{ dest: string; entries: number }> {
  const s = scratch();
  fs.writeFileSync(s.blob, blob);
  const r = await extractLayer(s.blob, s.dest, { ids: 'any', layerName: 'layer L', onDebug: (m) => opts.debug?.push(m) });
  return { dest: s.dest, entries: r.entries };
}

async function failure(blob: Buffer): Promise<Error & { hint?: string }> {
  const err = await extractBlob(blob).then(
    () => undefined,
    (e: Error) => e,
  );
  if (!err) throw new Error('extraction should have failed');
  expect(err.name).toBe('NookError');
  return err;
}

describe('layer blobs', () => {
  it('gzip, zstd and plain tar give the same tree', async () => {
    const trees = [];
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const x = await extractEntries(ENTRIES, { compression });
      trees.push(snapshot(x.dest));
    }
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[2]).toEqual(trees[0]);
    expect(Object.keys(trees[0]).sort()).toEqual(['.', 'bin', 'bin/link', 'bin/sh', 'etc', 'etc/hostname']);
  });

  it('reads multi-member gzip', async () => {
    const tar = makeLayerAsMe(ENTRIES);
    const blob = Buffer.concat([zlib.gzipSync(tar.subarray(0, 1536)), zlib.gzipSync(tar.subarray(1536))]);
    const { dest } = await extractBlob(blob);
    expect(fs.readFileSync(path.join(dest, 'bin/sh')).length).toBe(70000);
  });

  it('extracts archives written by GNU tar and Python like `tar -x` does', async () => {
    const s = scratch();
    const src = path.join(s.base, 'src');
    fs.mkdirSync(path.join(src, 'a/b'), { recursive: true });
    const long = path.join('a', 'x'.repeat(150), 'y'.repeat(200));
    fs.mkdirSync(path.join(src, path.dirname(long)), { recursive: true });
    fs.writeFileSync(path.join(src, long), 'long');
    fs.writeFileSync(path.join(src, 'a/b/setuid'), 'x', { mode: 0o755 });
    fs.chmodSync(path.join(src, 'a/b/setuid'), 0o4755);
    fs.writeFileSync(path.join(src, 'empty'), '');
    if (isRoot) fs.chownSync(path.join(src, 'empty'), 1234, 5678);
    fs.writeFileSync(path.join(src, 'ünï'), 'utf8 name');
    fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(1 << 20, 7));
    if (isRoot) fs.chownSync(path.join(src, 'big'), 3000000, 4000000); // base-256 in GNU headers (needs root; else the user's own ids)
    fs.linkSync(path.join(src, 'big'), path.join(src, 'a/hard'));
    fs.symlinkSync('../' + 't'.repeat(120), path.join(src, 'a/sym'));
    execFileSync('mkfifo', [path.join(src, 'a/fifo')]);
    fs.mkdirSync(path.join(src, 'sticky'), { mode: 0o1777 });
    fs.chmodSync(path.join(src, 'sticky'), 0o1777);
    const v = Buffer.from('value');
    expect(libcFs().lsetxattr(Buffer.from(path.join(src, 'a/b/setuid') + '\0'), 'user.test', v, v.length, 0)).toBe(0);
    for (const p of ['a/b', 'a', 'sticky', '.']) fs.utimesSync(path.join(src, p), 1500000000, 1500000000);

    const archives: Record<string, string> = {};
    for (const format of ['gnu', 'pax', 'ustar-ish']) {
      const file = path.join(s.base, `${format}.tar`);
      // ustar cannot hold the long name or the big ids; GNU tar writes xattrs in posix archives only.
      const fmt = format === 'ustar-ish' ? 'oldgnu' : format === 'pax' ? 'posix' : 'gnu';
      const xattrs = fmt === 'posix' ? ['--xattrs', '--xattrs-include=user.*'] : [];
      execFileSync('tar', [...xattrs, `--format=${fmt}`, '-C', src, '-cf', file, '.']);
      archives[format] = file;
    }
    for (const format of ['GNU_FORMAT', 'PAX_FORMAT']) {
      const file = path.join(s.base, `py-${format}.tar`);
      execFileSync('python3', ['-c', `import tarfile,sys\nwith tarfile.open(sys.argv[1], 'w', format=tarfile.${format}) as t: t.add(sys.argv[2], arcname='.')`, file, src]);
      archives[`python ${format}`] = file;
    }

    for (const [name, file] of Object.entries(archives)) {
      const byTar = path.join(s.base, `by-tar-${name}`);
      fs.mkdirSync(byTar);
      execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '--numeric-owner', '-xpf', file, '-C', byTar]);
      const ours = path.join(s.base, `ours-${name}`);
      fs.mkdirSync(ours);
      await extractLayer(file, ours, { ids: 'any' });
      expect({ name, tree: snapshot(ours) }).toEqual({ name, tree: snapshot(byTar) });
      const buf = Buffer.alloc(16);
      const n = libcFs().lgetxattr(Buffer.from(path.join(ours, 'a/b/setuid') + '\0'), 'user.test', buf, buf.length);
      if (name === 'pax') expect(buf.toString('utf8', 0, n)).toBe('value');
    }
    if (isRoot) expect(snapshot(path.join(s.base, 'ours-gnu'))['big']).toMatch(/^100644 3000000:4000000 n2 /);
  });

  describe('damaged blobs are refused with a clear error', () => {
    const tar = makeLayerAsMe(ENTRIES);

    it('truncated gzip', async () => {
      const gz = zlib.gzipSync(tar);
      const err = await failure(gz.subarray(0, gz.length - 20));
      expect(err.message).toBe('layer L: its gzip data is corrupt or truncated (unexpected end of file)');
      expect(err.hint).toMatch(/pull the image again/);
    });

    it('corrupt gzip', async () => {
      const gz = Buffer.from(zlib.gzipSync(tar));
      for (let i = 30; i < 60; i++) gz[i] ^= 0x55;
      expect((await failure(gz)).message).toMatch(/^layer L: its gzip data is corrupt or truncated \(/);
    });

    it('truncated zstd', async () => {
      const zs = makeLayerAsMe(ENTRIES, { compression: 'zstd' });
      expect((await failure(zs.subarray(0, zs.length - 10))).message).toMatch(/^layer L: its zstd data is corrupt or truncated \(/);
    });

    it('a tar cut inside an entry', async () => {
      const sh = tar.indexOf('bin/sh\0');
      expect((await failure(tar.subarray(0, sh + 600))).message).toBe(`layer L: the archive is truncated (it ends at byte ${sh + 600}, inside an entry)`);
      expect((await failure(tar.subarray(0, 1000))).message).toMatch(/truncated/);
    });

    it('a bad header checksum', async () => {
      const bad = Buffer.from(tar);
      const header = bad.indexOf('bin/sh\0');
      bad[header + 2] ^= 1;
      expect((await failure(bad)).message).toBe(`layer L: bad header checksum at byte ${header}`);
    });

    it('not a tar at all', async () => {
      expect((await failure(Buffer.alloc(4096, 'hello world '))).message).toBe('layer L: not a tar archive (bad header checksum)');
      expect((await failure(Buffer.from('tiny'))).message).toMatch(/^layer L: not a tar archive/);
    });

    it('xz and bzip2', async () => {
      const err = await failure(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0, 0, 0]));
      expect(err.message).toBe('layer L is compressed with xz, which nook does not support');
      expect((await failure(Buffer.from('BZh91AY&SY'))).message).toMatch(/bzip2/);
    });

    it('a missing blob', async () => {
      const s = scratch();
      await expect(extractLayer(path.join(s.base, 'nope'), s.dest, { ids: 'any', layerName: 'layer L' })).rejects.toThrow(/^layer L: cannot read .*nope: ENOENT/);
    });

    it('GNU sparse files and unknown entry types', async () => {
      expect((await failure(makeLayerAsMe([{ path: 'sparse', type: 'S' }]))).message).toMatch(/"sparse" is a GNU sparse file/);
      const err = await failure(makeLayerAsMe([{ path: 'odd', type: 'Z' }]));
      expect(err.message).toBe('layer L: entry "odd" has the unknown tar type "Z"');
      expect(err.hint).toMatch(/files, directories, links and FIFOs/);
    });

    it('a malformed PAX record', async () => {
      const blob = makeLayerAsMe([{ path: 'f', content: 'x', pax: { uid: 'twelve' } }]);
      expect((await failure(blob)).message).toMatch(/^layer L: malformed PAX header at byte 0: uid is "twelve"/);
    });
  });

  describe('odd but valid input', () => {
    it('an empty blob is an empty layer; missing end blocks are fine', async () => {
      expect((await extractBlob(Buffer.alloc(0))).entries).toBe(0);
      const { dest, entries } = await extractBlob(makeLayerAsMe(ENTRIES, { noEndBlocks: true }));
      expect(entries).toBe(6);
      expect(fs.readlinkSync(path.join(dest, 'bin/link'))).toBe('sh');
    });

    it('ignores what follows the end-of-archive block', async () => {
      const blob = Buffer.concat([makeLayerAsMe([{ path: 'a', content: 'a' }]), makeLayerAsMe([{ path: 'b', content: 'b' }])]);
      const { dest } = await extractBlob(blob);
      expect(fs.readdirSync(dest)).toEqual(['a']);
    });

    it('ignores global PAX headers, with a debug note', async () => {
      const g: LayerEntry = { path: 'pax_global_header', type: 'g', content: '52 comment=0123456789abcdef0123456789abcdef01234567\n' };
      const debug: string[] = [];
      const { dest } = await extractBlob(makeLayerAsMe([g, { path: 'f', content: 'x' }]), { debug });
      expect(fs.readdirSync(dest)).toEqual(['f']);
      expect(debug).toEqual(['layer L: ignored a global PAX header at byte 0']);
    });

    it('treats an old-style entry with type NUL and a trailing slash as a directory', async () => {
      const { dest } = await extractBlob(makeLayerAsMe([{ path: 'olddir/', type: '\0', mode: 0o700 }, { path: 'oldfile', type: '\0', content: 'x' }]));
      expect(fs.lstatSync(path.join(dest, 'olddir')).mode).toBe(0o40700);
      expect(fs.readFileSync(path.join(dest, 'oldfile'), 'utf8')).toBe('x');
    });
  });
});

describe('TarReader', () => {
  it('gives the same entries and content whatever the chunk sizes', () => {
    const entries: LayerEntry[] = [
      // Nothing is extracted here: etc/hostname has its owner whoever runs the tests.
      ...ENTRIES.map((e) => (e.path === 'etc/hostname' ? { ...e, uid: 1, gid: 2 } : e)),
      { path: 'p/'.repeat(90) + 'long', content: 'abc', xattrs: { 'user.bin': Buffer.from([0, 1, 2, 0xff, 10]) } },
      { path: 'h', type: 'hardlink', linkname: 'etc/hostname' },
      { path: 'frac', content: '', mtime: 1234.5678, uid: 99999999 },
    ];
    const tar = makeLayer(entries);
    const read = (sizes: number[]) => {
      const got: { e: TarEntry; data: Buffer[] }[] = [];
      const reader = new TarReader({
        entry(e) {
          const item = { e, data: [] as Buffer[] };
          got.push(item);
          return { write: (c) => item.data.push(Buffer.from(c)), end: () => undefined };
        },
      });
      for (let at = 0, i = 0; at < tar.length; i++) {
        const n = sizes[i % sizes.length];
        reader.push(tar.subarray(at, at + n));
        at += n;
      }
      reader.finish();
      return got.map(({ e, data }) => ({ ...e, content: Buffer.concat(data).toString('latin1') }));
    };
    const whole = read([tar.length]);
    expect(whole.map((e) => [e.kind, e.path, e.mode, e.uid, e.mtime.sec, e.mtime.nsec])).toEqual([
      ['dir', './', 0o755, 0, 1500000000, 0],
      ['dir', 'bin/', 0o755, 0, 1500000001, 0],
      ['dir', 'etc/', 0o755, 0, 1600000000, 0],
      ['file', 'etc/hostname', 0o644, 1, 1600000001, 0],
      ['file', 'bin/sh', 0o4755, 0, 1700000000, 0],
      ['symlink', 'bin/link', 0o777, 0, 1700000000, 0],
      ['file', 'p/'.repeat(90) + 'long', 0o644, 0, 1700000000, 0],
      ['hardlink', 'h', 0o644, 0, 1700000000, 0],
      ['file', 'frac', 0o644, 99999999, 1234, 567800000],
    ]);
    expect(whole[6].xattrs).toEqual([['user.bin', Buffer.from([0, 1, 2, 0xff, 10])]]);
    expect(whole[4].content).toBe('s'.repeat(70000));
    expect(whole[7].linkpath).toBe('etc/hostname');
    for (const sizes of [[1], [511, 1, 513], [7, 1000, 3], [4096]]) expect(read(sizes)).toEqual(whole);
  });
});
