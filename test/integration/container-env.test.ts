/**
 * What a process learns about its container, as the unprivileged test user
 * sees it: /run/.containerenv in podman's format and an empty /.dockerenv
 * (read-only, never in a diff or a committed image), container=nook and
 * HOSTNAME in the environment.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { importBase } from '../helpers/build';
import { env, ok } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootfs, show } from '../helpers/nook';
import { testUsers } from '../helpers/users';

describe('a container from an image', () => {
  it('sees /run/.containerenv naming it and its image, an empty read-only /.dockerenv, and container=nook', async () => {
    const e = env(testUsers().any);
    await importBase(e);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'envtest'])));
    const script = 'cat /run/.containerenv; echo ---; wc -c < /.dockerenv; echo x > /.dockerenv 2>/dev/null || echo ro; echo x > /run/.containerenv 2>/dev/null || echo ro; echo ---; env';
    const r = await e.nook(['run', '--name', 'envtest', '--hostname', 'h1', 'base:1', 'sh', '-c', script]);
    expect(r.code, show(r)).toBe(0);
    const [containerenv, dockerenv, environ] = r.stdout.split('---\n');
    const id = (await ok(e, ['inspect', '-f', '{{.Id}}', 'envtest'])).trim();
    const imageId = (await ok(e, ['image', 'inspect', '-f', '{{.Id}}', 'base:1'])).trim().replace(/^sha256:/, '');
    const lines = containerenv.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^engine="nook-[^"]+"$/);
    expect(lines.slice(1)).toEqual(['name="envtest"', `id="${id}"`, 'image="base:1"', `imageid="${imageId}"`, 'rootless=1']);
    expect(dockerenv).toBe('0\nro\nro\n');
    expect(environ.split('\n')).toEqual(expect.arrayContaining(['container=nook', 'HOSTNAME=h1']));
  });

  it('leaves them (and the /run made for them) out of diff and commit', async () => {
    const e = env(testUsers().any);
    await importBase(e);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'stubs'])));
    await ok(e, ['run', '--name', 'stubs', 'base:1', 'sh', '-c', 'echo hi > /tmp/made']);
    expect((await ok(e, ['diff', 'stubs'])).trim().split('\n').sort()).toEqual(['A /tmp/made', 'C /tmp']);
    await ok(e, ['commit', 'stubs', 'stubs:1']);
    const r = await e.nook(['run', '--rm', 'stubs:1', 'sh', '-c', 'cat /tmp/made; ls -d /run 2>&1; cat /run/.containerenv | grep -c name=']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hi\n/run\n1\n');
  });
});

describe('a container without --name', () => {
  it('finds its generated name in /run/.containerenv, the one ps shows', async () => {
    const e = env(testUsers().any);
    await importBase(e);
    const id = (await ok(e, ['run', '-d', 'base:1', 'cat', '/run/.containerenv'])).trim();
    onTestFinished(async () => void (await e.nook(['rm', '-f', id])));
    expect(await ok(e, ['wait', id])).toBe('0\n');
    const name = (await ok(e, ['inspect', '-f', '{{.Name}}', id])).trim().replace(/^\//, '');
    // names.ts: ADJECTIVE_NAME, with a number now and then (as docker's).
    expect(name).toMatch(/^[a-z]+_[a-z]+(_\d+)?$/);
    expect(await ok(e, ['logs', id])).toContain(`name="${name}"\nid="${id}"\n`);
  });
});

describe('a --rootfs run', () => {
  it('gets container=nook but no /run/.containerenv, and leaves the rootfs untouched', async () => {
    const e = env(testUsers().any);
    const r = await e.nook(['run', '--rootfs', rootfs(), '--', 'sh', '-c', 'echo $container; ls /run/.containerenv /.dockerenv 2>&1 | wc -l']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('nook\n2\n');
  });

  it('with a record: /run/.containerenv where the tree has that file (bound over it, the tree unwritten), none where it has not', async () => {
    const e = env(testUsers().any);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'rfs-env', 'rfs-none'])));
    // A private copy of the rootfs, root's, with an empty /run/.containerenv: the test user cannot write to it.
    const tree = path.join(scratchDir(), 'rootfs');
    execFileSync('cp', ['-a', rootfs(), tree]);
    fs.mkdirSync(path.join(tree, 'run'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(tree, 'run/.containerenv'), '', { mode: 0o644 });
    const id = (await ok(e, ['run', '-d', '--name', 'rfs-env', '--rootfs', tree, '--', 'sh', '-c', 'cat /run/.containerenv; ls /.dockerenv 2>&1 | wc -l; echo x > /run/.containerenv 2>/dev/null || echo ro'])).trim();
    expect(await ok(e, ['wait', 'rfs-env'])).toBe('0\n');
    const out = await ok(e, ['logs', 'rfs-env']);
    expect(out).toContain(`name="rfs-env"\nid="${id}"\nimage="${tree}"\nimageid=""\n`);
    expect(out).toMatch(/^engine="nook-/);
    expect(out).toMatch(/\n1\nro\n$/); // no /.dockerenv in the tree: none bound, none made
    expect(fs.readFileSync(path.join(tree, 'run/.containerenv'), 'utf8')).toBe('');
    expect(fs.existsSync(path.join(tree, '.dockerenv'))).toBe(false);
    // A start composes it again, the same.
    await ok(e, ['start', 'rfs-env']);
    expect(await ok(e, ['wait', 'rfs-env'])).toBe('0\n');
    // The shared rootfs has no /run/.containerenv: the container goes without, and nothing is made there.
    await ok(e, ['run', '--name', 'rfs-none', '--rootfs', rootfs(), '--', 'sh', '-c', 'test ! -e /run/.containerenv']);
    expect(fs.existsSync(path.join(rootfs(), 'run/.containerenv'))).toBe(false);
  });
});
