/**
 * `nook cp` and `nook export` as the unprivileged test users, on a container
 * of an image (importBase's busybox) stopped and running, and on --rootfs
 * containers (a private copy of the test rootfs: the shared one is never
 * written). Checked against docker's rules: SRC/. copies contents, an
 * existing DEST directory receives SRC under its name, `-` is a tar on
 * stdin/stdout, owners are the destination's unless -a, -L follows a
 * symlink SRC; errors exit 1 with docker's wording. And the attacks: a
 * symlink the container planted towards the host, used as source or
 * destination, and a tar on stdin with `..` names, never reach host files.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { importBase } from '../helpers/build';
import { env, ok, type Env } from '../helpers/containers';
import { scratchDir, writeFile } from '../helpers/files';
import { makeLayer } from '../helpers/layers';
import { runOnPty } from '../helpers/pty';
import { rootfs, show, startNook } from '../helpers/nook';
import { isRoot, need, type TestUser, type UserKind } from '../helpers/users';

const SETUP = 'mkdir -p /data/sub && echo hi > /data/f && echo deep > /data/sub/g && ln /data/sub/g /data/sub/hard && ln -s /data/f /data/link && rm /bin/true';

async function fails(e: Env, args: string[], input?: string | Buffer): Promise<string> {
  const r = await e.nook(args, { input });
  expect(r.code, `nook ${args.join(' ')}\n${show(r)}`).toBe(1);
  return r.stderr;
}

/** A scratch directory the test user owns, with `files` in it. */
function hostDir(user: TestUser, files: Record<string, string> = {}): string {
  const dir = scratchDir(user, 'cp-');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFile(path.join(dir, name), content, user);
  }
  if (isRoot) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}

