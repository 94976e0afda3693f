/**
 * COPY, ADD and WORKDIR's mkdir through nook's build helper, run for real as
 * the unprivileged test users: the helper (build/nook in a user and mount
 * namespace) mounts an overlay of a prepared lower layer under a step's
 * writable layer and writes there; the tests read the writable layer (what
 * becomes the step's layer) from the host.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuildRoot, CopyRequest } from '../../src/build/helper/protocol';
import { fetchUrl } from '../../src/build/copy/fetch';
import { bundleDriver, runSteps, type DriverResult } from '../helpers/build-helper';
import { scratchDir } from '../helpers/files';
import { isRoot, need, type TestUser } from '../helpers/users';

beforeAll(bundleDriver);

/** The host id of a file the helper gave `inside` (the user's own id for 0, its subordinate ids above). */
function hostId(u: TestUser, inside: number, kind: 'uid' | 'gid' = 'uid'): number {
  if (inside === 0) return kind === 'uid' ? u.uid : u.gid;
  const sub = kind === 'uid' ? u.subUids : u.subGids;
  if (!sub) throw new Error(`${u.name} maps only its own id`);
  return sub.start + inside - 1;
}

const FIXED_TIME = new Date('2021-03-04T05:06:07Z');

interface Fixture {
  base: string;
  ctx: string;
  lower: string;
  upper: string;
  victim: string;
  root: BuildRoot;
}

/** Chowns `p` (not following links) to the host ids of inside `uid:gid` for `u`. */
function own(u: TestUser, p: string, uid = 0, gid = uid): void {
  if (isRoot) fs.lchownSync(p, hostId(u, uid), hostId(u, gid, 'gid'));
}

/**
 * A lower layer like an image's (owned as the store's layers are: inside 0
 * is the user), a build context, an empty step (upper, work, merged), and a
 * host directory the image's planted symlinks point at.
 */
