/**
 * A rootfs belongs to the container: what it plants there (symlinks to host
 * paths, a FIFO where nook reads a file) or swaps in while nook works must
 * never make nook create, mount or read anything outside it. Each test is an
 * attack from issue 12, run as an unprivileged user, that worked before
 * mount targets and files were resolved inside the root.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { env, ok, psRow } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootOnlyImage, rootOnlyImageWith } from '../helpers/images';
import { rootfs, runNook, show } from '../helpers/nook';
import { NOOK, REPO } from '../helpers/paths';
import { parseMountinfo } from '../helpers/procs';
import { pushImage, startRegistry, type RegistryServer } from '../helpers/registry';
import { isRoot, need, spawnIdentity, testUsers, type TestUser } from '../helpers/users';
import { compileSeccomp, hostSeccompArch, type SeccompProfile } from '../../src/sandbox/seccomp';

const user = (): TestUser => testUsers().any;

/** A copy of the test rootfs that `owner` owns (so a run can create mount points in it, as in a user's own rootfs). */
function ownRootfs(owner: TestUser): string {
  const dir = path.join(scratchDir(owner, 'rootfs-'), 'root');
  execFileSync('cp', ['-a', rootfs(), dir]);
  if (isRoot) execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
  return dir;
}

/** A host directory the user may write to: what a planted symlink points at. It must stay empty. */
const victimDir = (owner: TestUser) => scratchDir(owner, 'victim-');
const entries = (dir: string) => fs.readdirSync(dir);