/** A container of base:1 named `name`, with SETUP applied; running (sleeping) or stopped. */
async function imageContainer(e: Env, name: string, running: boolean): Promise<void> {
  onTestFinished(async () => void (await e.nook(['rm', '-f', name])));
  await ok(e, ['run', ...(running ? ['-d'] : []), '--name', name, 'base:1', 'sh', '-c', `${SETUP}${running ? ' && exec sleep 1000' : ''}`]);
  if (running) {
    // SETUP done once the last file is gone.
    for (let i = 0; i < 100 && (await e.nook(['exec', name, 'test', '-e', '/bin/true'])).code === 0; i++) await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the container sees, read by a fresh container of its committed image (stopped) or by exec (running). */
async function inside(e: Env, name: string, running: boolean, script: string): Promise<string> {
  if (running) return ok(e, ['exec', name, 'sh', '-c', script]);
  const image = `look-${name}:1`;
  await ok(e, ['commit', name, image]);
  return ok(e, ['run', '--rm', image, 'sh', '-c', script]);
}

const read = (p: string) => fs.readFileSync(p, 'utf8');
const owner = (p: string) => {
  const st = fs.lstatSync(p);
  return `${st.uid}:${st.gid}`;
};

for (const kind of ['sub', 'nosub'] as UserKind[]) {
  for (const running of [false, true]) {
    const state = running ? 'running' : 'stopped';
    describe(`nook cp, image container, ${state} (${kind})`, () => {
      it('copies out: a directory, its contents (/.), a file, a symlink (as a link, or followed with -L), owned by the caller', async (ctx) => {
        const user = need(ctx, kind);
        const e = env(user);
        await importBase(e);
        await imageContainer(e, 'c', running);
        const out = hostDir(user, { 'existing/keep': 'k' });
        await ok(e, ['cp', 'c:/data', `${out}/new`]);
        expect(read(`${out}/new/f`)).toBe('hi\n');
        expect(read(`${out}/new/sub/g`)).toBe('deep\n');
        expect(fs.statSync(`${out}/new/sub/hard`).ino).toBe(fs.statSync(`${out}/new/sub/g`).ino);
        expect(owner(`${out}/new/f`)).toBe(`${user.uid}:${user.gid}`);
        await ok(e, ['cp', 'c:data', `${out}/existing`]);
        expect(read(`${out}/existing/data/sub/g`)).toBe('deep\n');
        expect(read(`${out}/existing/keep`)).toBe('k');
        fs.mkdirSync(`${out}/contents`);
        if (isRoot) fs.chownSync(`${out}/contents`, user.uid, user.gid);
        await ok(e, ['cp', 'c:/data/.', `${out}/contents`]);
        expect(fs.readdirSync(`${out}/contents`).sort()).toEqual(['f', 'link', 'sub']);
        await ok(e, ['cp', 'c:/data/f', `${out}/existing`]);
        expect(read(`${out}/existing/f`)).toBe('hi\n');
        await ok(e, ['cp', 'c:/data/f', `${out}/renamed`]);
        expect(read(`${out}/renamed`)).toBe('hi\n');
        await ok(e, ['cp', 'c:/data/link', `${out}/link`]);
        expect(fs.readlinkSync(`${out}/link`)).toBe('/data/f');
        await ok(e, ['cp', '-L', 'c:/data/link', `${out}/followed`]);
        expect(read(`${out}/followed`)).toBe('hi\n');
        // docker's errors, exit 1.
        expect(await fails(e, ['cp', 'c:/nope', out])).toContain('No such container:path: c:/nope');
        expect(await fails(e, ['cp', 'nope:/data', out])).toContain('No such container: nope');
        expect(await fails(e, ['cp', 'c:/data/f', `${out}/missing/`])).toContain('no such directory');
        expect(await fails(e, ['cp', 'c:/data', `${out}/renamed`])).toContain('cannot copy a directory to a file');
        expect(await fails(e, ['cp', 'c:/data/f', `${out}/a/b`])).toContain('no such directory');
        expect(await fails(e, ['cp', `${out}/renamed`, `${out}/x`])).toContain('must specify at least one container source');
        expect(await fails(e, ['cp', 'c:/a', 'c:/b'])).toContain('No such container:path: c:/a');
        expect(await fails(e, ['cp', 'c:/a'])).toContain('requires exactly 2 arguments');
        // A flag docker does not know: 125, as docker's flag errors.
        expect((await e.nook(['cp', '--bogus', 'c:/data', out])).code).toBe(125);
      });

      it('copies in: a file, a directory, contents, owned by root inside', async (ctx) => {
        const user = need(ctx, kind);
        const e = env(user);
        await importBase(e);
        await imageContainer(e, 'c', running);
        const src = hostDir(user, { 'tree/a': 'A', 'tree/deeper/b': 'B', one: '1' });
        await ok(e, ['cp', `${src}/one`, 'c:/data/']);
        await ok(e, ['cp', `${src}/one`, 'c:/data/two']);
        await ok(e, ['cp', `${src}/tree`, 'c:/data']);
        await ok(e, ['cp', `${src}/tree`, 'c:/fresh']);
        await ok(e, ['cp', `${src}/tree/.`, 'c:/data/sub']);
        const seen = await inside(e, 'c', running, 'cd / && for f in data/one data/two data/tree/a data/tree/deeper/b fresh/a fresh/deeper/b data/sub/a data/sub/g; do echo "$f $(stat -c %u:%g $f) $(cat $f)"; done');
        expect(seen.trim().split('\n')).toEqual([
          'data/one 0:0 1',
          'data/two 0:0 1',
          'data/tree/a 0:0 A',
          'data/tree/deeper/b 0:0 B',
          'fresh/a 0:0 A',
          'fresh/deeper/b 0:0 B',
          'data/sub/a 0:0 A',
          'data/sub/g 0:0 deep',
        ]);
        expect(await fails(e, ['cp', `${src}/one`, 'c:/nope/x'])).toContain('no such directory');
        expect(await fails(e, ['cp', `${src}/missing`, 'c:/data'])).toContain('missing');
      });

      it('streams a tar: out to stdout (under the source\'s name), in from stdin (into a directory)', async (ctx) => {
        const user = need(ctx, kind);
        const e = env(user);
        await importBase(e);
        await imageContainer(e, 'c', running);
        const r = await e.nook(['cp', 'c:/data', '-']);
        expect(r.code, show(r)).toBe(0);
        const dir = hostDir(user);
        fs.writeFileSync(`${dir}/out.tar`, r.stdoutBytes);
        const names = execFileSync('tar', ['-tf', `${dir}/out.tar`], { encoding: 'utf8' }).trim().split('\n').sort();
        expect(names).toEqual(['data/', 'data/f', 'data/link', 'data/sub/', 'data/sub/g', 'data/sub/hard']);
        // The hard link names its target inside the tar; extracted, both are one file.
        execFileSync('tar', ['-xf', `${dir}/out.tar`, '-C', dir]);
        expect(fs.statSync(`${dir}/data/sub/hard`).ino).toBe(fs.statSync(`${dir}/data/sub/g`).ino);
        const listed = execFileSync('tar', ['-tvf', `${dir}/out.tar`, 'data/f'], { encoding: 'utf8' });
        expect(listed).toMatch(/^-rw-r--r-- 0\/0 +3 /);

        const tar = makeLayer([
          { path: 'in/', type: 'dir', uid: 0, gid: 0 },
          { path: 'in/x', content: 'from tar', uid: 0, gid: 0 },
        ]);
        const put = await e.nook(['cp', '-', 'c:/data'], { input: tar });
        expect(put.code, show(put)).toBe(0);
        expect((await inside(e, 'c', running, 'cat /data/in/x')).trim()).toBe('from tar');
        expect(await fails(e, ['cp', '-', 'c:/data/f'], tar)).toContain('not a directory');
      });

      it('attacks: a planted symlink to the host, as source or destination, and a tar with ../ names stay in the container', async (ctx) => {
        const user = need(ctx, kind);
        const e = env(user);
        await importBase(e);
        const victim = hostDir(user, { secret: 'host secret' });
        const name = 'evil';
        onTestFinished(async () => void (await e.nook(['rm', '-f', name])));
        // /escape -> the host's victim directory; /root-link -> /; /inside has the victim's path, but in the container.
        const plant = `ln -s ${victim} /escape && ln -s / /rootlink && mkdir -p /inside${victim} && ln -s /inside${victim} /indirect && echo container > /etc/marker`;
        await ok(e, ['run', ...(running ? ['-d'] : []), '--name', name, 'base:1', 'sh', '-c', `${plant}${running ? ' && exec sleep 1000' : ''}`]);
        if (running) for (let i = 0; i < 100 && (await e.nook(['exec', name, 'test', '-e', '/etc/marker'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
        const out = hostDir(user);
        // Reading through /escape finds nothing: the host's directory is not in the container.
        expect(await fails(e, ['cp', `${name}:/escape/secret`, `${out}/stolen`])).toContain('No such container:path');
        expect(fs.existsSync(`${out}/stolen`)).toBe(false);
        expect(await fails(e, ['cp', '-L', `${name}:/escape`, `${out}/stolen`])).toContain('No such container:path');
        // /rootlink/etc/marker is the container's file, not the host's /etc.
        await ok(e, ['cp', `${name}:/rootlink/etc/marker`, `${out}/marker`]);
        expect(read(`${out}/marker`)).toBe('container\n');
        // Writing through /escape: the host directory gains nothing.
        const src = hostDir(user, { payload: 'payload' });
        // (/escape resolves to a path the container lacks: no such directory.)
        expect(await fails(e, ['cp', `${src}/payload`, `${name}:/escape/payload`])).toContain('no such directory');
        expect(await fails(e, ['cp', `${src}/payload`, `${name}:/escape/`])).toContain('no such directory');
        expect(await fails(e, ['cp', `${src}/payload`, `${name}:/escape/.`])).toContain('no such directory');
        // Onto the link itself: followed inside the root, so the file lands at the victim's path in the container.
        await ok(e, ['cp', `${src}/payload`, `${name}:/escape`]);
        expect((await inside(e, name, running, `cat ${victim}`)).trim()).toBe('payload');
        expect(fs.readdirSync(victim)).toEqual(['secret']);
        expect(read(`${victim}/secret`)).toBe('host secret');
        // Through a link to a path that exists in the container too: the file lands there, inside.
        await ok(e, ['cp', `${src}/payload`, `${name}:/indirect/`]);
        expect(fs.readdirSync(victim)).toEqual(['secret']);
        // A tar with ../ and absolute names is refused, and writes nothing outside.
        const evil = makeLayer([
          { path: '../../../../../../..' + victim + '/dotdot', content: 'x' },
          { path: victim + '/absolute', content: 'x' },
        ]);
        expect(await fails(e, ['cp', '-', `${name}:/tmp`], evil)).toMatch(/outside|unsafe|\.\./);
        // A symlink entry, then a file through it.
        const linkThenWrite = makeLayer([
          { path: 'hop', type: 'symlink', linkname: victim },
          { path: 'hop/through', content: 'x' },
        ]);
        await e.nook(['cp', '-', `${name}:/tmp`], { input: linkThenWrite });
        expect(fs.readdirSync(victim)).toEqual(['secret']);
        // The same planted links as sources of a tar on stdout: the container's files only.
        const t = await e.nook(['cp', `${name}:/rootlink/etc/marker`, '-']);
        expect(t.code, show(t)).toBe(0);
        expect(t.stdoutBytes.toString('latin1')).toContain('container\n');
        const seen = await inside(e, name, running, `ls /inside${victim}`);
        expect(seen.trim()).toBe('payload');
      });
    });
  }
}

describe('nook cp -a (sub)', () => {
  for (const running of [false, true]) {
    it(`keeps the source's owners: the container's ids out (the host's subordinate ids), the user's (root inside) in (${running ? 'running' : 'stopped'})`, async (ctx) => {
      const user = need(ctx, 'sub');
      const e = env(user);
      await importBase(e);
      onTestFinished(async () => void (await e.nook(['rm', '-f', 'a'])));
      await ok(e, ['run', ...(running ? ['-d'] : []), '--name', 'a', 'base:1', 'sh', '-c', `mkdir /d && echo x > /d/f && chown -R 1000:1001 /d${running ? ' && touch /ready && exec sleep 1000' : ''}`]);
      if (running) for (let i = 0; i < 100 && (await e.nook(['exec', 'a', 'test', '-e', '/ready'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      const out = hostDir(user);
      await ok(e, ['cp', 'a:/d', `${out}/plain`]);
      expect(owner(`${out}/plain/f`)).toBe(`${user.uid}:${user.gid}`);
      await ok(e, ['cp', '-a', 'a:/d', `${out}/kept`]);
      // Inside id N (N >= 1) is the host's subordinate id start + N - 1.
      expect(owner(`${out}/kept/f`)).toBe(`${user.subUids!.start + 999}:${user.subGids!.start + 1000}`);
      // In: the user's own file is root's inside with or without -a; the tar of `cp -` keeps its owners.
      const src = hostDir(user, { mine: 'm' });
      await ok(e, ['cp', '-a', `${src}/mine`, 'a:/d/']);
      const tar = makeLayer([{ path: 'fromtar', content: 't', uid: 1234, gid: 4321 }]);
      const put = await e.nook(['cp', '-', 'a:/d'], { input: tar });
      expect(put.code, show(put)).toBe(0);
      const seen = await inside(e, 'a', running, 'stat -c "%n %u:%g" /d/mine /d/f /d/fromtar');
      expect(seen.trim().split('\n')).toEqual(['/d/mine 0:0', '/d/f 1000:1001', '/d/fromtar 1234:4321']);
    });
  }

  it('copies in and out of a container whose processes run as another user (running, -u 1000)', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    await importBase(e);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'u'])));
    await ok(e, ['run', '-d', '-u', '1000', '--name', 'u', 'base:1', 'sleep', '1000']);
    const src = hostDir(user, { one: '1' });
    await ok(e, ['cp', `${src}/one`, 'u:/tmp/one']);
    expect((await ok(e, ['exec', 'u', 'stat', '-c', '%u %s', '/tmp/one'])).trim()).toBe('0 1');
    const out = hostDir(user);
    await ok(e, ['cp', 'u:/tmp/one', `${out}/back`]);
    expect(read(`${out}/back`)).toBe('1');
  });
});

describe('nook cp and export, copy mode (NOOK_OVERLAY=copy)', () => {
  it('copies in and out of a stopped container whose root is a private copy, and exports it (sub)', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    e.opts.env = { ...e.opts.env, NOOK_OVERLAY: 'copy' };
    await importBase(e);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'cm'])));
    await ok(e, ['run', '--name', 'cm', 'base:1', 'sh', '-c', 'echo made > /made']);
    const src = hostDir(user, { one: '1' });
    await ok(e, ['cp', `${src}/one`, 'cm:/one']);
    const out = hostDir(user);
    await ok(e, ['cp', 'cm:/made', `${out}/made`]);
    expect(read(`${out}/made`)).toBe('made\n');
    await ok(e, ['export', '-o', `${out}/cm.tar`, 'cm']);
    const names = execFileSync('tar', ['-tf', `${out}/cm.tar`], { encoding: 'utf8', maxBuffer: 1 << 26 }).split('\n');
    expect(names).toEqual(expect.arrayContaining(['made', 'one', 'bin/']));
    expect(execFileSync('tar', ['-xOf', `${out}/cm.tar`, 'one'], { encoding: 'utf8' })).toBe('1');
  });
});

