import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IgnoreMatcher, findDockerignore, loadDockerignore, readDockerignore } from '../../src/build/context/dockerignore';
import { checksumSources, isRemoteSource, resolveCopySources, resolveInContext, walkContext } from '../../src/build/context/sources';

// moby/patternmatcher TestMatches: [pattern, path, matches]
const MATCHES: [string, string, boolean][] = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**/', 'file/', true],
  ['**', '/', true],
  ['**/', '/', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file', true],
  ['**', 'dir/file/', true],
  ['**/', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
];

// Go's filepath.Match cases, as moby/patternmatcher runs them through its matcher: [pattern, path, matches | 'bad']
const GO_MATCH: [string, string, boolean | 'bad'][] = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', true],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[]a]', ']', 'bad'],
  ['[-]', '-', 'bad'],
  ['[x-]', 'x', 'bad'],
  ['[-x]', 'x', 'bad'],
  ['\\', 'a', 'bad'],
  ['[a-b-c]', 'a', 'bad'],
  ['[', 'a', 'bad'],
  ['[^', 'a', 'bad'],
  ['[^bc', 'a', 'bad'],
  ['a[', 'a', 'bad'],
  ['*x', 'xxx', true],
];

describe('.dockerignore patterns: Go filepath.Match syntax', () => {
  it.each(GO_MATCH)('%s on %s: %s', (pattern, file, expected) => {
    if (expected === 'bad') expect(() => new IgnoreMatcher([pattern])).toThrow(/syntax error in pattern/);
    else expect(new IgnoreMatcher([pattern]).excludes(file)).toBe(expected);
  });
});

describe('.dockerignore patterns (moby/patternmatcher cases)', () => {
  it.each(MATCHES)('%s matches %s: %s', (pattern, file, expected) => {
    expect(new IgnoreMatcher([pattern]).excludes(file)).toBe(expected);
  });

  it.each([
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  ])('%j on %s: %s', (patterns, file, expected) => {
    expect(new IgnoreMatcher(patterns).excludes(file)).toBe(expected);
  });

  it('the last matching line wins; a pattern matching a parent directory matches what is under it', () => {
    const m = new IgnoreMatcher(['*.md', '!README.md', 'docs', '!docs/keep.md', 'README.md']);
    expect(m.excludes('CHANGES.md')).toBe(true);
    expect(m.excludes('README.md')).toBe(true);
    expect(m.excludes('docs/a/b.txt')).toBe(true);
    expect(m.excludes('docs/keep.md')).toBe(false);
    expect(m.excludes('src/x.md')).toBe(false);
    expect(m.hasExceptions).toBe(true);
  });

  it('**/*.go excludes Go files at any depth, only those', () => {
    const m = new IgnoreMatcher(['**/*.go']);
    expect(['main.go', 'a/b/c.go'].map((f) => m.excludes(f))).toEqual([true, true]);
    expect(m.excludes('a/b/c.gox')).toBe(false);
  });

  it('reads files as docker does: comments, blanks, cleaning, leading / dropped', () => {
    expect(readDockerignore('\uFEFF# comment\n\n  /abs/path  \n!/keep\n ! spaced \n./a/../b/\n#!not-an-exception\n/\n')).toEqual([
      'abs/path',
      '!keep',
      '!spaced',
      'b',
      '/',
    ]);
    expect(new IgnoreMatcher(readDockerignore('/secret')).excludes('secret')).toBe(true);
  });

  it('refuses a lone ! and a bad pattern, naming the file', () => {
    expect(() => new IgnoreMatcher(['!'])).toThrow('.dockerignore: illegal exclusion pattern "!"');
    expect(() => new IgnoreMatcher(['a[b'])).toThrow('.dockerignore: bad pattern "a[b": syntax error in pattern');
  });
});

