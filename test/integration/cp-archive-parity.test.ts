/**
 * podman's additions to cp, diff, import, export and save that nook takes
 * (issue 16): cp from one container to another, cp into a stopped
 * container's volumes and bind mounts (as docker's daemon mounts them),
 * import --change/-q with flags after the arguments, export -o after the
 * container, diff --format json and -l, save --uncompressed; and exec of a
 * non-executable in runc's words ("permission denied"); keep-id's passwd line.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { importBase } from '../helpers/build';
import { env, ok, type Env } from '../helpers/containers';
import { scratchDir, writeFile } from '../helpers/files';
import { show } from '../helpers/nook';
import { isRoot, need, type TestUser } from '../helpers/users';

function hostDir(user: TestUser, files: Record<string, string> = {}): string {
  const dir = scratchDir(user, 'cpp-');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFile(path.join(dir, name), content, user);
  }
  if (isRoot) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}

async function container(e: Env, name: string, args: string[]): Promise<void> {
  onTestFinished(async () => void (await e.nook(['rm', '-f', name])));
  await ok(e, [...args.slice(0, 1), '--name', name, ...args.slice(1)]);
}

const read = (p: string) => fs.readFileSync(p, 'utf8');

describe('nook cp between containers, and into a stopped container’s mounts', () => {
  it('copies a file, a directory, contents and a symlink from one container to another, running or stopped', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    await container(e, 'from', ['run', 'base:1', 'sh', '-c', 'mkdir -p /data/sub && echo hi > /data/f && echo deep > /data/sub/g && ln -s /etc/passwd /data/link']);
    await container(e, 'to-run', ['run', '-d', 'base:1', 'sleep', '1000']);
    await container(e, 'to-stopped', ['create', 'base:1', 'sleep', '1000']);
    for (const to of ['to-run', 'to-stopped']) {
      await ok(e, ['cp', 'from:/data', `${to}:/`]);
      await ok(e, ['cp', 'from:/data/.', `${to}:/contents`]);
      await ok(e, ['cp', 'from:/data/f', `${to}:/tmp/renamed`]);
      await ok(e, ['cp', 'from:/data/link', `${to}:/tmp/`]);
    }
    await ok(e, ['start', 'to-stopped']);
    for (const to of ['to-run', 'to-stopped']) {
      const seen = await ok(e, ['exec', to, 'sh', '-c', 'cat /data/f /data/sub/g /contents/sub/g /tmp/renamed; readlink /tmp/link; ls /contents']);
      expect(seen).toBe('hi\ndeep\ndeep\nhi\n/etc/passwd\nf\nlink\nsub\n');
    }
    // Not a place for files: a pipe (/dev/stdout here), refused in podman's words; '-' is the way to stdout.
    const pipe = await e.nook(['cp', 'from:/data/f', '/dev/stdout']);
    expect(pipe.code, show(pipe)).toBe(1);
    expect(pipe.stderr).toContain('invalid destination: "/dev/stdout" must be a directory or a regular file');
    // Not a tar on stdin: the hint speaks of cp, not of pulled images.
    const notTar = await e.nook(['cp', '-', 'to-run:/tmp'], { input: 'not a tar\n' });
    expect(notTar.code, show(notTar)).toBe(1);
    expect(notTar.stderr).toContain('cp - reads a tar archive');
    const r = await e.nook(['cp', 'from:/nope', 'to-run:/tmp']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('No such container:path: from:/nope');
  });

  it('writes into a stopped container’s volumes and bind mounts (nested), refuses a read-only one', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    await importBase(e);
    const bind = hostDir(user);
    const ro = hostDir(user);
    const src = hostDir(user, { hostfile: 'from the host\n' });
    const vol = `v${Date.now()}`;
    onTestFinished(async () => void (await e.nook(['volume', 'rm', '-f', vol])));
    await ok(e, ['volume', 'create', vol]);
    const mountpoint = JSON.parse(await ok(e, ['volume', 'inspect', vol]))[0].Mountpoint as string;
    await container(e, 'mounts', ['create', '-v', `${vol}:/tmp/volume`, '-v', `${bind}:/tmp/volume/mount`, '-v', `${ro}:/ro:ro`, 'base:1', 'true']);
    await ok(e, ['cp', `${src}/hostfile`, 'mounts:/tmp/volume/mount']);
    expect(read(`${bind}/hostfile`)).toBe('from the host\n');
    await ok(e, ['cp', `${src}/hostfile`, 'mounts:/tmp/volume/invol']);
    expect(read(`${mountpoint}/invol`)).toBe('from the host\n');
    // The nested mount took the file, not the volume under it.
    expect(fs.existsSync(`${mountpoint}/mount/hostfile`)).toBe(false);
    const r = await e.nook(['cp', `${src}/hostfile`, 'mounts:/ro/x']);
    expect(r.code, show(r)).toBe(1);
    expect(fs.readdirSync(ro)).toEqual([]);
  });
});

describe('nook cp into a stopped container’s mounts: attacks', () => {
  it('a mount point the container swapped for a symlink towards the host is not followed out', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    await importBase(e);
    const bind = hostDir(user);
    const victim = hostDir(user);
    const src = hostDir(user, { hostfile: 'x\n' });
    // The mount point's parent moved away and replaced by a link to the victim's host path.
    await container(e, 'swap', ['run', '-v', `${bind}:/trap/x`, 'base:1', 'sh', '-c', `mv /trap /moved && ln -s ${victim} /trap`]);
    const r = await e.nook(['cp', `${src}/hostfile`, 'swap:/trap/x/']);
    expect(r.code, show(r)).toBe(1);
    expect(fs.readdirSync(victim)).toEqual([]);
    expect(fs.readdirSync(bind)).toEqual([]);
  });
});

describe('import, export, diff, save and exec: podman’s flags and words', () => {
  it('import -q --change after the arguments; export -o after the container', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    await importBase(e);
    await container(e, 'exp', ['run', 'base:1', 'sh', '-c', 'echo mark > /mark']);
    const dir = hostDir(user);
    await ok(e, ['export', 'exp', '-o', `${dir}/exp.tar`]);
    onTestFinished(async () => void (await e.nook(['rmi', '-f', 'changed:1'])));
    const id = (await ok(e, ['import', `${dir}/exp.tar`, 'changed:1', '-q', '--change', 'CMD cat /mark', '-c', 'ENV X=1'])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ok(e, ['run', '--rm', 'changed:1'])).toBe('mark\n');
    expect(await ok(e, ['run', '--rm', 'changed:1', 'sh', '-c', 'echo $X'])).toBe('1\n');
    const bad = await e.nook(['import', `${dir}/exp.tar`, '--change', 'FROM x']);
    expect(bad.code, show(bad)).not.toBe(0);
  });

  it('diff --format json and -l', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    await container(e, 'changer', ['run', 'base:1', 'sh', '-c', 'touch /added && rm /bin/true']);
    const json = JSON.parse(await ok(e, ['diff', '--format', 'json', 'changer']));
    expect(json).toEqual({ added: ['/added'], changed: ['/bin'], deleted: ['/bin/true'] });
    expect(JSON.parse(await ok(e, ['diff', '-l', '--format', 'json']))).toEqual(json);
    expect((await ok(e, ['diff', 'changer'])).split('\n').sort()).toEqual(['', 'A /added', 'C /bin', 'D /bin/true']);
    expect((await e.nook(['diff', '--format', 'yaml', 'changer'])).code).not.toBe(0);
  });

  it('save --format oci-archive --uncompressed writes plain layers that load back', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    await importBase(e);
    const dir = hostDir(user);
    await ok(e, ['export', '-o', `${dir}/root.tar`, (await containerOf(e)).trim()]);
    execFileSync('gzip', [`${dir}/root.tar`]);
    if (isRoot) execFileSync('chown', [`${user.uid}:${user.gid}`, `${dir}/root.tar.gz`]);
    await ok(e, ['import', `${dir}/root.tar.gz`, 'gz:1']);
    await ok(e, ['save', '--format', 'oci-archive', '--uncompressed', '-o', `${dir}/plain.tar`, 'gz:1']);
    await ok(e, ['save', '--format', 'oci-archive', '-o', `${dir}/stored.tar`, 'gz:1']);
    const heads = (tar: string) => {
      const out = path.join(dir, path.basename(tar, '.tar'));
      fs.mkdirSync(out);
      execFileSync('tar', ['-C', out, '-xf', tar]);
      const index = JSON.parse(read(`${out}/index.json`));
      const manifest = JSON.parse(read(`${out}/blobs/sha256/${index.manifests[0].digest.slice(7)}`));
      return manifest.layers.map((l: { digest: string; mediaType: string }) => ({ type: l.mediaType, gzip: fs.readFileSync(`${out}/blobs/sha256/${l.digest.slice(7)}`).subarray(0, 2).equals(Buffer.from([0x1f, 0x8b])) }));
    };
    expect(heads(`${dir}/stored.tar`)).toEqual([{ type: 'application/vnd.oci.image.layer.v1.tar+gzip', gzip: true }]);
    expect(heads(`${dir}/plain.tar`)).toEqual([{ type: 'application/vnd.oci.image.layer.v1.tar', gzip: false }]);
    const idBefore = (await ok(e, ['images', '-q', '--no-trunc', 'gz:1'])).trim();
    await ok(e, ['rmi', 'gz:1']);
    await ok(e, ['load', '-i', `${dir}/plain.tar`]);
    expect((await ok(e, ['images', '-q', '--no-trunc', 'gz:1'])).trim()).toBe(idBefore);
    expect(await ok(e, ['run', '--rm', 'gz:1', 'cat', '/etc/passwd'])).toContain('root');
  });

  it('exec of a directory: 126 and "permission denied"', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    await container(e, 'execdir', ['run', '-d', 'base:1', 'sleep', '1000']);
    const r = await e.nook(['exec', 'execdir', '/etc']);
    expect(r.code, show(r)).toBe(126);
    expect(r.stderr).toContain('permission denied');
  });
});

describe('--userns keep-id: the user in /etc/passwd', () => {
  it('exec sees the user by name (id -un, exec --user NAME), as podman adds the line', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = env(user);
    await importBase(e);
    await container(e, 'kept', ['run', '-d', '--userns', 'keep-id', 'base:1', 'sleep', '1000']);
    expect(await ok(e, ['exec', 'kept', 'id', '-un'])).toBe(`${user.name}\n`);
    expect(await ok(e, ['exec', '--user', user.name, 'kept', 'id', '-u'])).toBe(`${user.uid}\n`);
    const line = (await ok(e, ['exec', 'kept', 'grep', `^${user.name}:`, '/etc/passwd'])).trim();
    // Its home is the working directory (podman's rule when nothing is mounted on /home/NAME).
    expect(line).toBe(`${user.name}:x:${user.uid}:${user.gid}:${user.name}:/:/bin/sh`);
    // The image's own lines stay; without keep-id nothing is added.
    expect(await ok(e, ['exec', 'kept', 'grep', '-c', '^root:', '/etc/passwd'])).toBe('1\n');
    await container(e, 'plain', ['run', '-d', 'base:1', 'sleep', '1000']);
    expect((await e.nook(['exec', 'plain', 'grep', `^${user.name}:`, '/etc/passwd'])).code).toBe(1);
  });
});

/** A stopped container of base:1 (for its files as a tarball); returns its name. */
async function containerOf(e: Env): Promise<string> {
  await container(e, 'forroot', ['create', 'base:1', 'true']);
  return 'forroot';
}