describe('planted symlinks in a --rootfs', () => {
  it('-v and --tmpfs targets and -w through links to host paths (absolute, and via /proc magic links) are made inside the rootfs', async () => {
    const u = user();
    const root = ownRootfs(u);
    const victim = victimDir(u);
    const src = scratchDir(u, 'src-');
    fs.symlinkSync(victim, path.join(root, 'data'));
    fs.symlinkSync(victim, path.join(root, 'cache'));
    fs.symlinkSync(victim, path.join(root, 'work'));
    fs.symlinkSync(`/proc/self/root${victim}`, path.join(root, 'magic'));
    const r = await runNook(
      ['run', '--rootfs', root, '-v', `${src}:/data/vol`, '-v', `${src}:/magic/vol2`, '--tmpfs', '/cache/t', '-w', '/work/wd', '--', 'sh', '-c', 'test -d /data/vol && test -d /magic/vol2 && pwd'],
      { user: u },
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe(path.join(victim, 'wd')); // the link's target, inside
    expect(entries(victim)).toEqual([]);
    // Where they went instead: the link's target, read inside the rootfs.
    for (const made of ['vol', 'vol2', 't', 'wd']) expect(fs.statSync(path.join(root, victim, made)).isDirectory()).toBe(true);
  });

  it('a race on a shared rootfs (a directory and a symlink swapped in a loop) never creates a host directory', async () => {
    const u = user();
    const root = ownRootfs(u);
    const victim = victimDir(u);
    const src = scratchDir(u, 'src-');
    fs.mkdirSync(path.join(root, 'a/b'), { recursive: true });
    fs.symlinkSync(victim, path.join(root, 'a-link'));
    if (isRoot) execFileSync('chown', ['-hR', `${u.uid}:${u.gid}`, path.join(root, 'a'), path.join(root, 'a-link')]);
    const swapper = path.join(REPO, 'build/out/test-swap');
    execFileSync('cc', ['-O2', '-o', swapper, path.join(REPO, 'test/helpers/swap.c')]);

    const swap = spawn(swapper, [path.join(root, 'a'), path.join(root, 'a-link'), '60'], { ...spawnIdentity(u), stdio: 'ignore' });
    const codes: number[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const r = await runNook(['run', '--rootfs', root, '-v', `${src}:/a/b/X${i}`, '--', 'true'], { user: u });
        codes.push(r.code ?? -1);
      }
    } finally {
      swap.kill('SIGKILL');
    }
    expect(entries(victim)).toEqual([]);
    // The race did run: targets went into both the directory and the link's target inside the rootfs.
    const made = [path.join(root, 'a/b'), path.join(root, 'a-link/b'), path.join(root, victim, 'b')].flatMap((d) => (fs.existsSync(d) ? entries(d) : []));
    expect(made.length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 0).length).toBeGreaterThan(50);
  });

  it('a FIFO at /etc/passwd is refused at once, naming it', async () => {
    const u = user();
    const root = ownRootfs(u);
    fs.rmSync(path.join(root, 'etc/passwd'), { force: true });
    execFileSync('mkfifo', [path.join(root, 'etc/passwd')]);
    const r = await runNook(['run', '--rootfs', root, '--', 'echo', 'hi'], { user: u, timeoutMs: 10_000 });
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain("/etc/passwd in the container's root filesystem is not a regular file");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('on kernels without openat2 and the new mount API', () => {
  // Simulated: nook runs under a seccomp filter (test/helpers/seccomp-run.c) that answers ENOSYS to
  // openat2, open_tree, move_mount and mount_setattr, as Linux before 5.2/5.6/5.12 would. The filter sets
  // no_new_privs, so newuidmap cannot run: the user without subordinate ids, who needs none.
  it('the walk and the legacy bind still keep every target inside, and read-only binds read-only', async (ctx) => {
    const u = need(ctx, 'nosub');
    const dir = scratchDir(u, 'old-kernel-');
    const wrapper = path.join(REPO, 'build/out/test-seccomp-run');
    execFileSync('cc', ['-O1', '-o', wrapper, path.join(REPO, 'test/helpers/seccomp-run.c')]);
    const filter = path.join(dir, 'enosys.bin');
    const profile: SeccompProfile = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['openat2', 'open_tree', 'move_mount', 'mount_setattr'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
    };
    fs.writeFileSync(filter, compileSeccomp(profile, hostSeccompArch(), []));
    fs.chmodSync(filter, 0o644);
    const root = ownRootfs(u);
    const victim = victimDir(u);
    const src = scratchDir(u, 'src-');
    fs.symlinkSync(victim, path.join(root, 'data'));
    fs.symlinkSync(victim, path.join(root, 'work'));
    const script = 'test -d /data/vol && ! touch /data/vol/x 2>/dev/null && pwd';
    const args = [filter, 'exec', NOOK, 'run', '--rootfs', root, '-v', `${src}:/data/vol:ro`, '-w', '/work/wd', '--', 'sh', '-c', script];
    const r = await runNook(args, { user: u, bin: wrapper });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['load=0', path.join(victim, 'wd'), '']);
    expect(entries(victim)).toEqual([]);
    expect(fs.statSync(path.join(root, victim, 'vol')).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(src, 'x'))).toBe(false);
  });
});

describe('--network host', () => {
  it("binds the host's /sys read-only, every submount included", async () => {
    const r = await runNook(['run', '--rootfs', rootfs(), '--network', 'host', '--', 'cat', '/proc/self/mountinfo'], { user: user() });
    expect(r.code, show(r)).toBe(0);
    const sys = parseMountinfo(r.stdout).filter((m) => m.mountPoint === '/sys' || m.mountPoint.startsWith('/sys/'));
    expect(sys.length).toBeGreaterThan(1); // /sys and at least /sys/fs/cgroup here
    for (const m of sys) expect(m.options, `${m.mountPoint}: ${m.options.join(',')}`).toContain('ro');
  });
});

describe('images and kept containers', () => {
  let registry: RegistryServer;
  let plain: string;
  let fifoPasswd: string;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'none' });
    plain = `${registry.host}/nook/escape:latest`;
    await pushImage(registry.host, 'nook/escape', 'latest', rootOnlyImage('escape'));
    fifoPasswd = `${registry.host}/nook/fifo-passwd:latest`;
    await pushImage(registry.host, 'nook/fifo-passwd', 'latest', rootOnlyImageWith([{ path: 'etc/passwd', type: 'fifo' }]));
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** Plants /data and /cache as symlinks to the victim, once (the first run), then does `last`. */
  const plant = (victim: string, last: string) =>
    `test -L /data || { mv /data /data.old && ln -s ${victim} /data && mv /cache /cache.old && ln -s ${victim} /cache; }; ${last}`;

  it('nook start of a container that planted symlinks in its writable layer creates nothing on the host', async () => {
    const e = env(user());
    const victim = victimDir(e.user);
    const src = scratchDir(e.user, 'src-');
    const r = await e.nook(['run', '--tls-verify=false', '-q', '--name', 'k', '-v', `${src}:/data/vol`, '--tmpfs', '/cache/t', plain, 'sh', '-c', plant(victim, 'true')]);
    expect(r.code, show(r)).toBe(0);
    await ok(e, ['start', 'k']);
    expect((await ok(e, ['wait', 'k'])).trim()).toBe('0');
    expect(entries(victim)).toEqual([]);
    await ok(e, ['rm', 'k']);
  });

  it('nor does a restart (-d --restart on-failure) that the container triggers itself by exiting 1', async () => {
    const e = env(user());
    const victim = victimDir(e.user);
    const src = scratchDir(e.user, 'src-');
    await ok(e, ['run', '--tls-verify=false', '-q', '-d', '--name', 'r', '--restart', 'on-failure:2', '-v', `${src}:/data/vol`, '--tmpfs', '/cache/t', plain, 'sh', '-c', plant(victim, 'exit 1')]);
    let row: Awaited<ReturnType<typeof psRow>>;
    for (let i = 0; i < 100; i++) {
      row = await psRow(e, 'r');
      if (row?.State === 'exited' && row.RestartCount === 2) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(row!).toMatchObject({ State: 'exited', ExitCode: 1, RestartCount: 2 });
    expect(entries(victim)).toEqual([]);
    await ok(e, ['rm', 'r']);
  });

  it('an image whose /etc/passwd is a FIFO fails at once, naming it', async () => {
    const e = env(user());
    const r = await e.nook(['run', '--tls-verify=false', '-q', fifoPasswd, 'echo', 'hi'], { timeoutMs: 15_000 });
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain("/etc/passwd in the container's root filesystem is not a regular file");
  });

  it('exec -u into a running container that made its /etc/passwd a FIFO fails at once, naming it', async () => {
    const e = env(user());
    await ok(e, ['run', '--tls-verify=false', '-q', '-d', '--name', 'f', plain, 'sh', '-c', 'rm /etc/passwd && mkfifo /etc/passwd && sleep 600']);
    for (let i = 0; i < 50; i++) {
      const t = await e.nook(['exec', 'f', 'test', '-p', '/etc/passwd']);
      if (t.code === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const r = await e.nook(['exec', '-u', 'root', 'f', 'true'], { timeoutMs: 10_000 });
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain("/etc/passwd in the container's root filesystem is not a regular file");
    await ok(e, ['rm', '-f', 'f']);
  });
});