describe('build context', () => {
  let ctx: string;
  const write = (rel: string, content = rel, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(ctx, rel)), { recursive: true });
    fs.writeFileSync(path.join(ctx, rel), content);
    fs.chmodSync(path.join(ctx, rel), mode);
  };
  beforeEach(() => {
    ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-ctx-'));
    write('Dockerfile', 'FROM a');
    write('app/main.go');
    write('app/lib/util.go');
    write('app/README.md');
    write('b.txt');
    write('a.txt');
    write('node_modules/x/index.js');
    write('node_modules/keep/index.js');
    fs.symlinkSync('../../etc', path.join(ctx, 'escape'));
    fs.symlinkSync('/app', path.join(ctx, 'abs-link'));
  });
  afterEach(() => fs.rmSync(ctx, { recursive: true, force: true }));

  it('walks sorted, leaving out what is ignored but entering a directory an exception reaches into', () => {
    const m = new IgnoreMatcher(['node_modules', '!node_modules/keep', '**/*.md']);
    expect([...walkContext(ctx, m)].map((e) => e.path)).toEqual([
      'Dockerfile',
      'a.txt',
      'abs-link',
      'app',
      'app/lib',
      'app/lib/util.go',
      'app/main.go',
      'b.txt',
      'escape',
      'node_modules/keep',
      'node_modules/keep/index.js',
    ]);
  });

  it('symlinks in a source path resolve inside the context', () => {
    expect(resolveInContext(ctx, 'abs-link/main.go')).toBe('app/main.go');
    expect(resolveInContext(ctx, 'escape')).toBeUndefined(); // /etc inside the context: absent
    expect(resolveInContext(ctx, '../../app/./lib/..')).toBe('app');
  });

  it('COPY sources: files, directories as contents, globs, .. kept inside', () => {
    const none = new IgnoreMatcher([]);
    const r = resolveCopySources(ctx, ['*.txt', 'app', '../../b.txt', '/app/main.go', 'nomatch*'], none);
    expect(r.map((s) => [s.source, s.path, s.entries.map((e) => e.rel)])).toEqual([
      ['*.txt', 'a.txt', ['a.txt']],
      ['*.txt', 'b.txt', ['b.txt']],
      ['app', 'app', ['README.md', 'lib', 'lib/util.go', 'main.go']],
      ['../../b.txt', 'b.txt', ['b.txt']],
      ['/app/main.go', 'app/main.go', ['main.go']],
    ]);
    expect(resolveCopySources(ctx, ['app/*/*.go'], none).map((s) => s.path)).toEqual(['app/lib/util.go']);
  });

  it('--parents keeps paths from the context root or the /./ pivot; --exclude drops matching entries', () => {
    const none = new IgnoreMatcher([]);
    const rels = (sources: string[], opts: object) => resolveCopySources(ctx, sources, none, opts).flatMap((s) => s.entries.map((e) => e.rel));
    expect(rels(['app/lib/util.go', 'app/lib'], { parents: true })).toEqual(['app/lib/util.go', 'app/lib', 'app/lib/util.go']);
    expect(rels(['./app/./lib/util.go'], { parents: true })).toEqual(['lib/util.go']);
    expect(rels(['app'], { exclude: ['*.md', 'lib'] })).toEqual(['main.go']);
    expect(isRemoteSource('https://example.com/a.tgz')).toBe(true);
    expect(isRemoteSource('git@github.com:moby/buildkit.git')).toBe(true);
    expect(isRemoteSource('./https')).toBe(false);
  });

  it('an excluded or missing source is "not found", as docker says', () => {
    const m = new IgnoreMatcher(['app/README.md', 'node_modules']);
    expect(() => resolveCopySources(ctx, ['app/README.md'], m)).toThrow(
      'COPY failed: file not found in build context or excluded by .dockerignore: stat app/README.md: file does not exist',
    );
    expect(() => resolveCopySources(ctx, ['node_modules/x/index.js'], m)).toThrow(/excluded by .dockerignore: stat node_modules\/x\/index.js/);
    expect(() => resolveCopySources(ctx, ['missing'], m, { kind: 'ADD' })).toThrow(/^ADD failed: file not found/);
    expect(resolveCopySources(ctx, ['app'], m)[0].entries.map((e) => e.rel)).toEqual(['lib', 'lib/util.go', 'main.go']);
    // an excluded directory with an exception inside still gives what the exception brings back
    const keep = new IgnoreMatcher(['node_modules', '!node_modules/keep']);
    expect(resolveCopySources(ctx, ['node_modules'], keep)[0].entries.map((e) => e.rel)).toEqual(['keep', 'keep/index.js']);
    expect(() => resolveCopySources(ctx, ['node_modules/x'], keep)).toThrow(/not found in build context or excluded/);
  });

  it('the checksum ignores mtime, and changes with content, mode, owner, names and --chmod', async () => {
    const none = new IgnoreMatcher([]);
    const sum = (opts = { uid: 0, gid: 0 } as { uid: number; gid: number; chmod?: (m: number) => number }) =>
      checksumSources(ctx, resolveCopySources(ctx, ['app', 'a.txt'], none), opts);
    const first = await sum();
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
    fs.utimesSync(path.join(ctx, 'app/main.go'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await sum()).toBe(first);
    expect(await sum({ uid: 1000, gid: 1000 })).not.toBe(first);
    expect(await sum({ uid: 0, gid: 0, chmod: () => 0o755 })).not.toBe(first);
    fs.chmodSync(path.join(ctx, 'a.txt'), 0o600);
    const modeChanged = await sum();
    expect(modeChanged).not.toBe(first);
    write('app/main.go', 'changed');
    const contentChanged = await sum();
    expect(contentChanged).not.toBe(modeChanged);
    fs.renameSync(path.join(ctx, 'app/main.go'), path.join(ctx, 'app/main2.go'));
    expect(await sum()).not.toBe(contentChanged);
  });

  it('the checksum uses a given file digest function (a memo), once per file', async () => {
    const none = new IgnoreMatcher([]);
    const seen: string[] = [];
    const memo = async (file: string) => {
      seen.push(path.relative(ctx, file));
      return 'x';
    };
    const sources = resolveCopySources(ctx, ['app'], none);
    const a = await checksumSources(ctx, sources, { uid: 0, gid: 0, fileDigest: memo });
    expect(seen.sort()).toEqual(['app/README.md', 'app/lib/util.go', 'app/main.go']);
    expect(a).not.toBe(await checksumSources(ctx, sources, { uid: 0, gid: 0 }));
  });

  it('finds <Dockerfile>.dockerignore before the context .dockerignore', () => {
    expect(findDockerignore(ctx, path.join(ctx, 'Dockerfile'))).toBeUndefined();
    write('.dockerignore', 'a.txt\n');
    expect(loadDockerignore(ctx, path.join(ctx, 'Dockerfile')).excludes('a.txt')).toBe(true);
    write('build/app.Dockerfile', 'FROM a');
    write('build/app.Dockerfile.dockerignore', 'b.txt\n');
    const m = loadDockerignore(ctx, path.join(ctx, 'build/app.Dockerfile'));
    expect([m.excludes('a.txt'), m.excludes('b.txt')]).toEqual([false, true]);
  });
});
