/**
 * podman's spellings in the image commands, as podman's scripts use them,
 * next to docker's: the global --log-level, -D and --storage-driver; version's
 * layout; info's Host section; images/inspect template fields; rmi --ignore;
 * tag with several names and untag.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, type Env } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootOnlyImage } from '../helpers/images';
import { rootfs, show } from '../helpers/nook';
import { importBase } from '../helpers/build';
import { pushImage, startRegistry } from '../helpers/registry';
import { need } from '../helpers/users';

const VERSION = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).version as string;

async function importImage(e: Env, name: string): Promise<string> {
  const tarball = path.join(scratchDir(e.user, 'img-'), 'rootfs.tar.gz');
  fs.writeFileSync(tarball, rootOnlyImage('podimg').layers[0]);
  fs.chownSync(tarball, e.user.uid, e.user.gid);
  return (await ok(e, ['import', tarball, name])).trim();
}

describe('global flags', () => {
  it('version prints docker\'s Client/Server layout; --version and -v one line', async () => {
    const e = env();
    const text = await ok(e, ['version']);
    expect(text).toMatch(new RegExp(`^Client: nook\\n Version: +${VERSION.replace(/\./g, '\\.')}\\n`));
    expect(text).toMatch(/\nServer: nook \(daemonless\)\n Engine:\n  Version: +/);
    expect(text).toMatch(/^ OS\/Arch: +linux\//m);
    expect(await ok(e, ['--version'])).toBe(`nook version ${VERSION}\n`);
    expect(await ok(e, ['-v'])).toBe(`nook version ${VERSION}\n`);
  });

  it('--log-level writes logrus lines on stderr at that level and above; a bad level exits 1; -D is debug', async () => {
    const e = env();
    const bad = await e.nook(['--log-level=telepathic', 'info']);
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stderr).toMatch(/^Error: log level "telepathic" is not supported\n  hint: choose from: trace, debug, info, warn/);
    const levels = async (args: string[]) => {
      const r = await e.nook([...args, 'info', '--format', '{{.OSType}}']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe('linux\n');
      for (const line of r.stderr.trim().split('\n').filter(Boolean)) expect(line).toMatch(/^time="[^"]+" level=\w+ msg=".*"$/);
      return [...new Set([...r.stderr.matchAll(/ level=(\w+) /g)].map((m) => m[1]))].sort();
    };
    expect(await levels(['--log-level=trace'])).toEqual(['debug', 'info', 'trace']);
    expect(await levels(['--log-level', 'debug'])).toEqual(['debug', 'info']);
    expect(await levels(['--log-level=info'])).toEqual(['info']);
    expect(await levels(['--log-level=warn'])).toEqual([]);
    expect(await levels(['--log-level=error'])).toEqual([]);
    expect(await levels(['-D'])).toEqual(['debug', 'info']);
    expect(await levels(['--debug', '--log-level=panic'])).toEqual(['debug', 'info']);
    const debug = await e.nook(['--log-level=debug', 'info', '--format', '{{.OSType}}']);
    expect(debug.stderr).toContain(`image store ${e.store}`);
    // What debug turns on for nook (NOOK_DEBUG) stays out of the container.
    const run = await e.nook(['-D', 'run', '--rm', '--rootfs', rootfs(), '--', 'env']);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).not.toMatch(/NOOK/);
    expect(run.stderr).toMatch(/ level=debug /);
  });

  it('--storage-driver vfs is the copy mode, overlay overlayfs; others are refused', async () => {
    const e = env();
    expect(await ok(e, ['--storage-driver=vfs', 'info', '--format', '{{.Store.Driver}} {{.Overlay.Forced}}'])).toBe('copy copy\n');
    expect(await ok(e, ['--storage-driver', 'overlay', 'info', '--format', '{{.Store.GraphDriverName}}'])).toBe('overlay\n');
    const bad = await e.nook(['--storage-driver=zfs', 'images']);
    expect(bad.code, show(bad)).toBe(125);
    expect(bad.stderr).toMatch(/unknown storage driver "zfs"/);
    // With an empty --root, images still prints its header.
    const empty = path.join(scratchDir(e.user, 'empty-'), 'nothing-here');
    expect(await ok(e, ['--storage-driver=vfs', '--root', empty, 'images'])).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n$/);
  });

  it("--config DIR is docker's: pulls read DIR/config.json's credentials", async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const reg = await startRegistry({ auth: 'htpasswd' });
    try {
      await pushImage(reg.host, 'nook/private', 'latest', rootOnlyImage('private'), reg.pushOpts);
      const ref = `${reg.host}/nook/private:latest`;
      const dir = scratchDir(e.user, 'dockercfg-');
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
      fs.chmodSync(path.join(dir, 'config.json'), 0o644);
      const noHome = { ...e.opts.env!, XDG_CONFIG_HOME: scratchDir(e.user, 'xdg-') };
      const denied = await e.nook(['pull', '--tls-verify=false', ref], { env: noHome });
      expect(denied.code, show(denied)).toBe(1);
      const r = await e.nook(['--config', dir, 'pull', '-q', '--tls-verify=false', ref], { env: noHome });
      expect(r.code, show(r)).toBe(0);
    } finally {
      await reg.stop();
    }
  });

  it("info has podman's Host section and Store keys", async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const info = JSON.parse(await ok(e, ['info', '--format', 'json'])) as Record<string, any>;
    expect(info.Host).toMatchObject({ OS: 'linux', OCIRuntime: { Name: 'nook' }, Security: { Rootless: true }, EventLogger: 'none', LogDriver: 'k8s-file', CgroupManager: 'cgroupfs' });
    expect(info.Host.Arch).toMatch(/^(amd64|arm64|386|arm|ppc64le|s390x|riscv64)$/);
    expect(['v1', 'v2', 'none']).toContain(info.Host.CgroupsVersion);
    expect(info.Store).toMatchObject({ Root: e.store, GraphRoot: e.store, RunRoot: e.state, ImageStore: { Number: 0 }, ContainerStore: { Number: 0 } });
    const distro = /^ID="?([^"\n]*)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1];
    expect(await ok(e, ['info', '--format', '{{.Host.Distribution.Distribution}} {{.Host.Security.Rootless}}'])).toBe(`${distro} true\n`);
  });
});

describe('image fields and commands', () => {
  it("images and inspect offer podman's template fields; json has Names, Digest and Labels", async () => {
    const e = env();
    await importBase(e, 'pod/base:1');
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'podsrc'])));
    // A labelled image, from a container (commit -c).
    await ok(e, ['run', '--name', 'podsrc', 'pod/base:1', 'true']);
    const id = (await ok(e, ['commit', '-c', 'LABEL created_by=me', 'podsrc', 'pod/labelled:2'])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const hex = id.slice(7);

    expect(await ok(e, ['images', 'pod/labelled', '--format', '{{.Labels.created_by}} {{.Names}} {{.Dangling}} {{.ReadOnly}} {{.ID | upper}}'])).toBe(
      `me [docker.io/pod/labelled:2] false false ${hex.slice(0, 12).toUpperCase()}\n`,
    );
    // .History: the names the image has had (podman's NamesHistory), now first.
    await ok(e, ['tag', 'pod/labelled:2', 'pod/other']);
    await ok(e, ['rmi', 'pod/other']);
    expect(await ok(e, ['images', 'pod/labelled', '--format', '{{.History}}'])).toBe('docker.io/pod/labelled:2, docker.io/pod/other:latest\n');
    expect(await ok(e, ['inspect', '--format', '{{json .NamesHistory}}', 'pod/labelled:2'])).toBe('["docker.io/pod/labelled:2","docker.io/pod/other:latest"]\n');
    // {{json .}} stays docker's.
    expect(Object.keys(JSON.parse(await ok(e, ['images', 'pod/labelled', '--format', '{{json .}}'])))).not.toContain('Names');
    const json = JSON.parse(await ok(e, ['images', '--format', 'json'])) as Record<string, any>[];
    const labelled = json.find((j) => j.Id === id)!;
    expect(labelled).toMatchObject({ Names: ['docker.io/pod/labelled:2'], RepoTags: ['pod/labelled:2'], Labels: { created_by: 'me' } });
    expect(labelled.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    expect(await ok(e, ['inspect', '--format', '{{.ID}}', 'pod/labelled:2'])).toBe(`${hex}\n`);
    // Flags after the arguments, as docker's (and podman's) parser takes them.
    expect(await ok(e, ['image', 'inspect', hex, '--format', '{{.ID}}'])).toBe(`${hex}\n`);
    expect((await ok(e, ['history', 'pod/labelled:2', '-q', '--no-trunc'])).split('\n')[0]).toBe(id);
    const manifest = JSON.parse(await ok(e, ['image', 'inspect', '--format', '{{json .Manifest}}', hex])) as unknown;
    const digest = (await ok(e, ['image', 'inspect', '--format', '{{.Digest}}', hex])).trim();
    expect(digest).toMatch(/^sha256:/);
    expect(manifest).toBeTruthy();
    expect(await ok(e, ['inspect', '--format', '{{.Labels.created_by}}', 'pod/labelled:2'])).toBe('me\n');
    const full = JSON.parse(await ok(e, ['image', 'inspect', 'pod/labelled:2']))[0] as Record<string, unknown>;
    expect(full.Id).toBe(id);
    expect(Object.keys(full)).not.toContain('ID');

    // --filter after= is since=; --sort.
    expect(await ok(e, ['images', '--noheading', '--format', '{{.Repository}}', '--filter', 'after=pod/base:1'])).toBe('pod/labelled\n');
    await ok(e, ['tag', 'pod/base:1', 'aaa/first:9']);
    expect(await ok(e, ['images', '--sort', 'repository', '--format', '{{.Repository}}'])).toBe('aaa/first\npod/base\npod/labelled\n');
    expect(await ok(e, ['images', '--sort', 'tag', '--format', '{{.Tag}}'])).toBe('1\n2\n9\n');
    const badSort = await e.nook(['images', '--sort', 'colour']);
    expect(badSort.code).toBe(1);
    expect(badSort.stderr).toMatch(/unknown --sort "colour"/);
  });

  it('rmi --ignore says nothing of a missing image; -f reports it on stderr and exits 0; without either it exits 1 after removing the rest', async () => {
    const e = env();
    await importImage(e, 'rmi/one:1');
    await ok(e, ['tag', 'rmi/one:1', 'rmi/two:1']);
    const ignored = await e.nook(['rmi', '--ignore', 'nosuchimage']);
    expect([ignored.code, ignored.stdout, ignored.stderr]).toEqual([0, '', '']);
    const forced = await e.nook(['image', 'rm', '--force', 'nosuchimage']);
    expect(forced.code, show(forced)).toBe(0);
    expect(forced.stdout).toBe('');
    expect(forced.stderr).toMatch(/^Error: No such image: nosuchimage/);
    const plain = await e.nook(['rmi', 'nosuchimage', 'rmi/two:1']);
    expect(plain.code, show(plain)).toBe(1);
    expect(plain.stdout).toBe('Untagged: rmi/two:1\n');
    expect(plain.stderr).toMatch(/^Error: No such image: nosuchimage/);
    expect(await ok(e, ['images', '--format', '{{.Repository}}'])).toBe('rmi/one\n');
  });

  it('tag takes several names; untag takes some or all names off, and the image stays', async () => {
    const e = env();
    const id = await importImage(e, 'tag/src:1');
    await ok(e, ['tag', 'tag/src:1', 'reg.example/a:1', 'reg.example/b', 'c']);
    const tags = async () => (JSON.parse(await ok(e, ['image', 'inspect', '-f', '{{json .RepoTags}}', id])) as string[]).sort();
    expect(await tags()).toEqual(['c:latest', 'reg.example/a:1', 'reg.example/b:latest', 'tag/src:1']);
    await ok(e, ['untag', 'tag/src:1', 'reg.example/b']);
    expect(await tags()).toEqual(['c:latest', 'reg.example/a:1', 'tag/src:1']);
    const unknown = await e.nook(['untag', id, 'reg.example/zzz:1']);
    expect(unknown.code, show(unknown)).toBe(1);
    expect(unknown.stderr).toMatch(/^Error: reg.example\/zzz:1: tag not known/);
    await ok(e, ['image', 'untag', id.slice(7, 19)]);
    expect(await ok(e, ['image', 'inspect', '-f', '{{.RepoTags}}', id])).toBe('[]\n');
    expect(await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.Dangling}}'])).toBe('<none>:<none> true\n');
    await ok(e, ['tag', id, 'tag/src:1']);
    expect(await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('tag/src:1\n');
  });
});