function fixture(u: TestUser): Fixture {
  const base = scratchDir(u, 'copy-');
  const victim = scratchDir(u, 'victim-');
  const ctx = path.join(base, 'ctx');
  const lower = path.join(base, 'lower');
  const step = path.join(base, 'step');
  for (const d of [ctx, lower, step, `${lower}/etc`, `${lower}/usr`, `${lower}/usr/lib`, `${lower}/home`]) fs.mkdirSync(d, { mode: 0o755 });
  fs.writeFileSync(`${lower}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  fs.writeFileSync(`${lower}/etc/group`, 'root:x:0:\nstaff:x:50:app\napp:x:1000:\n');
  fs.symlinkSync(victim, `${lower}/app`); // absolute, to the host directory
  fs.symlinkSync(`../../../../../../..${victim}`, `${lower}/rel`); // relative, climbing out
  fs.symlinkSync('usr/lib', `${lower}/lib`);
  fs.writeFileSync(`${lower}/etc/file-not-dir`, 'x');
  execFileSync('chown', ['-hR', `${u.uid}:${u.gid}`, lower, ctx, step]);
  if (u.kind === 'sub') {
    fs.mkdirSync(`${lower}/home/app`, { mode: 0o700 });
    own(u, `${lower}/home/app`, 1000);
  }
  const root: BuildRoot = {
    overlay: { lowerDirs: [lower], upper: `${step}/upper`, work: `${step}/work`, merged: `${step}/merged` },
  };
  return { base, ctx, lower, upper: `${step}/upper`, victim, root };
}

/** Writes a context file owned by the user, with `mode` and a fixed mtime. */
function ctxFile(u: TestUser, f: Fixture, rel: string, content: string | Buffer, mode = 0o644): string {
  const p = path.join(f.ctx, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  own(u, p);
  fs.chmodSync(p, mode);
  fs.utimesSync(p, FIXED_TIME, FIXED_TIME);
  return p;
}

function ctxDirsOwned(u: TestUser, f: Fixture): void {
  execFileSync('find', [f.ctx, '-type', 'd', '-exec', 'chown', `${u.uid}:${u.gid}`, '{}', '+']);
}

const copyReq = (f: Fixture, patterns: string[], dest: string, more: Partial<CopyRequest> = {}): CopyRequest => ({
  root: f.root,
  sources: { kind: 'dir', dir: f.ctx },
  patterns,
  dest,
  ...more,
});

function ok(r: DriverResult): unknown {
  if ('error' in r) throw new Error(`expected success, got: ${r.error} (${r.hint})`);
  return r.ok;
}

function failed(r: DriverResult): { error: string; hint?: string } {
  if (!('error' in r)) throw new Error(`expected an error, got ${JSON.stringify(r.ok)}`);
  return r;
}

const lst = (p: string) => fs.lstatSync(p);
const mountsUnder = (dir: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));

describe('COPY into an overlay over an image layer', () => {
  it('copies files, directories, modes, setuid, symlinks and hard links, owned by 0:0 inside, times kept', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    ctxFile(u, f, 'bin/tool', '#!/bin/sh\n', 0o4755);
    ctxFile(u, f, 'conf/app.conf', 'a=1\n', 0o640);
    fs.linkSync(path.join(f.ctx, 'conf/app.conf'), path.join(f.ctx, 'conf/hard.conf'));
    fs.symlinkSync('../bin/tool', path.join(f.ctx, 'conf/tool-link'));
    own(u, path.join(f.ctx, 'conf/tool-link'));
    ctxDirsOwned(u, f);
    fs.chmodSync(path.join(f.ctx, 'conf'), 0o750);

    const [r] = runSteps(u, [{ op: 'copy', req: copyReq(f, ['.'], '/opt/') }]);
    expect(ok(r)).toEqual({ files: 6 }); // bin, bin/tool, conf, its 3 entries

    const up = f.upper;
    const tool = lst(`${up}/opt/bin/tool`);
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect([tool.uid, tool.gid]).toEqual([u.uid, u.gid]);
    expect(tool.mtime.getTime()).toBe(FIXED_TIME.getTime());
    expect(lst(`${up}/opt/conf`).mode & 0o7777).toBe(0o750);
    expect(lst(`${up}/opt/conf/app.conf`).mode & 0o7777).toBe(0o640);
    expect(lst(`${up}/opt/conf/hard.conf`).ino).toBe(lst(`${up}/opt/conf/app.conf`).ino);
    expect(lst(`${up}/opt/conf/tool-link`).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(`${up}/opt/conf/tool-link`)).toBe('../bin/tool');
    expect(fs.readFileSync(`${up}/opt/conf/app.conf`, 'utf8')).toBe('a=1\n');
    expect(mountsUnder(f.base)).toEqual([]); // the helper's mounts never reach the host
  });

  it('follows docker\'s destination rules: a file keeps its name in dir/, is renamed otherwise, a dir copies its contents, missing dirs are made 0755', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    ctxFile(u, f, 'a.txt', 'A');
    ctxFile(u, f, 'b.txt', 'B');
    ctxFile(u, f, 'src/inner/c.txt', 'C');
    ctxDirsOwned(u, f);
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['a.txt'], '/d1/') },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/d2/renamed') },
      { op: 'copy', req: copyReq(f, ['src'], '/d3') },
      { op: 'copy', req: copyReq(f, ['*.txt'], '/d4/') },
      { op: 'copy', req: copyReq(f, ['a.txt', 'b.txt'], '/d5') },
      { op: 'copy', req: copyReq(f, ['a.txt'], 'rel/', { workdir: '/wd' }) },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/etc/file-not-dir/x') },
      { op: 'copy', req: copyReq(f, ['src'], '/usr') },
    ]);
    const up = f.upper;
    results.slice(0, 4).forEach(ok);
    expect(fs.readFileSync(`${up}/d1/a.txt`, 'utf8')).toBe('A');
    expect(fs.readFileSync(`${up}/d2/renamed`, 'utf8')).toBe('A');
    expect(lst(`${up}/d2`).mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(`${up}/d3/inner/c.txt`, 'utf8')).toBe('C');
    expect(fs.readdirSync(`${up}/d4`).sort()).toEqual(['a.txt', 'b.txt']);
    expect(failed(results[4]).error).toBe('When using COPY with more than one source file, the destination must be a directory and end with a /');
    ok(results[5]);
    expect(fs.readFileSync(`${up}/wd/rel/a.txt`, 'utf8')).toBe('A');
    expect(failed(results[6]).error).toMatch(/cannot copy to non-directory: \/etc\/file-not-dir/);
    // A directory reached through the image's symlink (/lib -> usr/lib) is written through, inside.
    ok(results[7]);
    expect(fs.readFileSync(`${up}/usr/inner/c.txt`, 'utf8')).toBe('C');
  });

  it('--chown by id and by name (from the image\'s /etc/passwd and /etc/group), --chmod, and made parents owned likewise', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    ctxFile(u, f, 'a.txt', 'A', 0o644);
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['a.txt'], '/by-id/new/', { chown: '1000:1000' }) },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/by-name/', { chown: 'app:staff' }) },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/user-only/', { chown: 'app' }) },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/mode/', { chmod: '0600' }) },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/nobody/', { chown: 'ghost' }) },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/symbolic/', { chmod: 'u+x,go-r' }) },
    ]);
    results.slice(0, 4).forEach(ok);
    ok(results[5]);
    expect(lst(`${f.upper}/symbolic/a.txt`).mode & 0o7777).toBe(0o700);
    const up = f.upper;
    const at = (p: string) => [lst(p).uid, lst(p).gid];
    expect(at(`${up}/by-id/new/a.txt`)).toEqual([hostId(u, 1000), hostId(u, 1000, 'gid')]);
    expect(at(`${up}/by-id/new`)).toEqual([hostId(u, 1000), hostId(u, 1000, 'gid')]);
    expect(at(`${up}/by-id`)).toEqual([hostId(u, 1000), hostId(u, 1000, 'gid')]);
    expect(at(`${up}/by-name/a.txt`)).toEqual([hostId(u, 1000), hostId(u, 50, 'gid')]);
    // A user without a group: the same number as gid, as docker documents.
    expect(at(`${up}/user-only/a.txt`)).toEqual([hostId(u, 1000), hostId(u, 1000, 'gid')]);
    expect(lst(`${up}/mode/a.txt`).mode & 0o7777).toBe(0o600);
    expect(failed(results[4]).error).toMatch(/can't find uid for user ghost/);
    expect(fs.existsSync(`${up}/nobody`)).toBe(false);
  });
});

describe('COPY --parents, --exclude and wildcards', () => {
  it('--parents keeps paths (from the root, or from a /./ pivot), --exclude drops what lands on a pattern, an empty wildcard copies nothing', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    ctxFile(u, f, 'src/app/main.c', 'M');
    ctxFile(u, f, 'src/app/test.c', 'T');
    ctxFile(u, f, 'src/lib/util.c', 'U');
    ctxDirsOwned(u, f);
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['src/*/main.c', 'src/lib'], '/p1/', { parents: true }) },
      { op: 'copy', req: copyReq(f, ['src/./app/main.c'], '/p2/', { parents: true }) },
      { op: 'copy', req: copyReq(f, ['src'], '/ex/', { exclude: ['*/test.c', 'lib'] }) },
      { op: 'copy', req: copyReq(f, ['src/*.none'], '/empty/') },
    ]);
    results.forEach(ok);
    expect(fs.readFileSync(`${f.upper}/p1/src/app/main.c`, 'utf8')).toBe('M');
    expect(fs.readFileSync(`${f.upper}/p1/src/lib/util.c`, 'utf8')).toBe('U');
    expect(fs.existsSync(`${f.upper}/p1/src/app/test.c`)).toBe(false);
    expect(fs.readdirSync(`${f.upper}/p2`)).toEqual(['app']);
    expect(fs.readdirSync(`${f.upper}/ex`)).toEqual(['app']);
    expect(fs.readdirSync(`${f.upper}/ex/app`)).toEqual(['main.c']);
    expect(fs.existsSync(`${f.upper}/empty`)).toBe(false);
  });
});

describe('COPY stays inside the image root and the build context', () => {
  it('a destination through planted symlinks to a host directory is written inside the root; the host directory stays empty', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    ctxFile(u, f, 'a.txt', 'A');
    ctxFile(u, f, 'tree/t.txt', 'T');
    ctxDirsOwned(u, f);
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['a.txt'], '/app/') },
      { op: 'copy', req: copyReq(f, ['tree'], '/rel/sub/') },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/app') },
      { op: 'mkdir', req: { root: f.root, path: '/app/work' } },
    ]);
    results.forEach(ok);
    expect(fs.readdirSync(f.victim)).toEqual([]);
    // Where the writes went: the links' targets, read inside the root (the step's writable layer).
    expect(fs.readFileSync(path.join(f.upper, f.victim, 'a.txt'), 'utf8')).toBe('A');
    expect(fs.readFileSync(path.join(f.upper, f.victim, 'sub/t.txt'), 'utf8')).toBe('T');
    expect(fs.statSync(path.join(f.upper, f.victim, 'work')).isDirectory()).toBe(true);
  });

  it('../ sources are cleaned into the context; sources .dockerignore excludes are not found and not copied', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    fs.writeFileSync(path.join(f.base, 'secret'), 'outside the context');
    own(u, path.join(f.base, 'secret'));
    ctxFile(u, f, 'keep.log', 'K');
    ctxFile(u, f, 'drop.log', 'D');
    ctxFile(u, f, 'private/key', 'P');
    ctxFile(u, f, 'ok.txt', 'O');
    ctxFile(u, f, 'secret', 'the context one');
    ctxDirsOwned(u, f);
    const excludes = ['*.log', '!keep.log', 'private'];
    const withIgnore = (patterns: string[], dest: string): CopyRequest => ({ ...copyReq(f, patterns, dest), sources: { kind: 'dir', dir: f.ctx, excludes } });
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['../secret'], '/s1') },
      { op: 'copy', req: copyReq(f, ['../../../../missing'], '/s2') },
      { op: 'copy', req: withIgnore(['drop.log'], '/x/') },
      { op: 'copy', req: withIgnore(['private/key'], '/x/') },
      { op: 'copy', req: withIgnore(['.'], '/all/') },
      { op: 'copy', req: withIgnore(['*.log'], '/logs/') },
    ]);
    ok(results[0]);
    expect(fs.readFileSync(`${f.upper}/s1`, 'utf8')).toBe('the context one');
    expect(failed(results[1]).error).toBe('COPY failed: file not found in build context or excluded by .dockerignore: stat ../../../../missing: file does not exist');
    expect(failed(results[2]).error).toMatch(/^COPY failed: file not found in build context or excluded by \.dockerignore: stat drop\.log/);
    expect(failed(results[3]).error).toMatch(/file not found in build context or excluded by \.dockerignore: stat private\/key/);
    ok(results[4]);
    expect(fs.readdirSync(`${f.upper}/all`).sort()).toEqual(['keep.log', 'ok.txt', 'secret']);
    ok(results[5]);
    expect(fs.readdirSync(`${f.upper}/logs`)).toEqual(['keep.log']);
  });
});

describe('ADD', () => {
  it('extracts a local tar.gz (owners from the archive), and copies a file that is not an archive as it is', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    const src = path.join(f.base, 'tarsrc');
    fs.mkdirSync(`${src}/pkg`, { recursive: true });
    fs.writeFileSync(`${src}/pkg/run.sh`, 'echo hi\n', { mode: 0o755 });
    fs.chmodSync(`${src}/pkg/run.sh`, 0o755);
    execFileSync('tar', ['-C', src, '--owner=1000', '--group=1000', '--numeric-owner', '-czf', path.join(f.ctx, 'pkg.tar.gz'), 'pkg']);
    own(u, path.join(f.ctx, 'pkg.tar.gz'));
    ctxFile(u, f, 'notes.gz', zlib.gzipSync('just text, not a tar'));
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['pkg.tar.gz'], '/ext/', { add: true }) },
      { op: 'copy', req: copyReq(f, ['notes.gz'], '/ext/', { add: true }) },
      { op: 'copy', req: copyReq(f, ['pkg.tar.gz'], '/copied/') },
    ]);
    results.forEach(ok);
    const run = lst(`${f.upper}/ext/pkg/run.sh`);
    expect(fs.readFileSync(`${f.upper}/ext/pkg/run.sh`, 'utf8')).toBe('echo hi\n');
    expect(run.mode & 0o777).toBe(0o755);
    expect([run.uid, run.gid]).toEqual([hostId(u, 1000), hostId(u, 1000, 'gid')]);
    expect(zlib.gunzipSync(fs.readFileSync(`${f.upper}/ext/notes.gz`)).toString()).toBe('just text, not a tar');
    expect(fs.readdirSync(`${f.upper}/copied`)).toEqual(['pkg.tar.gz']); // COPY never extracts
  });

  it('downloads an http URL (checksum verified, mode 0600, Last-Modified kept) and copies it as a prepared file', async (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    const body = 'downloaded content\n';
    const server = http.createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { Location: '/files/tool.sh' });
        res.end();
        return;
      }
      res.writeHead(200, { 'Last-Modified': FIXED_TIME.toUTCString(), 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const prepared = path.join(f.base, 'prepared');
      fs.mkdirSync(prepared);
      const sum = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      const got = await fetchUrl(`http://127.0.0.1:${port}/files/tool.sh`, prepared, { checksum: sum });
      expect(got).toEqual({ file: path.join(prepared, 'tool.sh'), name: 'tool.sh', sha256: sum });
      expect(fs.statSync(got.file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(got.file).mtime.getTime()).toBe(FIXED_TIME.getTime());

      const bad = path.join(f.base, 'bad');
      fs.mkdirSync(bad);
      await expect(fetchUrl(`http://127.0.0.1:${port}/redirect`, bad, { checksum: `sha256:${'0'.repeat(64)}` })).rejects.toThrow(
        /checksum of .* does not match: expected sha256:0{64}, got sha256:[0-9a-f]{64}/,
      );
      expect(fs.readdirSync(bad)).toEqual([]); // nothing half-kept

      execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, prepared]);
      const [r] = runSteps(u, [{ op: 'copy', req: { ...copyReq(f, ['tool.sh'], '/usr/local/bin/'), sources: { kind: 'dir', dir: prepared } } }]);
      ok(r);
      expect(fs.readFileSync(`${f.upper}/usr/local/bin/tool.sh`, 'utf8')).toBe(body);
      expect(lst(`${f.upper}/usr/local/bin/tool.sh`).mode & 0o777).toBe(0o600);
    } finally {
      server.close();
    }
  });
});

