/**
 * The pure parts of COPY and ADD: Go's filepath.Match, docker's
 * destination rules and messages, --chown,
 * archive detection, and the name a downloaded URL gets.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { detectFormat, isArchive, isTarHeader } from '../../src/build/copy/archive';
import { dispositionName, urlFileName } from '../../src/build/copy/fetch';
import { globMatch, hasWildcards } from '../../src/build/copy/match';
import { parseChown, resolveChown } from '../../src/build/copy/owner';
import { checkSourceCount, cleanSource, destination, fileTarget, splitWildcards } from '../../src/build/copy/rules';
import { DirView } from '../../src/sandbox/rootfs-view';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-copy-rules-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('filepath.Match', () => {
  it.each([
    ['*.txt', 'a.txt', true],
    ['*.txt', 'dir/a.txt', false], // * never crosses a /
    ['*/a.txt', 'dir/a.txt', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[a-c]x', 'bx', true],
    ['[^a-c]x', 'bx', false],
    ['[^a-c]x', 'dx', true],
    ['\\*x', '*x', true],
    ['\\*x', 'ax', false],
    ['file.txt', 'file.txt', true],
    ['file.txt', 'fileatxt', false], // . is literal
  ])('%s against %s: %s', (pattern, name, want) => {
    expect(globMatch(pattern, name)).toBe(want);
  });

  it('refuses malformed patterns, as Go does (ErrBadPattern)', () => {
    expect(() => globMatch('[abc', 'a')).toThrow(/invalid pattern "\[abc": unterminated character class/);
    expect(() => globMatch('abc\\', 'abc')).toThrow(/ends with \\/);
  });

  it('finds wildcards, not escaped ones', () => {
    expect(hasWildcards('a*')).toBe(true);
    expect(hasWildcards('a[1]')).toBe(true);
    expect(hasWildcards('a\\*')).toBe(false);
    expect(hasWildcards('plain.txt')).toBe(false);
  });
});

describe('COPY paths', () => {
  it('cleans sources into their root, as docker does', () => {
    expect(cleanSource('../x')).toBe('/x');
    expect(cleanSource('a/../../../../etc/passwd')).toBe('/etc/passwd');
    expect(cleanSource('.')).toBe('/');
    expect(cleanSource('./dir/')).toBe('/dir');
  });

  it('splits at the first component with a wildcard', () => {
    expect(splitWildcards('/src/*.c')).toEqual({ base: '/src', rest: '*.c' });
    expect(splitWildcards('/a/b*/c/*.h')).toEqual({ base: '/a', rest: 'b*/c/*.h' });
    expect(splitWildcards('/*.txt')).toEqual({ base: '/', rest: '*.txt' });
    expect(splitWildcards('/plain/file')).toEqual({ base: '/plain/file', rest: '' });
  });

  it('reads the destination relative to WORKDIR, a trailing / or . making it a directory', () => {
    expect(destination('/app/')).toEqual({ path: '/app', isDir: true });
    expect(destination('/app')).toEqual({ path: '/app', isDir: false });
    expect(destination('.', '/srv')).toEqual({ path: '/srv', isDir: true });
    expect(destination('sub/.', '/srv')).toEqual({ path: '/srv/sub', isDir: true });
    expect(destination('bin/tool', '/usr/local')).toEqual({ path: '/usr/local/bin/tool', isDir: false });
    expect(destination('../../x', '/a')).toEqual({ path: '/x', isDir: false });
  });

  it('names a file as docker does: its own name inside a directory, else the destination', () => {
    expect(fileTarget(destination('/d/'), false, 'a.txt')).toBe('/d/a.txt');
    expect(fileTarget(destination('/d'), true, 'a.txt')).toBe('/d/a.txt');
    expect(fileTarget(destination('/d'), false, 'a.txt')).toBe('/d');
  });

  it('needs a directory destination for several sources, with docker\'s message', () => {
    expect(() => checkSourceCount('COPY', 2, destination('/d'))).toThrow(
      'When using COPY with more than one source file, the destination must be a directory and end with a /',
    );
    expect(() => checkSourceCount('ADD', 3, destination('/d'))).toThrow(/^When using ADD with more than one source file/);
    expect(() => checkSourceCount('COPY', 2, destination('/d/'))).not.toThrow();
    expect(() => checkSourceCount('COPY', 1, destination('/d'))).not.toThrow();
  });
});