describe('nook cp, --rootfs container', () => {
  it('copies in and out of a private rootfs directory, stopped and running (sub)', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    const root = path.join(scratchDir(user, 'rootfs-'), 'root');
    execFileSync('cp', ['-a', rootfs(), root]);
    if (isRoot) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, root]);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'r1', 'r2'])));
    await ok(e, ['run', '--name', 'r1', '--rootfs', root, '--', 'true']);
    const src = hostDir(user, { one: '1' });
    await ok(e, ['cp', `${src}/one`, 'r1:/tmp/one']);
    expect(read(`${root}/tmp/one`)).toBe('1');
    await ok(e, ['run', '-d', '--name', 'r2', '--rootfs', root, '--', 'sleep', '1000']);
    await ok(e, ['cp', `${src}/one`, 'r2:/tmp/two']);
    expect((await ok(e, ['exec', 'r2', 'cat', '/tmp/two'])).trim()).toBe('1');
    const out = hostDir(user);
    await ok(e, ['cp', 'r2:/tmp/two', `${out}/back`]);
    expect(read(`${out}/back`)).toBe('1');
    // --read-only: docker's refusal, reading still works.
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'ro'])));
    await ok(e, ['run', '--read-only', '--name', 'ro', '--rootfs', root, '--', 'true']);
    expect(await fails(e, ['cp', `${src}/one`, 'ro:/tmp/three'])).toContain('container rootfs is marked read-only');
    expect(fs.existsSync(`${root}/tmp/three`)).toBe(false);
    await ok(e, ['cp', 'ro:/tmp/one', `${out}/ro-one`]);
    expect(read(`${out}/ro-one`)).toBe('1');
  });
});