describe('COPY --from, WORKDIR and USER', () => {
  it('COPY --from a stage keeps its owners, and sees its layers as overlayfs shows them (whiteouts applied)', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    const l1 = path.join(f.base, 'stage-l1');
    const l2 = path.join(f.base, 'stage-l2');
    fs.mkdirSync(`${l1}/out`, { recursive: true });
    fs.mkdirSync(`${l2}/out`, { recursive: true });
    fs.writeFileSync(`${l1}/out/bin`, 'built');
    fs.writeFileSync(`${l1}/out/tmp`, 'deleted by the next layer');
    execFileSync('mknod', [`${l2}/out/tmp`, 'c', '0', '0']); // overlayfs's whiteout
    fs.writeFileSync(`${l2}/out/extra`, 'more');
    execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, l1, l2]);
    own(u, `${l1}/out/bin`, 1000);
    // The store's short links (l/NAME -> layer), as the engine may pass them to keep mount options short.
    const links = path.join(f.base, 'l');
    fs.mkdirSync(links);
    fs.symlinkSync(l2, path.join(links, 'TOP'));
    fs.symlinkSync(l1, path.join(links, 'BOTTOM'));
    fs.symlinkSync(f.lower, path.join(links, 'BASE'));
    const linked: BuildRoot = {
      overlay: { lowerDirs: [f.lower], linkDir: links, lowers: ['BASE'], upper: `${f.base}/step2/upper`, work: `${f.base}/step2/work`, merged: `${f.base}/step2/merged` },
    };
    fs.mkdirSync(`${f.base}/step2`);
    execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, links, `${f.base}/step2`]);
    const results = runSteps(u, [
      { op: 'copy', req: { root: f.root, sources: { kind: 'layers', lowerDirs: [l2, l1] }, patterns: ['/out'], dest: '/from/' } },
      { op: 'copy', req: { root: f.root, sources: { kind: 'layers', lowerDirs: [l1] }, patterns: ['/out/bin'], dest: '/one/', chown: '0:0' } },
      { op: 'copy', req: { root: linked, sources: { kind: 'layers', lowerDirs: [l2, l1], linkDir: links, lowers: ['TOP', 'BOTTOM'] }, patterns: ['/out/*'], dest: '/linked/' } },
    ]);
    results.forEach(ok);
    expect(fs.readdirSync(`${f.upper}/from`).sort()).toEqual(['bin', 'extra']);
    expect(fs.readdirSync(`${f.base}/step2/upper/linked`).sort()).toEqual(['bin', 'extra']);
    expect(lst(`${f.upper}/from/bin`).uid).toBe(hostId(u, 1000));
    expect(lst(`${f.upper}/one/bin`).uid).toBe(u.uid);
    expect(mountsUnder(f.base)).toEqual([]);
  });

  it('mkdir makes a missing WORKDIR (owned as asked) inside the root; resolve-user reads the image\'s /etc/passwd and /etc/group', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    const results = runSteps(u, [
      { op: 'mkdir', req: { root: f.root, path: '/srv/www/data', chown: 'app' } },
      { op: 'mkdir', req: { root: f.root, path: '/etc' } },
      { op: 'mkdir', req: { root: f.root, path: '/etc/file-not-dir/sub' } },
      { op: 'resolveUser', req: { root: f.root, user: 'app' } },
      { op: 'resolveUser', req: { root: f.root, user: '42:7' } },
      { op: 'resolveUser', req: { root: f.root, user: 'ghost' } },
    ]);
    ok(results[0]);
    const made = lst(`${f.upper}/srv/www/data`);
    expect(made.isDirectory()).toBe(true);
    expect([made.uid, made.mode & 0o7777]).toEqual([hostId(u, 1000), 0o755]);
    ok(results[1]);
    expect(fs.existsSync(`${f.upper}/etc`)).toBe(false); // already there: nothing written
    expect(failed(results[2]).error).toBe('WORKDIR failed: cannot copy to non-directory: /etc/file-not-dir');
    expect(ok(results[3])).toEqual({ uid: 1000, gid: 1000, groups: [1000, 50], home: '/home/app' });
    expect(ok(results[4])).toMatchObject({ uid: 42, gid: 7 });
    expect(failed(results[5]).error).toMatch(/unable to find user ghost/);
  });
});