describe('--chown', () => {
  const root = path.join(tmp, 'root');
  fs.mkdirSync(`${root}/etc`, { recursive: true });
  fs.writeFileSync(`${root}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
  fs.writeFileSync(`${root}/etc/group`, 'root:x:0:\nweb:x:33:\n');
  const view = new DirView(root);

  it('parses USER[:GROUP]', () => {
    expect(parseChown('1000:1000')).toEqual({ user: '1000', group: '1000' });
    expect(parseChown('app')).toEqual({ user: 'app', group: undefined });
    for (const bad of ['', ':1', '1:', 'a:b:c']) expect(() => parseChown(bad)).toThrow(/invalid --chown/);
  });

  it('resolves names in the image\'s files; a user alone gives its uid as gid (docker\'s rule)', () => {
    expect(resolveChown('1000:1000', view)).toEqual({ uid: 1000, gid: 1000 });
    expect(resolveChown('app', view)).toEqual({ uid: 1000, gid: 1000 });
    expect(resolveChown('app:web', view)).toEqual({ uid: 1000, gid: 33 });
    expect(resolveChown('5:web', view)).toEqual({ uid: 5, gid: 33 });
    expect(() => resolveChown('ghost', view)).toThrow(/can't find uid for user ghost/);
    expect(() => resolveChown('app:nogroup', view)).toThrow(/can't find gid for group nogroup/);
    expect(() => resolveChown('4294967295', view)).toThrow(/not a valid id/);
  });
});

describe('ADD archives', () => {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f'), 'data');
  const tar = path.join(tmp, 'a.tar');
  execFileSync('tar', ['-C', src, '-cf', tar, 'f']);

  it('recognises tar archives, plain and compressed, and nothing else', async () => {
    fs.writeFileSync(`${tar}.gz`, zlib.gzipSync(fs.readFileSync(tar)));
    fs.writeFileSync(path.join(tmp, 'text.gz'), zlib.gzipSync('hello'));
    fs.writeFileSync(path.join(tmp, 'text'), 'hello '.repeat(200));
    expect(await isArchive(tar)).toBe(true);
    expect(await isArchive(`${tar}.gz`)).toBe(true);
    expect(await isArchive(path.join(tmp, 'text.gz'))).toBe(false);
    expect(await isArchive(path.join(tmp, 'text'))).toBe(false);
    for (const [tool, ext] of [['xz', 'xz'], ['bzip2', 'bz2']] as const) {
      try {
        execFileSync(tool, ['-k', '-f', tar]);
      } catch {
        continue; // the tool is not installed: nothing to recognise
      }
      expect(await isArchive(`${tar}.${ext}`)).toBe(true);
    }
  });

  it('detects compression by magic bytes and checks tar header checksums', () => {
    expect(detectFormat(Buffer.from([0x1f, 0x8b, 8]))).toBe('gzip');
    expect(detectFormat(Buffer.from('BZh91AY'))).toBe('bzip2');
    expect(detectFormat(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(detectFormat(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(detectFormat(Buffer.from('plain'))).toBe('none');
    const header = fs.readFileSync(tar).subarray(0, 512);
    expect(isTarHeader(header)).toBe(true);
    const broken = Buffer.from(header);
    broken[0] ^= 1;
    expect(isTarHeader(broken)).toBe(false);
    expect(isTarHeader(Buffer.alloc(512))).toBe(false);
  });
});

describe('ADD URL names', () => {
  it('takes Content-Disposition\'s file name (never a path), else the URL\'s last component', () => {
    expect(dispositionName('attachment; filename="tool.tar.gz"')).toBe('tool.tar.gz');
    expect(dispositionName("attachment; filename*=UTF-8''na%C3%AFve.txt")).toBe('naïve.txt');
    expect(dispositionName('attachment; filename="../../etc/passwd"')).toBe('passwd');
    expect(dispositionName('inline')).toBeUndefined();
    expect(dispositionName(null)).toBeUndefined();
    expect(urlFileName('https://example.com/releases/v1/tool.tar.gz?x=1')).toBe('tool.tar.gz');
    expect(urlFileName('https://example.com/')).toBe('download');
  });
});
