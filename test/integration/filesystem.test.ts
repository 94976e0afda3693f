/**
 * The sandbox's filesystem as the command sees it: the rootfs as /, fresh
 * /proc, /dev, /sys, bind mounts and tmpfs mounts, and nothing of the host.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir, writeFile } from '../helpers/files';
import { rootfs, sandbox, sandboxSh, show } from '../helpers/nook';
import { devString, hostMountinfo, mountAt, parseMountinfo, type MountInfo } from '../helpers/procs';
import { rootfsEntries } from '../helpers/rootfs';
import { isRoot, need, testUsers } from '../helpers/users';

async function mountsInside(flags: string[] = []): Promise<MountInfo[]> {
  const r = await sandbox(['cat', '/proc/self/mountinfo'], flags);
  expect(r.code, show(r)).toBe(0);
  return parseMountinfo(r.stdout);
}

function mustMount(mounts: MountInfo[], at: string): MountInfo {
  const m = mountAt(mounts, at);
  if (!m) throw new Error(`nothing is mounted on ${at}:\n${mounts.map((x) => `${x.mountPoint} ${x.fsType}`).join('\n')}`);
  return m;
}

/** A host directory owned by the test user, holding hello.txt. */
function hostDataDir(): string {
  const dir = scratchDir(testUsers().any);
  writeFile(path.join(dir, 'hello.txt'), 'hello from the host\n', testUsers().any);
  return dir;
}