describe('nook export', () => {
  for (const kind of ['sub', 'nosub'] as UserKind[]) {
    it(`writes the container's files as a tar: the same names find sees inside (${kind})`, async (ctx) => {
      const user = need(ctx, kind);
      const e = env(user);
      await importBase(e);
      onTestFinished(async () => void (await e.nook(['rm', '-f', 'x'])));
      await ok(e, ['run', '-d', '--name', 'x', 'base:1', 'sh', '-c', 'mkdir /added && echo new > /added/file && rm -r /bin/true && while :; do echo t >> /ticks; sleep 1; done']);
      for (let i = 0; i < 100 && (await e.nook(['exec', 'x', 'test', '-e', '/ticks'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      const found = (await ok(e, ['exec', 'x', 'find', '/', '-xdev'])).trim().split('\n');
      const dir = hostDir(user);
      await ok(e, ['export', '-o', `${dir}/x.tar`, 'x']);
      const r = await e.nook(['export', 'x']);
      expect(r.code, show(r)).toBe(0);
      fs.writeFileSync(`${dir}/stdout.tar`, r.stdoutBytes);
      const list = (tar: string) => execFileSync('tar', ['-tf', tar], { encoding: 'utf8', maxBuffer: 1 << 26 });
      expect(list(`${dir}/stdout.tar`)).toBe(list(`${dir}/x.tar`));
      const names = execFileSync('tar', ['-tf', `${dir}/x.tar`], { encoding: 'utf8', maxBuffer: 1 << 26 })
        .trim()
        .split('\n')
        .map((n) => `/${n.replace(/\/$/, '')}`);
      expect(names).toContain('/added/file');
      expect(names).not.toContain('/bin/true');
      const visible = found.filter((f) => f !== '/');
      expect(new Set(names)).toEqual(new Set(visible));
      expect(await fails(e, ['export', 'nope'])).toContain('No such container: nope');
      expect(await fails(e, ['export', '-o', `${dir}/missing/x.tar`, 'x'])).toContain('cannot write');
      expect(fs.readdirSync(dir).filter((n) => n.includes('nook-'))).toEqual([]);
      // A reader that goes away after the first block: nook ends (exit 1), the container is running again.
      const early = startNook(['export', 'x'], e.opts);
      await new Promise<void>((resolve) => early.child.stdout!.once('data', () => resolve()));
      early.child.stdout!.destroy();
      const ended = await early.processExited;
      expect(ended.code).toBe(1);
      // Paused while read, resumed after: its loop goes on.
      const ticks = async () => (await ok(e, ['exec', 'x', 'wc', '-l', '/ticks'])).trim().split(/\s+/)[0];
      const before = await ticks();
      let after = before;
      for (let i = 0; i < 100 && after === before; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await ticks();
      }
      expect(after).not.toBe(before);
      // docker's refusal to write a tar to a terminal, exit 1.
      const onTty = await runOnPty(['export', 'x'], { user, env: e.opts.env });
      expect(onTty.status, onTty.output).toBe(1);
      expect(onTty.output).toContain('cowardly refusing to save to a terminal');
      // docker's management-command spelling.
      const viaContainer = await e.nook(['container', 'export', 'x']);
      expect(viaContainer.stdoutBytes.length).toBe(r.stdoutBytes.length);
      await ok(e, ['container', 'cp', 'x:/added/file', `${dir}/file`]);
      expect(read(`${dir}/file`)).toBe('new\n');
    });
  }
});
