/**
 * Volumes' podman-parity additions, as the unprivileged test users: the
 * local driver's options an unprivileged user can mount (type=tmpfs, a bind
 * of a directory, o= flags) and their errors; -v noexec/nosuid/nodev; volume
 * rm --all and --force (which removes the containers using the volume);
 * ls --noheading and the name filter as a regular expression; prune's
 * question; volume export/import and mount; nook unshare;
 * --group-add keep-groups; --image-volume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, type Env } from '../helpers/containers';
import { buildOk, importBase, makeContext } from '../helpers/build';
import { scratchDir, writeFile } from '../helpers/files';
import { rootfs, show } from '../helpers/nook';
import { need } from '../helpers/users';

const R = () => ['--rootfs', rootfs()];

async function fails(e: Env, args: string[], code: number, message: RegExp): Promise<void> {
  const r = await e.nook(args);
  expect(r.code, show(r)).toBe(code);
  expect(r.stderr).toMatch(message);
}

const names = async (e: Env) => (await ok(e, ['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();

describe('volume driver options', () => {
  it('type=tmpfs mounts a fresh tmpfs with its o= options; a bind volume mounts its device; bad options are refused', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await ok(e, ['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m,mode=1777', 'tm']);
    const [t] = JSON.parse(await ok(e, ['volume', 'inspect', 'tm']));
    expect(t.Options).toEqual({ type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=1777' });
    expect((await ok(e, ['run', ...R(), '-v', 'tm:/mnt', '--', 'sh', '-c', 'stat -f -c %T /mnt; stat -c %a /mnt; echo x > /mnt/f'])).split('\n')).toEqual(['tmpfs', '1777', '']);
    expect((await ok(e, ['run', ...R(), '-v', 'tm:/mnt', '--', 'df', '-k', '/mnt'])).split('\n')[1]).toMatch(/^tmpfs\s+1024\s/);
    // Each container's tmpfs is its own.
    expect((await ok(e, ['run', ...R(), '-v', 'tm:/mnt', '--', 'ls', '-A', '/mnt'])).trim()).toBe('');

    const dir = scratchDir(e.user, 'dev-');
    writeFile(path.join(dir, 'myfile'), 'hello\n', e.user);
    await fails(e, ['volume', 'create', '-o', 'type=bind', '-o', 'device=/nonexistent-nook', 'bv'], 1, /invalid volume option device for driver 'local': stat \/nonexistent-nook: no such file or directory/);
    expect(await names(e)).toEqual(['tm']);
    await ok(e, ['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${dir}`, 'bv']);
    expect((await ok(e, ['run', ...R(), '-v', 'bv:/mnt', '--', 'sh', '-c', 'cat /mnt/myfile; stat -c %u /mnt/myfile; echo out > /mnt/new'])).split('\n')).toEqual(['hello', '0', '']);
    expect(fs.readFileSync(path.join(dir, 'new'), 'utf8')).toBe('out\n');
    expect((await ok(e, ['volume', 'mount', 'bv'])).trim()).toBe(dir);
    // o=ro: read-only wherever it is mounted; podman's type=bind spelling.
    await ok(e, ['volume', 'create', '-o', 'type=bind', '-o', 'o=ro', '-o', `device=${dir}`, 'bro']);
    expect((await ok(e, ['run', ...R(), '-v', 'bro:/mnt', '--', 'sh', '-c', 'touch /mnt/x 2>&1 || true'])).trim()).toMatch(/Read-only file system/);
    // Removing a bind volume leaves its directory alone.
    await ok(e, ['volume', 'rm', 'bv', 'bro']);
    expect(fs.readdirSync(dir).sort()).toEqual(['myfile', 'new']);

    await fails(e, ['volume', 'create', '-o', 'size=10m', 'xx'], 1, /invalid option key: "size"/);
    await fails(e, ['volume', 'create', '-o', 'type=nfs', '-o', 'device=:/srv', 'xx'], 1, /volume type "nfs".*not supported/);
    await fails(e, ['volume', 'create', '-o', 'type=tmpfs', '-o', 'o=size=lots', 'xx'], 1, /invalid value in o=: size=lots/);
    expect(await names(e)).toEqual(['tm']);
  });

  it('o=noexec on a volume, and podman\'s -v noexec,nosuid,nodev, reach the mount', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await ok(e, ['volume', 'create', 'plain']);
    const mp = (await ok(e, ['volume', 'inspect', '--format', '{{.Mountpoint}}', 'plain'])).trim();
    writeFile(path.join(mp, 'script'), '#!/bin/sh\necho ran\n', e.user);
    fs.chmodSync(path.join(mp, 'script'), 0o755);
    expect((await ok(e, ['run', ...R(), '-v', 'plain:/mnt', '--', '/mnt/script'])).trim()).toBe('ran');
    // docker's (runc's) words for EACCES from exec, status 126.
    await fails(e, ['run', ...R(), '-v', 'plain:/mnt:noexec,z', '--', '/mnt/script'], 126, /exec \/mnt\/script: permission denied/);
    const opts = (await ok(e, ['run', ...R(), '-v', 'plain:/mnt:nosuid,nodev', '--', 'sh', '-c', "grep ' /mnt ' /proc/mounts"])).trim();
    expect(opts).toMatch(/nosuid/);
    expect(opts).toMatch(/nodev/);
    expect(opts).not.toMatch(/noexec/);
    await fails(e, ['run', ...R(), '-v', 'plain:/mnt:bogus', '--', 'true'], 125, /invalid mode: bogus/);
    // The same on a host directory, and as a volume's own o=.
    const dir = scratchDir(e.user, 'bind-');
    expect((await ok(e, ['run', ...R(), '-v', `${dir}:/srv:noexec`, '--', 'sh', '-c', "grep ' /srv ' /proc/mounts"]))).toMatch(/noexec/);
    await ok(e, ['volume', 'create', '-o', 'o=noexec', 'nx']);
    expect((await ok(e, ['run', ...R(), '-v', 'nx:/mnt', '--', 'sh', '-c', "grep ' /mnt ' /proc/mounts"]))).toMatch(/noexec/);
  });
});

describe('inspect', () => {
  it('shows tmpfs and bind volumes as volumes, and HostConfig.UsernsMode', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'iv1', 'iv2'])));
    const dir = scratchDir(e.user, 'dev-');
    await ok(e, ['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'tv']);
    await ok(e, ['volume', 'create', '-o', 'type=bind', '-o', `device=${dir}`, 'bv']);
    await ok(e, ['create', '--name', 'iv1', ...R(), '-v', 'tv:/mnt', '-v', 'bv:/srv:ro', '--', 'true']);
    const [c] = JSON.parse(await ok(e, ['inspect', 'iv1']));
    const byDest = Object.fromEntries(c.Mounts.map((m: { Destination: string }) => [m.Destination, m]));
    expect(byDest['/mnt']).toMatchObject({ Type: 'volume', Name: 'tv', RW: true });
    expect(byDest['/srv']).toMatchObject({ Type: 'volume', Name: 'bv', Source: dir, RW: false });
    expect(c.HostConfig.UsernsMode).toBe('');
    await ok(e, ['create', '--name', 'iv2', '--userns', 'keep-id', ...R(), '--', 'true']);
    expect((await ok(e, ['inspect', '--format', '{{.HostConfig.UsernsMode}}', 'iv2'])).trim()).toBe('keep-id');
  });
});

describe('volume rm, ls, prune (podman\'s flags)', () => {
  it('rm --all; rm --force removes the containers that use the volume; ls --noheading and name=REGEXP; prune asks', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'user1', 'user2'])));
    for (const n of ['vol_1_a', 'vol_2_a', 'other']) await ok(e, ['volume', 'create', n]);
    expect((await ok(e, ['volume', 'ls', '--filter', 'name=vol_1.+', '--format', '{{.Name}}'])).trim()).toBe('vol_1_a');
    // A regular expression, unanchored: "vol_1*" is "vol_" and any number of 1s.
    expect((await ok(e, ['volume', 'ls', '--filter', 'name=vol_1*', '-q'])).trim().split('\n')).toEqual(['vol_1_a', 'vol_2_a']);
    expect((await ok(e, ['volume', 'ls', '--filter', 'name=^oth', '-q'])).trim()).toBe('other');
    expect((await ok(e, ['volume', 'ls', '--noheading'])).split('\n').filter(Boolean)).toHaveLength(3);
    expect((await ok(e, ['volume', 'ls', '--noheading', '--format', 'table {{.Name}}'])).split('\n')[0]).toBe('other');

    await ok(e, ['run', '-d', '--name', 'user1', ...R(), '-v', 'vol_1_a:/mnt', '--', 'sleep', '60']);
    await ok(e, ['create', '--name', 'user2', ...R(), '-v', 'vol_1_a:/mnt', '--', 'true']);
    await fails(e, ['volume', 'rm', 'vol_1_a'], 1, /volume is in use/);
    expect((await ok(e, ['volume', 'rm', '--force', '-t', '0', 'vol_1_a'])).trim()).toBe('vol_1_a');
    expect((await ok(e, ['ps', '-a', '-q'])).trim()).toBe('');

    // Prune asks (docker's question on stdout, the answer from stdin): "N" keeps everything.
    const r = await e.nook(['volume', 'prune', '-a'], { input: 'N\n' });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('Are you sure you want to continue? [y/N]');
    expect(await names(e)).toEqual(['other', 'vol_2_a']);
    expect((await e.nook(['volume', 'prune', '-a'], { input: 'y\n' })).stdout).toContain('Deleted Volumes:\nother\nvol_2_a\n');
    for (const n of ['x1', 'x2']) await ok(e, ['volume', 'create', n]);
    // Flags after names; -a takes every volume.
    expect((await ok(e, ['volume', 'rm', '-a'])).split('\n').filter(Boolean)).toEqual(['x1', 'x2']);
    await fails(e, ['volume', 'rm', '-a', 'x1'], 1, /takes no volume names/);
    expect((await e.nook(['volume', 'rm', '-f', '-a'])).code).toBe(0);
  });
});

describe('volume export, import, mount; nook unshare', () => {
  it('export writes the files with the owners containers see; import extracts them into another volume', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await ok(e, ['run', ...R(), '-v', 'src:/mnt', '--', 'sh', '-c', 'echo hello > /mnt/test && mkdir /mnt/sub && echo x > /mnt/sub/f && chown -R 33:44 /mnt/sub']);
    const dir = scratchDir(e.user, 'tar-');
    const tar = path.join(dir, 'v.tar');
    await ok(e, ['volume', 'export', 'src', `--output=${tar}`]);
    expect(fs.statSync(tar).size).toBeGreaterThan(1024);
    await ok(e, ['volume', 'create', 'dst']);
    await ok(e, ['volume', 'import', 'dst', tar]);
    expect((await ok(e, ['run', ...R(), '-v', 'dst:/mnt', '--', 'sh', '-c', 'cat /mnt/test; stat -c %u:%g /mnt/sub /mnt/sub/f'])).split('\n')).toEqual(['hello', '33:44', '33:44', '']);
    await ok(e, ['volume', 'create', 'dst2']);
    const r = await e.nook(['volume', 'import', 'dst2', '-'], { input: fs.readFileSync(tar) });
    expect(r.code, show(r)).toBe(0);
    expect((await ok(e, ['run', ...R(), '-v', 'dst2:/mnt', '--', 'cat', '/mnt/test'])).trim()).toBe('hello');
    await fails(e, ['volume', 'export', 'nosuch'], 1, /no such volume/);

    // mount: where the files are; unshare: the container's view of their owners, on the host.
    const mp = (await ok(e, ['volume', 'mount', 'dst'])).trim();
    expect(mp).toBe(path.join(e.store, 'volumes', 'dst', '_data'));
    expect((await ok(e, ['unshare', 'stat', '-c', '%u:%g', path.join(mp, 'sub/f')])).trim()).toBe('33:44');
    await ok(e, ['unshare', 'chown', '-R', '0:0', path.join(mp, 'sub')]);
    expect(fs.statSync(path.join(mp, 'sub/f')).uid).toBe(e.user.uid);
    const exit = await e.nook(['unshare', 'sh', '-c', 'id -u; exit 3']);
    expect([exit.code, exit.stdout.trim()]).toEqual([3, '0']);
    await fails(e, ['unshare', 'no-such-command-nook'], 127, /executable file not found/);
    expect((await e.nook(['unshare', 'sh', '-c', 'kill -TERM $$'])).code).toBe(143);
    await ok(e, ['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'tv']);
    await fails(e, ['volume', 'mount', 'tv'], 1, /is a tmpfs/);
  });
});

describe(':U on start (podman\'s)', () => {
  it('a start chowns again a source chowned away meanwhile, recursively; not when its top still belongs to the user', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'uown'])));
    const dir = scratchDir(e.user, 'own-');
    writeFile(path.join(dir, 'f'), '', e.user);
    expect((await ok(e, ['run', '--name', 'uown', '-u', '1000:2000', ...R(), '-v', `${dir}:/mnt:U`, '--', 'stat', '-c', '%u:%g', '/mnt', '/mnt/f'])).split('\n')).toEqual(['1000:2000', '1000:2000', '']);
    await ok(e, ['unshare', 'chown', '-R', '100:200', dir]);
    expect((await ok(e, ['start', '-a', 'uown'])).split('\n')).toEqual(['1000:2000', '1000:2000', '']);
    // Only a file under it: the top still belongs to the user, nothing is chowned.
    await ok(e, ['unshare', 'chown', '100:200', path.join(dir, 'f')]);
    expect((await ok(e, ['start', '-a', 'uown'])).split('\n')).toEqual(['1000:2000', '100:200', '']);
  });
});

describe('run flags: --group-add keep-groups, --image-volume', () => {
  it('keep-groups keeps nook\'s own groups (no setgroups) and goes alone', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    // The test user's own group is root's inside.
    expect((await ok(e, ['run', '--group-add', 'keep-groups', ...R(), '--', 'id', '-G'])).trim()).toBe('0');
    await fails(e, ['run', '--group-add', 'keep-groups', '--group-add', '457', ...R(), '--', 'true'], 125, /the '--group-add keep-groups' option is not allowed with any other --group-add options/);
  });

  it('--image-volume tmpfs mounts a tmpfs on the image\'s VOLUMEs, ignore leaves them out, bind (default) makes volumes', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    await buildOk(e, makeContext(e, { Dockerfile: 'FROM base:1\nRUN mkdir /data && echo seed > /data/f\nVOLUME /data\n' }), ['-t', 'ivol:1']);
    expect((await ok(e, ['run', '--rm', '--image-volume', 'tmpfs', 'ivol:1', 'sh', '-c', 'stat -f -c %T /data; ls -A /data'])).trim()).toBe('tmpfs');
    expect(await names(e)).toEqual([]);
    expect((await ok(e, ['run', '--rm', '--image-volume', 'ignore', 'ivol:1', 'sh', '-c', "grep -c ' /data ' /proc/mounts || true"])).trim()).toBe('0');
    expect((await ok(e, ['run', '--name', 'iv', '--image-volume', 'bind', 'ivol:1', 'cat', '/data/f'])).trim()).toBe('seed');
    onTestFinished(async () => void (await e.nook(['rm', '-f', '-v', 'iv'])));
    expect(await names(e)).toHaveLength(1);
    await fails(e, ['run', '--rm', '--image-volume', 'nope', 'ivol:1', 'true'], 125, /invalid --image-volume "nope"/);
  });
});