describe('without subordinate ids', () => {
  it('COPY works with files owned by 0 inside (the user); --chown to an unmapped id, or ADD of an archive with such owners, fails naming the fix', (ctx) => {
    const u = need(ctx, 'nosub');
    const f = fixture(u);
    ctxFile(u, f, 'a.txt', 'A');
    const src = path.join(f.base, 'tarsrc');
    fs.mkdirSync(src);
    fs.writeFileSync(`${src}/owned`, 'by 1000');
    execFileSync('tar', ['-C', src, '--owner=1000', '--group=1000', '--numeric-owner', '-cf', path.join(f.ctx, 'a.tar'), 'owned']);
    own(u, path.join(f.ctx, 'a.tar'));
    const results = runSteps(u, [
      { op: 'copy', req: copyReq(f, ['a.txt'], '/x/') },
      { op: 'copy', req: copyReq(f, ['a.txt'], '/y/', { chown: '1000:1000' }) },
      { op: 'copy', req: copyReq(f, ['a.tar'], '/t1/', { add: true }) },
      { op: 'copy', req: copyReq(f, ['a.tar'], '/t2/', { add: true, chown: '0:0' }) },
    ]);
    const t1 = failed(results[2]);
    expect(t1.error).toMatch(/owned by uid 1000, which is not mapped into nook's user namespace/);
    expect(t1.hint).toMatch(/or ADD it with --chown=0:0/);
    expect(t1.hint).not.toMatch(/squash-ids/);
    ok(results[3]);
    expect(lst(`${f.upper}/t2/owned`).uid).toBe(u.uid);
    ok(results[0]);
    expect(lst(`${f.upper}/x/a.txt`).uid).toBe(u.uid);
    const e = failed(results[1]);
    expect(e.error).toBe("--chown=1000:1000: uid 1000 is not mapped in nook's user namespace, so no file can be given it");
    expect(e.hint).toMatch(/only your own id is mapped.*subordinate ids/);
    expect(fs.existsSync(`${f.upper}/y`)).toBe(false); // checked before anything was written
  });
});

describe('the copy fallback (a plain directory root)', () => {
  it('writes into the directory, inside it', (ctx) => {
    const u = need(ctx, 'sub');
    const f = fixture(u);
    ctxFile(u, f, 'a.txt', 'A');
    const root: BuildRoot = { rootfs: f.lower };
    const [r1, r2] = runSteps(u, [
      { op: 'copy', req: { ...copyReq(f, ['a.txt'], '/app/'), root } },
      { op: 'copy', req: { ...copyReq(f, ['a.txt'], '/opt/b.txt'), root, chown: 'app:app' } },
    ]);
    ok(r1);
    ok(r2);
    expect(fs.readdirSync(f.victim)).toEqual([]);
    expect(fs.readFileSync(path.join(f.lower, f.victim, 'a.txt'), 'utf8')).toBe('A');
    expect(lst(`${f.lower}/opt/b.txt`).uid).toBe(hostId(u, 1000));
  });
});
