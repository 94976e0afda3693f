/**
 * Hostile and bad input through the real binary, as an unprivileged user
 * (issue 12): image configs with the wrong types or NUL bytes, bad flag
 * values (a bounded, seeded sample), streams that are no archive at all,
 * and gzip bombs in layers, pulled from a registry and loaded from an
 * archive. nook must refuse each with a message (exit 125, no JavaScript
 * stack trace), stop early, and leave nothing half-written in the store.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modernDockerArchive } from '../archive/helpers';
import { scratchDir, writeFile } from '../helpers/files';
import { rootOnlyImage } from '../helpers/images';
import { rootfs, runArgs, runNook, show, type NookOptions, type NookResult } from '../helpers/nook';
import { NOOK } from '../helpers/paths';
import { pushImage, startRegistry, type RegistryServer } from '../helpers/registry';
import { need, type TestUser } from '../helpers/users';

const PLAIN = '--tls-verify=false';
const STACK = /^\s+at /m;
let registry: RegistryServer;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'none' });
});
afterAll(async () => {
  await registry?.stop();
});

function storeFor(user: TestUser): { root: string; opts: NookOptions } {
  const root = path.join(scratchDir(user, 'store-'), 'nook');
  return { root, opts: { user, env: { NOOK_ROOT: root, NOOK_RETRY_BASE_MS: '5' }, timeoutMs: 60_000 } };
}

const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

/**
 * Nothing of a refused image is in the store: no image, no temporary files,
 * no layer but the `good` ones (a pull keeps the layers it finished, for the
 * next pull to reuse).
 */
function expectNothingKept(root: string, good = 0): void {
  expect(list(path.join(root, 'images'))).toEqual([]);
  expect(list(path.join(root, 'layers')).filter((d) => d !== 'tmp')).toHaveLength(good);
  expect(list(path.join(root, 'layers', 'tmp'))).toEqual([]);
  expect(list(path.join(root, 'blobs', 'tmp'))).toEqual([]);
  expect(list(path.join(root, 'tmp'))).toEqual([]);
}

/** `run` refuses with 125; pull, load and import with docker's 1. */
function expectRefused(r: NookResult, message: RegExp, code = 125): void {
  expect(r.code, show(r)).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(STACK);
  expect(r.stderr).not.toMatch(/internal error/);
}

describe('image configs with the wrong types are refused on pull, naming the field', () => {
  const cases: [string, object, RegExp][] = [
    ['a string Cmd', { Cmd: 'echo hi' }, /config\.Cmd is not a list of strings/],
    ['a Cmd of numbers', { Cmd: [1, 2] }, /config\.Cmd is not a list of strings/],
    ['an Env of objects', { Env: [{ A: 1 }], Cmd: ['true'] }, /config\.Env is not a list of strings/],
    ['a NUL in Env', { Env: ['A=1\0B'], Cmd: ['true'] }, /config\.Env\[0\] contains a NUL byte/],
    ['a NUL in Entrypoint', { Entrypoint: ['/bin/sh\0x'] }, /config\.Entrypoint\[0\] contains a NUL byte/],
    ['a numeric WorkingDir', { WorkingDir: 42, Cmd: ['true'] }, /config\.WorkingDir is not a string/],
  ];
  for (const [what, config, message] of cases)
    it(`${what}`, async (ctx) => {
      const user = need(ctx, 'sub');
      const { root, opts } = storeFor(user);
      const img = rootOnlyImage('badcfg');
      const repo = `nook/badcfg-${what.replace(/\W+/g, '-').toLowerCase()}`;
      (img.config as { config: object }).config = config;
      await pushImage(registry.host, repo, 'latest', img);
      const r = await runNook(['run', PLAIN, '-q', `${registry.host}/${repo}:latest`], opts);
      expectRefused(r, message);
      expectNothingKept(root);
    });
});