describe('the root filesystem', () => {
  it('/ is the rootfs directory, and ls / shows exactly its entries', async () => {
    const R = rootfs();
    const host = parseMountinfo(hostMountinfo()).filter((m) => R === m.mountPoint || R.startsWith(m.mountPoint.replace(/\/?$/, '/')));
    const hostMount = host.sort((a, b) => a.mountPoint.length - b.mountPoint.length).at(-1)!;
    const root = mustMount(await mountsInside(), '/');
    expect(root.dev).toBe(devString(fs.statSync(R).dev));
    expect(root.root).toBe(path.join(hostMount.root, path.relative(hostMount.mountPoint, R)));

    const r = await sandboxSh('cat /etc/rootfs-marker; ls /');
    expect(r.code, show(r)).toBe(0);
    const [marker, ...entries] = r.stdout.trim().split('\n');
    expect(marker).toBe('this is the test rootfs');
    expect(entries.join(' ').split(/\s+/).sort()).toEqual(rootfsEntries(R));
  });

  it('/ is mounted rw by default (the rootfs\'s own permissions still apply)', async (ctx) => {
    const user = need(ctx, 'sub');
    if (!isRoot) ctx.skip('needs a rootfs the test user cannot write: run the suite as root');
    expect(mustMount(await mountsInside(), '/').options).toContain('rw');
    const r = await sandbox(['touch', '/x'], [], { user });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Permission denied');
  });

  it('--read-only mounts / read-only: writes fail with EROFS, even in the rootfs\'s /tmp', async () => {
    expect(mustMount(await mountsInside(['--read-only']), '/').options).toContain('ro');
    const tag = `ro-${process.pid}-${Date.now()}`;
    for (const target of ['/x', `/tmp/${tag}`]) {
      const r = await sandbox(['touch', target], ['--read-only']);
      expect(r.code, show(r)).not.toBe(0);
      expect(r.stderr).toContain('Read-only file system');
    }
    expect(fs.existsSync(path.join(rootfs(), 'tmp', tag))).toBe(false);
  });

  it('--read-only leaves bind mounts and tmpfs mounts writable', async () => {
    const dir = hostDataDir();
    const r = await sandboxSh('echo bound > /mnt/data/w && echo tmp > /tmp/w && cat /tmp/w', ['--read-only', '-v', `${dir}:/mnt/data`, '--tmpfs', '/tmp']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('tmp\n');
    expect(fs.readFileSync(path.join(dir, 'w'), 'utf8')).toBe('bound\n');
  });
});

describe('/proc, /dev and /sys', () => {
  it('are proc, tmpfs (with devpts and a tmpfs /dev/shm) and read-only sysfs', async () => {
    const mounts = await mountsInside();
    const proc = mustMount(mounts, '/proc');
    expect(proc.fsType).toBe('proc');
    expect(proc.options).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(mustMount(mounts, '/dev').fsType).toBe('tmpfs');
    expect(mustMount(mounts, '/dev/pts').fsType).toBe('devpts');
    expect(mustMount(mounts, '/dev/shm').fsType).toBe('tmpfs');
    const sys = mustMount(mounts, '/sys');
    expect(sys.fsType).toBe('sysfs');
    expect(sys.options).toContain('ro');
  });

  it('/sys is read-only with --network host too', async () => {
    const sys = mustMount(await mountsInside(['--network', 'host']), '/sys');
    expect(sys.fsType).toBe('sysfs');
    expect(sys.options).toContain('ro');
    const r = await sandbox(['touch', '/sys/x'], ['--network', 'host']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Read-only file system');
  });

  it('/dev holds exactly the usual nodes and links', async () => {
    const r = await sandbox(['ls', '-A', '/dev']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim().split(/\s+/).sort()).toEqual(
      ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'fd', 'stdin', 'stdout', 'stderr'].sort(),
    );
  });

  it('the device nodes work: null swallows, zero gives zeros, full is full, urandom gives bytes', async () => {
    const r = await sandboxSh(
      'echo data > /dev/null && echo null-ok; ' +
        'head -c 4096 /dev/zero | wc -c; head -c 4096 /dev/zero | tr -d "\\000" | wc -c; ' +
        'echo x > /dev/full || echo full-failed; ' +
        'head -c 32 /dev/urandom | wc -c; for l in fd stdin stdout stderr; do readlink /dev/$l; done',
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual([
      'null-ok', '4096', '0', 'full-failed', '32', '/proc/self/fd', '/proc/self/fd/0', '/proc/self/fd/1', '/proc/self/fd/2', '',
    ]);
    expect(r.stderr).toContain('No space left on device');
  });

  it('/dev/shm is a writable tmpfs', async () => {
    const r = await sandboxSh('echo shared > /dev/shm/f && cat /dev/shm/f');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('shared\n');
  });

  it('/sys cannot be written', async () => {
    const r = await sandbox(['touch', '/sys/x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Read-only file system');
  });
});

describe('host paths', () => {
  it('a host file outside the rootfs cannot be found', async () => {
    const dir = scratchDir();
    const name = `nook-marker-${process.pid}-${Date.now()}`;
    const marker = writeFile(path.join(dir, name), 'secret\n');
    const r = await sandboxSh(
      `test -e ${marker} && echo visible; find / -path /proc -prune -o -path /sys -prune -o -name ${name} -print; echo done`,
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('done\n');
  });

  it('the host\'s /home and the repository are not there', async () => {
    const r = await sandboxSh('ls /home; test -e /work && echo work-visible; test -e /usr && echo usr-visible; echo done');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('user\ndone\n');
  });
});

describe('bind mounts (-v)', () => {
  it('a rw bind shows the host\'s files and writes through to the host', async () => {
    const dir = hostDataDir();
    const r = await sandboxSh('cat /mnt/data/hello.txt && echo from-inside > /mnt/data/new.txt', ['-v', `${dir}:/mnt/data`]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hello from the host\n');
    expect(fs.readFileSync(path.join(dir, 'new.txt'), 'utf8')).toBe('from-inside\n');
    // Root inside is the user outside.
    expect(fs.statSync(path.join(dir, 'new.txt')).uid).toBe(testUsers().any.uid);
  });

  it('an explicit :rw mode is accepted', async () => {
    const dir = hostDataDir();
    const r = await sandboxSh('echo rw > /mnt/data/rw.txt', ['-v', `${dir}:/mnt/data:rw`]);
    expect(r.code, show(r)).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'rw.txt'), 'utf8')).toBe('rw\n');
  });

  it(':ro makes the bind read-only: writes fail and nothing reaches the host', async () => {
    const dir = hostDataDir();
    const flags = ['-v', `${dir}:/mnt/ro:ro`];
    expect(mustMount(await mountsInside(flags), '/mnt/ro').options).toContain('ro');
    const r = await sandboxSh('cat /mnt/ro/hello.txt; echo x > /mnt/ro/new.txt', flags);
    expect(r.code, show(r)).not.toBe(0);
    expect(r.stdout).toBe('hello from the host\n');
    expect(r.stderr).toContain('Read-only file system');
    expect(fs.existsSync(path.join(dir, 'new.txt'))).toBe(false);
  });

  it('a file can be bound over a file of the rootfs, which stays unchanged', async () => {
    const file = writeFile(path.join(scratchDir(), 'somefile'), 'host version of somefile\n');
    const r = await sandboxSh('cat /etc/somefile; echo x > /etc/somefile', ['-v', `${file}:/etc/somefile:ro`]);
    expect(r.stdout).toBe('host version of somefile\n');
    expect(r.stderr).toContain('Read-only file system');
    expect(fs.readFileSync(path.join(rootfs(), 'etc/somefile'), 'utf8')).toBe('rootfs version of somefile\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('host version of somefile\n');
  });

  it('a relative source is taken from nook\'s working directory', async () => {
    const dir = hostDataDir();
    const r = await sandbox(['cat', '/mnt/data/hello.txt'], ['-v', `./${path.basename(dir)}:/mnt/data`], { cwd: path.dirname(dir) });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hello from the host\n');
  });

  it('a target behind an absolute symlink in the rootfs resolves inside the rootfs', async () => {
    const dir = hostDataDir();
    const r = await sandbox(['cat', '/srv/app/hello.txt'], ['-v', `${dir}:/mnt/link`]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hello from the host\n');
  });

  it('a target missing from a rootfs the user cannot write fails with 125, naming the mount point', async (ctx) => {
    if (!isRoot) ctx.skip('needs a rootfs the test user cannot write: run the suite as root');
    const r = await sandbox(['true'], ['-v', `${hostDataDir()}:/no/such/dir`]);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('/no/such/dir');
    expect(fs.existsSync(path.join(rootfs(), 'no'))).toBe(false);
  });

  it('a missing source fails with 125', async () => {
    const missing = path.join(scratchDir(), 'missing');
    const r = await sandbox(['true'], ['-v', `${missing}:/mnt/data`]);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain(missing);
  });
});

describe('tmpfs mounts (--tmpfs)', () => {
  it('--tmpfs /tmp is a writable tmpfs, noexec by default, that the host never sees', async () => {
    const tmp = mustMount(await mountsInside(['--tmpfs', '/tmp']), '/tmp');
    expect(tmp.fsType).toBe('tmpfs');
    expect(tmp.options).toEqual(expect.arrayContaining(['rw', 'noexec', 'nosuid', 'nodev']));
    const tag = `tmpfs-${process.pid}-${Date.now()}`;
    const r = await sandboxSh(`echo in-tmpfs > /tmp/${tag} && cat /tmp/${tag} && cp /bin/busybox /tmp/true && /tmp/true; echo rc=$?`, ['--tmpfs', '/tmp']);
    expect(r.stdout).toBe('in-tmpfs\nrc=126\n');
    expect(r.stderr).toContain('Permission denied');
    expect(fs.existsSync(path.join(rootfs(), 'tmp', tag))).toBe(false);
  });

  it('options: exec allows running programs, size and mode are applied', async () => {
    const r = await sandboxSh('cp /bin/busybox /tmp/echo && /tmp/echo ran', ['--tmpfs', '/tmp:exec']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const tmp = mustMount(await mountsInside(['--tmpfs', '/tmp:size=1m,mode=0700']), '/tmp');
    expect(tmp.superOptions).toEqual(expect.arrayContaining(['size=1024k', 'mode=700']));
  });

  it('an unknown option is refused with 125', async () => {
    const r = await sandbox(['true'], ['--tmpfs', '/tmp:bogus']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('bogus');
  });
});
