/**
 * podman's run and inspect additions, through build/nook as the unprivileged
 * test users: --preserve-fds (the caller's fds 3.. reach the command, nook's
 * own never), --conmon-pidfile, --userns keep-id's /etc/passwd entry,
 * inspect's .Image/.ImageName/.ImageDigest and flags after the arguments,
 * --log-driver as given, untag, run --rmi, and run from docker-archive:/oci-archive:.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, type Env } from '../helpers/containers';
import { importBase } from '../helpers/build';
import { scratchDir } from '../helpers/files';
import { NOOK } from '../helpers/paths';
import { rootfs, runArgs, show } from '../helpers/nook';
import { cleanEnv, spawnIdentity } from '../helpers/users';

function testEnv(): Env {
  const e = env();
  onTestFinished(async () => {
    await e.nook(['rm', '-f', '--all']);
  });
  return e;
}

/** nook with extra descriptors: `fds[i]` becomes fd 3+i ('ignore': left closed). */
function nookWithFds(e: Env, args: string[], fds: (number | 'ignore')[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(NOOK, args, {
    ...spawnIdentity(e.user),
    cwd: '/tmp',
    env: { ...cleanEnv(e.user), ...e.opts.env },
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function fileFor(e: Env, text: string): number {
  const dir = scratchDir(e.user, 'fds-');
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, text);
  return fs.openSync(file, 'r');
}

describe('run --preserve-fds', () => {
  it('passes the fds 3..3+N-1 nook was given, and no other', async () => {
    const e = env();
    const three = fileFor(e, 'three\n');
    const four = fileFor(e, 'four\n');
    onTestFinished(() => {
      fs.closeSync(three);
      fs.closeSync(four);
    });
    const r = await nookWithFds(e, runArgs(['--preserve-fds', '2'], ['sh', '-c', 'cat <&3; cat <&4; ls /proc/self/fd']), [three, four]);
    expect(r.code, r.stderr).toBe(0);
    const [a, b, ...fds] = r.stdout.trim().split('\n');
    expect([a, b]).toEqual(['three', 'four']);
    // 0-2, the two given, and ls's own directory fd: nothing of nook's.
    expect(fds.map(Number).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
    // Without the flag they do not reach the command.
    const plain = await nookWithFds(e, runArgs([], ['sh', '-c', 'ls /proc/self/fd']), [three, four]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trim().split('\n').map(Number).sort((x, y) => x - y)).toEqual([0, 1, 2, 3]);
  });

  it("refuses when an fd in the range is not the caller's (Node's event loop took it)", async () => {
    const e = env();
    const four = fileFor(e, 'four\n');
    onTestFinished(() => fs.closeSync(four));
    const r = await nookWithFds(e, runArgs(['--preserve-fds', '2'], ['true']), ['ignore', four]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^Error: file descriptor 3 is not available/);
    const d = await e.nook(runArgs(['-d', '--preserve-fds', '1'], ['true']));
    expect(d.code).toBe(125);
    expect(d.stderr).toMatch(/--preserve-fds is not supported with -d/);
  });
});

describe('run: podman spellings', () => {
  it("--conmon-pidfile: the supervisor's pid for -d (inspect's State.ConmonPid), nook's own in the foreground", async () => {
    const e = testEnv();
    const dir = scratchDir(e.user, 'pid-');
    const file = path.join(dir, 'pid');
    const id = (await ok(e, ['run', '-d', '--conmon-pidfile', file, '--rootfs', rootfs(), '--', 'sleep', '3102'])).trim();
    const pid = fs.readFileSync(file, 'utf8');
    expect(pid).toMatch(/^\d+$/);
    expect(await ok(e, ['inspect', '--format', '{{.State.ConmonPid}}', id])).toBe(`${pid}\n`);
    expect(fs.readlinkSync(`/proc/${pid}/exe`)).toMatch(/nook-supervisor$/);

    const fg = path.join(dir, 'fg');
    const child = spawn(NOOK, ['run', '--conmon-pidfile', fg, '--rootfs', rootfs(), '--', 'true'], {
      ...spawnIdentity(e.user),
      cwd: '/tmp',
      env: { ...cleanEnv(e.user), ...e.opts.env },
      stdio: 'ignore',
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(fs.readFileSync(fg, 'utf8')).toBe(String(child.pid));
  });
});

describe('images in containers', () => {
  it("inspect: .Image is the image's id, .ImageName the full name asked for, .ImageDigest its manifest digest; flags after the arguments", async () => {
    const e = testEnv();
    await importBase(e);
    await ok(e, ['tag', 'base:1', 'localhost/runa/img']);
    const id = (await ok(e, ['create', 'localhost/runa/img', 'true'])).trim();
    // podman's image {{.ID}} is the bare hex; docker's Id (and a container's .Image) carry sha256:.
    const [hex, digest] = (await ok(e, ['inspect', 'base:1', '--format', '{{.ID}} {{.Digest}}'])).trim().split(' ');
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ok(e, ['inspect', id, '--format', '{{.ImageName}} {{.Image}} {{.ImageDigest}}'])).toBe(`localhost/runa/img:latest sha256:${hex} ${digest}\n`);
    // {{.ID}} is a template spelling only: the JSON keeps docker's Id.
    const json = JSON.parse(await ok(e, ['image', 'inspect', 'base:1'])) as Record<string, unknown>[];
    expect(Object.keys(json[0])).toContain('Id');
    expect(Object.keys(json[0])).not.toContain('ID');
  });

  it('untag takes the names given, or all; the image stays and runs by id', async () => {
    const e = testEnv();
    await importBase(e);
    const id = (await ok(e, ['inspect', '--format', '{{.Id}}', 'base:1'])).trim();
    await ok(e, ['tag', 'base:1', 'other:2']);
    await ok(e, ['untag', 'base:1', 'other:2']);
    expect(await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('base:1\n');
    const wrong = await e.nook(['untag', 'base:1', 'other:3']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/other:3: tag not known/);
    await ok(e, ['untag', 'base:1']);
    expect(await ok(e, ['images', '-a', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('<none>:<none>\n');
    expect(await ok(e, ['run', '--rm', id, 'echo', 'ran'])).toBe('ran\n');
  });

  it('--userns keep-id: an /etc/passwd entry for the user, HOME the workdir or a mount on /home/NAME; -u 0 is root', async () => {
    const e = testEnv();
    await importBase(e);
    expect(await ok(e, ['run', '--rm', '--userns', 'keep-id', 'base:1', 'id', '-un'])).toBe(`${e.user.name}\n`);
    expect(await ok(e, ['run', '--rm', '--userns', 'keep-id', '-w', '/tmp', 'base:1', 'sh', '-c', 'echo $HOME ~'])).toBe('/tmp /tmp\n');
    const home = `/home/${e.user.name}`;
    expect(await ok(e, ['run', '--rm', '--userns', 'keep-id', '-v', home, 'base:1', 'sh', '-c', 'echo $HOME; tail -1 /etc/passwd'])).toBe(
      `${home}\n${e.user.name}:x:${e.user.uid}:${e.user.gid}:${e.user.name}:${home}:/bin/sh\n`,
    );
    expect(await ok(e, ['run', '--rm', '--userns', 'keep-id', '-u', '0', 'base:1', 'id', '-un'])).toBe('root\n');
    // Writable, and a container started again keeps what it changed.
    const id = (await ok(e, ['create', '--userns', 'keep-id', 'base:1', 'sh', '-c', 'echo extra:x:4242:4242::/:/bin/sh >> /etc/passwd; grep -c ^extra: /etc/passwd'])).trim();
    expect(await ok(e, ['start', '-a', id])).toBe('1\n');
    expect(await ok(e, ['start', '-a', id])).toBe('2\n');
    // The image's own file is untouched.
    expect(await ok(e, ['run', '--rm', 'base:1', 'cat', '/etc/passwd'])).not.toContain(`${e.user.name}:x:`);
  });

  it('run and create docker-archive:FILE load the archive and run its image, under its name', async () => {
    const e = testEnv();
    await importBase(e, 'arch:1');
    const tar = path.join(scratchDir(e.user, 'arch-'), 'a.tar');
    await ok(e, ['save', '-o', tar, 'arch:1']);
    await ok(e, ['rmi', 'arch:1']);
    const r = await e.nook(['run', '--rm', `docker-archive:${tar}`, 'echo', 'from-archive']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('from-archive\n');
    expect(r.stderr).toBe('Loaded image: arch:1\n');
    await ok(e, ['rmi', 'arch:1']);
    const id = (await ok(e, ['create', `docker-archive:${tar}`, 'true'])).trim();
    expect(await ok(e, ['inspect', '--format', '{{.Config.Image}}', id])).toBe('arch:1\n');
    const missing = await e.nook(['run', '--rm', `oci-archive:${tar}.nope`, 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/^Error: oci-archive:.*: no such file/);
  });

  it('run --rmi removes the image after the run (implying --rm), unless another container uses it', async () => {
    const e = testEnv();
    await importBase(e, 'rmi:1');
    await ok(e, ['create', '--name', 'keepme', 'rmi:1', 'true']);
    expect(await ok(e, ['run', '--rmi', 'rmi:1', 'echo', 'once'])).toBe('once\n');
    await ok(e, ['image', 'exists', 'rmi:1']);
    await ok(e, ['rm', 'keepme']);
    expect(await ok(e, ['run', '--rmi', '--name', 'gone', 'rmi:1', 'echo', 'twice'])).toBe('twice\n');
    expect((await e.nook(['image', 'exists', 'rmi:1'])).code).toBe(1);
    expect((await e.nook(['container', 'exists', 'gone'])).code).toBe(1);
    const d = await e.nook(['run', '-d', '--rmi', 'rmi:1', 'true']);
    expect(d.code).toBe(125);
  });

  it('--log-driver is kept as given; LogConfig.Path is the log file, or empty without one', async () => {
    const e = testEnv();
    const json = (await ok(e, ['run', '-d', '--log-driver', 'json-file', '--rootfs', rootfs(), '--', 'true'])).trim();
    expect(await ok(e, ['inspect', '--format', '{{.HostConfig.LogConfig.Type}}', json])).toBe('json-file\n');
    expect((await ok(e, ['inspect', '--format', '{{.HostConfig.LogConfig.Path}}', json])).trim()).toMatch(/container\.log$/);
    const none = (await ok(e, ['run', '-d', '--log-driver', 'none', '--rootfs', rootfs(), '--', 'true'])).trim();
    expect(await ok(e, ['inspect', '--format', '{{.HostConfig.LogConfig.Type}}:{{.HostConfig.LogConfig.Path}}', none])).toBe('none:\n');
  });
});