describe('bad flag values are refused with a message, never a stack trace', () => {
  it('a NUL byte in --env-file, and a registry port out of range', async (ctx) => {
    const user = need(ctx, 'nosub');
    const envFile = writeFile(path.join(scratchDir(user), 'env'), 'A=1\nB=x\0y\n', user);
    expectRefused(await runNook(runArgs(['--env-file', envFile], ['true']), { user }), /env file .*line 2: contains a NUL byte/);
    const { opts } = storeFor(user);
    expectRefused(await runNook(['pull', '127.0.0.1:99999/x'], opts), /"99999" is not a valid port/, 1);
  });

  it('a seeded sample of hostile values for each flag', async (ctx) => {
    const user = need(ctx, 'nosub');
    const envFile = writeFile(path.join(scratchDir(user), 'env-nul'), '\0\n', user);
    const hostile: [string, string[]][] = [
      ['-e', ['=V', '=']],
      ['--env-file', [envFile, '/nonexistent/env']],
      ['-w', ['relative/dir', 'x'.repeat(5000)]],
      ['-h', ['h'.repeat(65), 'ü'.repeat(33)]],
      ['-u', ['99999999999999999999', 'nosuchuser', ':0']],
      ['-v', ['a:b:c:d', '/nonexistent-src:/x', '/tmp:relative', '/tmp:/x:rx']],
      ['--tmpfs', ['relative', '/t:size=1k,bogus']],
      ['--memory', ['-1g', '1e400', 'lots']],
      ['--cpus', ['NaN', '-1', '1e400']],
      ['--pids-limit', ['-5', '99999999999999999999999']],
      ['--ulimit', ['nofile=1e400', 'bogus=1', 'nofile=2:1']],
      ['--network', ['bridge']],
      ['--userns', ['host']],
      ['--security-opt', ['seccomp=/nonexistent.json', 'label=x']],
      ['--cap-add', ['NOT_A_CAP']],
      ['--max-layer-expansion', ['-3', 'x', '0.5']],
    ];
    // A fixed seed: the same sample every run, bounded to a dozen starts of nook.
    let seed = 12;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 12; i++) {
      const [flag, values] = hostile[next(hostile.length)];
      const value = values[next(values.length)];
      const r = await runNook(runArgs([flag, value], ['true']), { user });
      expect(r.code, `${flag} ${value}: ${show(r)}`).toBe(125);
      expect(r.stderr, `${flag} ${value}`).toMatch(/^Error: /);
      expect(r.stderr, `${flag} ${value}`).not.toMatch(STACK);
      expect(r.stderr, `${flag} ${value}`).not.toMatch(/internal error/);
    }
  });
});

describe('a stream that is no archive is refused early', () => {
  it('nook load -i /dev/zero, random bytes, and nook import /dev/zero end within seconds', async (ctx) => {
    const user = need(ctx, 'nosub');
    const { root, opts } = storeFor(user);
    const junk = writeFile(path.join(scratchDir(user), 'junk'), randomBytes(4 << 20), user);
    const quick = { ...opts, timeoutMs: 15_000 };
    expectRefused(await runNook(['load', '-i', '/dev/zero'], quick), /\/dev\/zero is not an image archive: it holds no files/, 1);
    expectRefused(await runNook(['load', '-i', junk], quick), /is not a tar archive/, 1);
    expectRefused(await runNook(['import', '/dev/zero'], quick), /\/dev\/zero is not a tar archive: it is more than 1 MiB of zero bytes/, 1);
    expectRefused(await runNook(['import', junk], quick), /is not a tar archive/, 1);
    expectNothingKept(root);
  });
});

/**
 * A gzip layer of about 1 MiB that expands to a 1 GiB file of zeros: gzip
 * members of 1 MiB of zeros each (about 1 KiB compressed), one after the
 * other, behind the tar header of one 1 GiB file.
 */
function gzipBomb(): { blob: Buffer; expanded: number } {
  const size = 1 << 30;
  const header = Buffer.alloc(512);
  new Header({ path: 'zeros', mode: 0o644, size, type: 'File', mtime: new Date(0), uid: 0, gid: 0 }).encode(header, 0);
  const mib = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const blob = Buffer.concat([zlib.gzipSync(header), ...Array.from({ length: 1024 }, () => mib), zlib.gzipSync(Buffer.alloc(1024))]);
  return { blob, expanded: size + 512 + 1024 };
}

/**
 * Runs nook under a shell that reports, on stderr, how many bytes the
 * whole process tree passed to write(): /proc/PID/io's wchar, which
 * includes the children each process reaped (nook reaps its store helpers).
 */
async function runCountingWrites(args: string[], opts: NookOptions): Promise<{ r: NookResult; written: number }> {
  const script = '"$0" "$@"; code=$?; grep ^wchar: /proc/$$/io >&2; exit $code';
  const r = await runNook(['-c', script, NOOK, ...args], { ...opts, bin: '/bin/sh' });
  const m = /^wchar: (\d+)$/m.exec(r.stderr);
  expect(m, show(r)).not.toBeNull();
  return { r, written: Number(m![1]) };
}

