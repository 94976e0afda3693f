/**
 * Images end to end, as the unprivileged test users: pull from a real
 * registry (Debian's docker-registry on 127.0.0.1), the store on disk, and
 * `nook run IMAGE` on overlayfs, checked by what the container sees.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { registryWithTestImages, rootOnlyImage } from '../helpers/images';
import { makeLayer } from '../helpers/layers';
import { runNook, show, startNook, type NookOptions } from '../helpers/nook';
import { runOnPty } from '../helpers/pty';
import { pushImage } from '../helpers/registry';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
import { scratchDir } from '../helpers/files';
import { need, testUsers, type TestUser } from '../helpers/users';

const fixture = registryWithTestImages();

/** A fresh store owned by `user`, and nook options that use it. */
function storeFor(user: TestUser): { root: string; opts: NookOptions } {
  const root = path.join(scratchDir(user, 'store-'), 'nook');
  return { root, opts: { user, env: { NOOK_ROOT: root }, timeoutMs: 60_000 } };
}

const PLAIN = '--tls-verify=false';

describe('pull and run an image with several layers (user with subordinate ids)', () => {
  let store: { root: string; opts: NookOptions };
  let user: TestUser;
  const run = (flags: string[], cmd: string[] = []) => runNook(['run', ...flags, fixture.images.layers, ...cmd], store.opts);
  const sh = (script: string, flags: string[] = []) => run(flags, ['sh', '-c', script]);

  beforeAll(async () => {
    user = testUsers().sub!;
    if (!user) return;
    store = storeFor(user);
    const r = await runNook(['pull', PLAIN, fixture.images.layers], store.opts);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/Pull complete/);
  });

  it('lists the image', async (ctx) => {
    need(ctx, 'sub');
    const r = await runNook(['images', '--format', 'json'], store.opts);
    expect(r.code, show(r)).toBe(0);
    const list = JSON.parse(r.stdout) as { RepoTags: string[]; Layers: number; Id: string }[];
    expect(list).toHaveLength(1);
    expect(list[0].RepoTags).toEqual([fixture.images.layers]);
    expect(list[0].Layers).toBe(3);
    const q = await runNook(['images', '-q'], store.opts);
    expect(q.stdout.trim()).toBe(list[0].Id.slice(7, 19));
  });

  it("runs the image's Cmd in its WorkingDir with its Env", async (ctx) => {
    need(ctx, 'sub');
    const r = await run([]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('default-cmd from-image\n');
    const w = await sh('pwd; echo $FOO', ['-e', 'FOO=overridden']);
    expect(w.stdout).toBe('/opt\noverridden\n');
  });

  it('shows the layers merged: upper files win, whiteouts delete, opaque directories hide', async (ctx) => {
    need(ctx, 'sub');
    const r = await sh('cat /etc/motd; test -e /etc/gone && echo gone-still-there; ls /opt/data; cat /opt/link');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hello from layer 3\nc\nc\n');
    // overlayfs itself, not the copy fallback
    expect(r.stderr).toBe('');
    expect(fs.existsSync(path.join(store.root, 'overlay-refused.json'))).toBe(false);
  });

  it('keeps hardlinks, symlinks, modes, setuid bits, mtimes and owners', async (ctx) => {
    need(ctx, 'sub');
    const r = await sh(
      'stat -c "%i" /opt/hl1 /opt/hl2 | uniq | wc -l; readlink /opt/link; stat -c "%a %u:%g" /opt/suid /opt/alice-file /opt/daemon-file /home/alice /tmp; stat -c %Y /etc/motd',
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['1', 'data/c', '4755 0:0', '640 1000:1000', '644 2:3', '750 1000:1000', '1777 0:0', '1600000000', '']);
  });

  it('stores files with the owners the container sees, shifted into the subordinate range on the host', async (ctx) => {
    const u = need(ctx, 'sub');
    const layerDirs = fs.readdirSync(path.join(store.root, 'layers')).filter((d) => d !== 'tmp');
    expect(layerDirs).toHaveLength(3);
    const owners = layerDirs
      .map((d) => path.join(store.root, 'layers', d, 'opt/alice-file'))
      .filter((p) => fs.existsSync(p))
      .map((p) => fs.statSync(p).uid);
    expect(owners).toEqual([u.subUids!.start + 1000 - 1]);
  });

  it('gives each run a writable layer of its own, removed at exit', async (ctx) => {
    need(ctx, 'sub');
    const first = await sh('echo new > /etc/newfile; rm /etc/motd; chown 1000 /etc/passwd; cat /etc/newfile');
    expect(first.code, show(first)).toBe(0);
    expect(first.stdout).toBe('new\n');
    const second = await sh('test -e /etc/newfile && echo leaked; cat /etc/motd; stat -c %u /etc/passwd');
    expect(second.stdout).toBe('hello from layer 3\n0\n');
    expect(fs.readdirSync(path.join(store.root, 'containers'))).toEqual([]);
  });

  it('creates mount points in the writable layer, and --read-only makes / read-only', async (ctx) => {
    const u = need(ctx, 'sub');
    const data = scratchDir(u);
    fs.writeFileSync(path.join(data, 'f'), 'from host\n');
    const r = await sh('cat /new/mount/point/f', ['-v', `${data}:/new/mount/point:ro`]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('from host\n');
    const ro = await sh('touch /x 2>&1; echo $?', ['--read-only']);
    expect(ro.stdout).toMatch(/Read-only file system\n1\n$/);
  });

  it('resolves -u names from the image and honours the image User', async (ctx) => {
    need(ctx, 'sub');
    const r = await sh('id -u; id -g; echo $HOME', ['-u', 'alice']);
    expect(r.stdout).toBe('1000\n1000\n/home/alice\n');
    const store2 = store; // same store: pulling another image shares nothing but works alongside
    const e = await runNook(['run', PLAIN, fixture.images.entry], store2.opts);
    expect(e.code, show(e)).toBe(0);
    expect(e.stdout).toBe('entry: default args\n');
    const over = await runNook(['run', PLAIN, '--entrypoint', 'id', fixture.images.entry, '-u'], store2.opts);
    expect(over.stdout).toBe('1000\n');
    const asRoot = await runNook(['run', '-u', '0', '-w', '/', '--entrypoint', 'sh', fixture.images.entry, '-c', 'id -u; pwd'], store2.opts);
    expect(asRoot.stdout).toBe('0\n/\n');
    const cleared = await runNook(['run', '--entrypoint', '', fixture.images.entry, 'echo', 'no entrypoint'], store2.opts);
    expect(cleared.stdout).toBe('no entrypoint\n');
  });

  it('falls back to a private copy of the layers when overlayfs is not used', async (ctx) => {
    need(ctx, 'sub');
    const r = await runNook(
      ['run', fixture.images.layers, 'sh', '-c', 'cat /etc/motd; test -e /etc/gone || echo gone; ls /opt/data; stat -c "%a %u" /opt/suid /opt/alice-file'],
      { ...store.opts, env: { ...store.opts.env, NOOK_OVERLAY: 'copy' } },
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hello from layer 3\ngone\nc\n4755 0\n640 1000\n');
    expect(fs.readdirSync(path.join(store.root, 'containers'))).toEqual([]);
  });

  it('tags, inspects and removes images; the layers go once nothing uses them', async (ctx) => {
    need(ctx, 'sub');
    expect((await runNook(['tag', fixture.images.layers, 'mine:1'], store.opts)).code).toBe(0);
    const insp = await runNook(['inspect', 'mine:1'], store.opts);
    expect(insp.code, show(insp)).toBe(0);
    const [doc] = JSON.parse(insp.stdout);
    expect(doc.Config.WorkingDir).toBe('/opt');
    expect(doc.Manifest.layers).toHaveLength(3);
    expect(doc.RepoTags.sort()).toEqual([fixture.images.layers, 'mine:1'].sort());
    const untag = await runNook(['rmi', 'mine:1'], store.opts);
    expect(untag.stdout).toBe('Untagged: mine:1\n');
    const r = await runNook(['rmi', fixture.images.layers], store.opts);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/Deleted: sha256:/);
    // The entry image (pulled above) keeps its own layers; the layers image's are gone.
    const left = await runNook(['images', '--format', 'json'], store.opts);
    expect(JSON.parse(left.stdout).map((i: { RepoTags: string[] }) => i.RepoTags[0])).toEqual([fixture.images.entry]);
    expect(fs.readdirSync(path.join(store.root, 'layers')).filter((d) => d !== 'tmp')).toHaveLength(1);
  });
});

describe('archives and terminals, as an unprivileged user', () => {
  it('save, load into another store, and run; import a rootfs tarball', async (ctx) => {
    const user = need(ctx, 'sub');
    const a = storeFor(user);
    const b = storeFor(user);
    const dir = scratchDir(user, 'archive-');
    expect((await runNook(['pull', '-q', PLAIN, fixture.images.layers], a.opts)).code).toBe(0);
    for (const format of ['docker-archive', 'oci-archive']) {
      const file = path.join(dir, `${format}.tar`);
      const save = await runNook(['save', '--format', format, '-o', file, fixture.images.layers], a.opts);
      expect(save.code, show(save)).toBe(0);
      const load = await runNook(['load', '-i', file], b.opts);
      expect(load.code, show(load)).toBe(0);
      expect(load.stdout.endsWith(`Loaded image: ${fixture.images.layers}\n`), load.stdout).toBe(true);
      const r = await runNook(['run', '--pull', 'never', fixture.images.layers, 'sh', '-c', 'cat /etc/motd; stat -c "%a %u" /opt/suid /opt/alice-file'], b.opts);
      expect(r.stdout, show(r)).toBe('hello from layer 3\n4755 0\n640 1000\n');
      expect((await runNook(['rmi', fixture.images.layers], b.opts)).code).toBe(0);
    }
    const tarball = path.join(dir, 'rootfs.tar.gz');
    fs.writeFileSync(tarball, rootOnlyImage('imported').layers[0]);
    fs.chownSync(tarball, user.uid, user.gid);
    const imp = await runNook(['import', tarball, 'imported:1'], b.opts);
    expect(imp.code, show(imp)).toBe(0);
    expect(imp.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const r = await runNook(['run', 'imported:1', 'cat', '/etc/arch'], b.opts);
    expect(r.stdout, show(r)).toBe('imported\n');
  });

  it('on a terminal, pull redraws one line per layer in place', async (ctx) => {
    const user = need(ctx, 'sub');
    const { root } = storeFor(user);
    const r = await runOnPty(['--root', root, 'pull', PLAIN, fixture.images.layers], { user, timeoutSec: 60 });
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/\x1b\[\d+A/); // cursor up: lines redrawn
    expect(r.output.match(/Pull complete/g)!.length).toBeGreaterThanOrEqual(3);
    expect(r.output).toMatch(/Pulled /);
    // Not on a terminal: plain lines only.
    const plain = await runNook(['--root', root, 'pull', PLAIN, fixture.images.layers], { user });
    expect(plain.stdout).not.toMatch(/\x1b/);
    expect(plain.stdout.match(/Already exists/g)).toHaveLength(3);
  });
});

describe('long layer chains', () => {
  it('run an image of 120 layers (the overlay options must fit one page)', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    const base = rootOnlyImage('many');
    const cfg = base.config as { rootfs: { diff_ids: string[] } };
    const layers = [...base.layers];
    for (let i = 0; i < 120; i++) {
      const entries = [{ path: `layers/${i}`, content: `${i}\n` }];
      cfg.rootfs.diff_ids.push(sha256(makeLayer(entries)));
      layers.push(makeLayer(entries, { compression: 'gzip' }));
    }
    await pushImage(fixture.registry.host, 'nook/many', 'latest', { ...base, layers });
    const r = await runNook(['run', PLAIN, `${fixture.registry.host}/nook/many:latest`, 'sh', '-c', 'ls /layers | wc -l; cat /layers/0 /layers/119'], opts);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('120\n0\n119\n');
    expect(r.stderr).not.toMatch(/refuses overlayfs/);
  });
});

describe('rmi while a container runs', () => {
  it("leaves the running container's layers alone until it exits", async (ctx) => {
    const user = need(ctx, 'sub');
    const { root, opts } = storeFor(user);
    expect((await runNook(['pull', '-q', PLAIN, fixture.images.rootonly], opts)).code).toBe(0);
    // The container waits on a fifo until the image is gone.
    const sig = scratchDir(user, 'sig-');
    execFileSync('mkfifo', [path.join(sig, 'go')]);
    fs.chownSync(path.join(sig, 'go'), user.uid, user.gid);
    const running = startNook(['run', '-v', `${sig}:/sig`, fixture.images.rootonly, 'sh', '-c', 'echo ready; read x < /sig/go; cat /etc/arch; ls /bin/busybox'], opts);
    await running.waitForStdout('ready');
    const rmi = await runNook(['rmi', fixture.images.rootonly], opts);
    expect(rmi.code, show(rmi)).toBe(0);
    expect(fs.readdirSync(path.join(root, 'images'))).toEqual([]);
    fs.writeFileSync(path.join(sig, 'go'), 'go\n');
    const r = await running.exited;
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('ready\nrootonly\n/bin/busybox\n');
    const prune = await runNook(['image', 'prune'], opts);
    expect(prune.code, show(prune)).toBe(0);
    expect(fs.readdirSync(path.join(root, 'layers')).filter((d) => d !== 'tmp')).toEqual([]);
  });
});

describe('pull policies, platforms and errors', () => {
  it('run pulls a missing image, and --pull never refuses to', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    const never = await runNook(['run', '--pull', 'never', fixture.images.rootonly], opts);
    expect(never.code).toBe(125);
    expect(never.stderr).toMatch(/not in the store and --pull never forbids pulling it/);
    const r = await runNook(['run', PLAIN, fixture.images.rootonly], opts);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('rootonly\n');
    expect(r.stderr).toMatch(/Unable to find image/);
  });

  it('picks the platform from a multi-arch index, and lists the platforms when none fits', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    expect((await runNook(['run', PLAIN, fixture.images.multi], opts)).stdout).toBe('amd64\n');
    const arm = await runNook(['run', PLAIN, '--pull', 'always', '--platform', 'linux/arm64', fixture.images.multi], opts);
    expect(arm.stdout).toBe('arm64\n');
    const none = await runNook(['pull', PLAIN, '--platform', 'linux/s390x', fixture.images.multi], opts);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/has no image for linux\/s390x/);
    expect(none.stderr).toMatch(/linux\/amd64, linux\/arm64\/v8/);
  });

  it('refuses plain HTTP unless told the registry is insecure', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    const r = await runNook(['pull', fixture.images.rootonly], opts);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tls-verify=false/);
  });

  it('a missing image or repository is named', async (ctx) => {
    const user = need(ctx, 'sub');
    const { opts } = storeFor(user);
    const r = await runNook(['pull', PLAIN, `${fixture.registry.host}/nook/nothing:here`], opts);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nook\/nothing/);
  });

  it('a store on a filesystem without extended attributes is refused with a hint to use --root', async (ctx) => {
    const user = need(ctx, 'sub');
    if (process.getuid?.() !== 0) ctx.skip('mounting a ramfs needs root');
    const dir = scratchDir(user, 'ramfs-');
    execFileSync('mount', ['-t', 'ramfs', 'ramfs', dir]);
    try {
      fs.chownSync(dir, user.uid, user.gid);
      const r = await runNook(['pull', PLAIN, fixture.images.rootonly], { user, env: { NOOK_ROOT: path.join(dir, 'nook') } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/without extended attributes/);
      expect(r.stderr).toMatch(/--root/);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});

describe('users without subordinate ids', () => {
  it('run images whose files are all root-owned', async (ctx) => {
    const user = need(ctx, 'nosub');
    const { opts } = storeFor(user);
    const r = await runNook(['run', PLAIN, fixture.images.rootonly], opts);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('rootonly\n');
  });

  it('fail to pull files owned by ids they cannot map, naming the file, the id and the fix; --squash-ids makes them root-owned', async (ctx) => {
    const user = need(ctx, 'nosub');
    const { root, opts } = storeFor(user);
    const r = await runNook(['pull', PLAIN, fixture.images.layers], opts);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/(home\/alice|opt\/alice-file|opt\/daemon-file)/);
    expect(r.stderr).toMatch(/uid (1000|2)|gid (1000|3)/);
    expect(r.stderr).toMatch(/usermod --add-subuids/);
    expect(r.stderr).toMatch(/--squash-ids/);
    expect(fs.existsSync(path.join(root, 'images')) ? fs.readdirSync(path.join(root, 'images')) : []).toEqual([]);
    const sq = await runNook(['run', PLAIN, '--squash-ids', fixture.images.layers, 'stat', '-c', '%u:%g', '/opt/alice-file'], opts);
    expect(sq.code, show(sq)).toBe(0);
    expect(sq.stdout).toBe('0:0\n');
    expect(sq.stderr).toMatch(/warning/i);
  });
});