describe('a gzip bomb in a layer is refused as soon as it crosses --max-layer-expansion', () => {
  const bomb = gzipBomb();

  it('when pulled: refused with the flag named, stopped early, nothing kept', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    const img = rootOnlyImage('bomb');
    // The config claims some diff_id: a lie, noticed only after the whole layer would have been written.
    (img.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.push(`sha256:${'ab'.repeat(32)}`);
    await pushImage(registry.host, 'nook/bomb', 'latest', { ...img, layers: [...img.layers, bomb.blob] });
    const ref = `${registry.host}/nook/bomb:latest`;

    const start = Date.now();
    const { r, written } = await runCountingWrites(['pull', PLAIN, '-q', ref], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/decompresses to more than \d+ MiB \(100× its compressed size of 1\.\d MiB/);
    expect(r.stderr).toMatch(/--max-layer-expansion/);
    expect(r.stderr).not.toMatch(STACK);
    // The cap is ~100 MiB of a 1 GiB layer: writing stopped there.
    expect(written).toBeLessThan(200 << 20);
    expect(Date.now() - start).toBeLessThan(30_000);
    expectNothingKept(root, 1);
    expect(fs.existsSync(path.join(root, 'layers', 'ab'.repeat(32)))).toBe(false);

    // A higher limit, given with the flag, lets more through, and is named in the message.
    const again = await runNook(['run', PLAIN, '-q', '--max-layer-expansion', '150', ref, 'true'], opts);
    expect(again.code, show(again)).toBe(125);
    expect(again.stderr).toMatch(/decompresses to more than \d+ MiB \(150× its compressed size/);
    expectNothingKept(root, 1);
  }, 120_000);

  it('without a limit (0), the same layer is written in full before its diff_id is found to lie: what the cap prevents', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    const img = rootOnlyImage('bomb0');
    (img.config as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.push(`sha256:${'cd'.repeat(32)}`);
    await pushImage(registry.host, 'nook/bomb0', 'latest', { ...img, layers: [...img.layers, bomb.blob] });
    const { r, written } = await runCountingWrites(['pull', PLAIN, '-q', '--max-layer-expansion', '0', `${registry.host}/nook/bomb0:latest`], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/does not match its diff_id/);
    expect(written).toBeGreaterThan(1 << 30);
    expectNothingKept(root, 1);
  }, 180_000);

  it('when loaded from an archive: refused with the flag named, nothing kept', async (ctx) => {
    const user = need(ctx, 'nosub');
    const { root, opts } = storeFor(user);
    const { archive } = modernDockerArchive('bomb', 'v1', [bomb.blob]);
    const file = writeFile(path.join(scratchDir(user), 'bomb.tar'), archive, user);
    const { r, written } = await runCountingWrites(['load', '-i', file], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/in .*bomb\.tar decompresses to more than \d+ MiB/);
    expect(r.stderr).toMatch(/--max-layer-expansion/);
    expect(r.stderr).not.toMatch(STACK);
    expect(written).toBeLessThan(200 << 20);
    expectNothingKept(root);

    // A compressed archive whose (uncompressed) layer.tar is 1 GiB of zeros: the same limit holds for what the archive expands to.
    const header = Buffer.alloc(512);
    new Header({ path: 'layer.tar', mode: 0o644, size: 1 << 30, type: 'File', mtime: new Date(0), uid: 0, gid: 0 }).encode(header, 0);
    const mib = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    const gz = writeFile(path.join(scratchDir(user), 'bomb.tar.gz'), Buffer.concat([zlib.gzipSync(header), ...Array.from({ length: 1024 }, () => mib)]), user);
    const z = await runCountingWrites(['load', '-i', gz], opts);
    expectRefused(z.r, /bomb\.tar\.gz decompresses to more than \d+ MiB \(100× its compressed size/, 1);
    expect(z.written).toBeLessThan(200 << 20);
    expectNothingKept(root);

    // And as a tarball to import.
    const layer = writeFile(path.join(scratchDir(user), 'bomb.gz'), bomb.blob, user);
    expectRefused(await runNook(['import', layer], opts), /bomb\.gz decompresses to more than \d+ MiB/, 1);
    expectNothingKept(root);
  }, 120_000);
});

it('the rootfs the sample runs on exists', () => {
  expect(fs.existsSync(rootfs())).toBe(true);
});
