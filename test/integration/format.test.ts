/**
 * Scripts written for docker, through build/nook as the test users: --format
 * with Go templates for ps, images, inspect (-f) and version; nook info;
 * nook system df and system prune.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { env, ok, runDetached, type Env } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootOnlyImage } from '../helpers/images';
import { show } from '../helpers/nook';
import { processesWithArgv } from '../helpers/procs';
import { need } from '../helpers/users';

/** An image in e's store without a registry: `nook import` of a one-layer rootfs tarball. */
async function importImage(e: Env, name: string): Promise<string> {
  const tarball = path.join(scratchDir(e.user, 'img-'), 'rootfs.tar.gz');
  fs.writeFileSync(tarball, rootOnlyImage('fmt').layers[0]);
  fs.chownSync(tarball, e.user.uid, e.user.gid);
  return (await ok(e, ['import', tarball, name])).trim();
}

describe('--format with Go templates, as docker scripts use it', () => {
  it('ps: {{.Names}}, a table with a header, {{json .}}, and an unknown field', async () => {
    const e = env();
    const id = await runDetached(e, ['--name', 'fmt-web'], ['sleep', '2171']);
    await runDetached(e, ['--name', 'fmt-done'], ['true']);
    await ok(e, ['wait', 'fmt-done']);

    expect(await ok(e, ['ps', '--format', '{{.Names}}'])).toBe('fmt-web\n');
    expect((await ok(e, ['ps', '-a', '--format', '{{.Names}}'])).split('\n').sort()).toEqual(['', 'fmt-done', 'fmt-web']);
    expect(await ok(e, ['ps', '--format', '{{.ID}} {{.State}} {{.Command}}'])).toBe(`${id.slice(0, 12)} running "sleep 2171"\n`);
    expect(await ok(e, ['ps', '--no-trunc', '--format', '{{.ID}}'])).toBe(`${id}\n`);

    const table = await ok(e, ['ps', '--format', 'table {{.ID}}\\t{{.Status}}']);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^CONTAINER ID   STATUS$/);
    expect(lines[1]).toMatch(new RegExp(`^${id.slice(0, 12)}   Up (Less than a second|\\d+ seconds?)`));
    expect(lines).toHaveLength(3);
    // A real tab in the template works too.
    expect((await ok(e, ['ps', '--format', 'table {{.Names}}\t{{.Image}}'])).split('\n')[0]).toMatch(/^NAMES {3,}IMAGE$/);

    const row = JSON.parse(await ok(e, ['ps', '--format', '{{json .}}'])) as Record<string, unknown>;
    expect(row).toMatchObject({ ID: id.slice(0, 12), Names: 'fmt-web', State: 'running', Ports: '', Networks: 'none' });
    expect(Object.keys(row)).toEqual(expect.arrayContaining(['Command', 'CreatedAt', 'RunningFor', 'Status', 'Size', 'Labels', 'Mounts']));

    const bad = await e.nook(['ps', '--format', '{{.Nmes}}']);
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stderr).toMatch(/no field "Nmes"/);
    expect(bad.stderr).toMatch(/hint: .*Names/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const syntax = await e.nook(['ps', '--format', '{{if .Names}}']);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/invalid template in --format: .*no \{\{end\}\}/);
    await ok(e, ['rm', '-f', 'fmt-web', 'fmt-done']);
  });

  it('inspect -f {{.State.Pid}} is the real pid; docker keys and templates over them', async () => {
    const e = env();
    const argv = ['sleep', '2172'];
    const id = await runDetached(e, ['--name', 'fmt-insp'], argv);
    const [proc] = processesWithArgv(argv);
    expect((await ok(e, ['inspect', '-f', '{{.State.Pid}}', 'fmt-insp'])).trim()).toBe(String(proc.pid));
    expect(await ok(e, ['inspect', '--format', '{{.Name}} {{.State.Status}} {{.State.Running}} {{.Path}} {{join .Args ","}}', 'fmt-insp'])).toBe(
      '/fmt-insp running true sleep 2172\n',
    );
    expect(await ok(e, ['inspect', '-f', '{{.Id}}', id.slice(0, 8)])).toBe(`${id}\n`);
    expect(await ok(e, ['inspect', '-f', '{{range .Config.Cmd}}[{{.}}]{{end}} {{index .Config.Labels "x"}}|{{.HostConfig.NetworkMode}}', 'fmt-insp'])).toBe('[sleep][2172] |none\n');
    const doc = JSON.parse(await ok(e, ['inspect', '-f', '{{json .State}}', 'fmt-insp'])) as Record<string, unknown>;
    expect(doc).toMatchObject({ Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: proc.pid, ExitCode: 0, Error: '' });
    const bad = await e.nook(['inspect', '-f', '{{.State.Pidd}}', 'fmt-insp']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no field "Pidd" in \.State/);
    await ok(e, ['rm', '-f', 'fmt-insp']);
  });

  it('images --format {{.Repository}}:{{.Tag}}, a table, and image inspect -f', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const imageId = await importImage(e, 'fmt/img:1');
    await ok(e, ['tag', 'fmt/img:1', 'localhost:5000/fmt/other:2']);
    expect((await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).split('\n').sort()).toEqual(['', 'fmt/img:1', 'localhost:5000/fmt/other:2']);
    expect(await ok(e, ['images', '--format', '{{.ID}}'])).toBe(`${imageId.slice(7, 19)}\n${imageId.slice(7, 19)}\n`);
    const table = (await ok(e, ['images', '--format', 'table {{.Repository}}\\t{{.ID}}\\t{{.Size}}'])).split('\n');
    expect(table[0]).toMatch(/^REPOSITORY {3,}IMAGE ID {3,}SIZE$/);
    expect(await ok(e, ['inspect', '-f', '{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} {{json .Config.Cmd}} [{{index .Config.Labels "x"}}]', 'fmt/img:1'])).toBe('linux/amd64 1 null []\n');
    expect(await ok(e, ['inspect', '--type', 'image', '-f', '{{.Id}}', 'fmt/img:1'])).toBe(`${imageId}\n`);
    expect(await ok(e, ['image', 'inspect', '-f', '{{.Id}}', 'fmt/img:1'])).toBe(`${imageId}\n`);
    const notContainer = await e.nook(['container', 'inspect', 'fmt/img:1']);
    expect(notContainer.code).toBe(1);
    expect(notContainer.stderr).toMatch(/No such container: fmt\/img:1/);
  });

  it('version --format {{.Client.Version}}; plain version in docker\'s layout', async () => {
    const e = env();
    const version = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).version as string;
    expect(await ok(e, ['version', '--format', '{{.Client.Version}}'])).toBe(`${version}\n`);
    expect(await ok(e, ['version'])).toMatch(new RegExp(`^Client: nook\n Version: +${version}\n`));
    expect(await ok(e, ['--version'])).toBe(`nook version ${version}\n`);
    expect(JSON.parse(await ok(e, ['version', '--format', 'json']))).toMatchObject({ Client: { Version: version, Os: 'linux' } });
  });
});

describe('nook info, system df, system prune', () => {
  it('info --format json parses and has the store path, the runtime dir and the id mapping; info is readable text', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const info = JSON.parse(await ok(e, ['info', '--format', 'json'])) as Record<string, any>;
    expect(info.Store.Root).toBe(e.store);
    expect(info.DockerRootDir).toBe(e.store);
    expect(info.RuntimeDir.Path).toBe(e.state);
    expect(info).toMatchObject({ OSType: 'linux', Rootless: true, User: { Uid: e.user.uid }, Containers: 0, Images: 0 });
    expect(info.IdMapping.SubUids).toEqual([`${e.user.subUids!.start}:${e.user.subUids!.count}`]);
    expect(info.IdMapping.Method).toBe('newuidmap/newgidmap');
    expect(['1', '2', 'none']).toContain(info.Cgroups.Version);
    expect(typeof info.Cgroups.Delegated).toBe('boolean');
    expect(typeof info.Overlay.KernelHasOverlay).toBe('boolean');
    expect(Object.keys(info.NetworkHelpers).sort()).toEqual(['pasta', 'slirp4netns']);
    expect(await ok(e, ['info', '--format', '{{.Store.Root}}'])).toBe(`${e.store}\n`);
    expect(await ok(e, ['system', 'info', '-f', '{{.IdMapping.Method}}'])).toBe('newuidmap/newgidmap\n');
    const text = await ok(e, ['info']);
    expect(text).toContain(`Store:\n Root: ${e.store}\n`);
    expect(text).toMatch(/^IdMapping:\n Method: /m);
    expect(text).toMatch(/^Cgroups:\n Version: /m);
  });

  it('info says what is wrong for a user without subordinate ids', async (ctx) => {
    const e = env(need(ctx, 'nosub'));
    const info = JSON.parse(await ok(e, ['info', '--format', 'json'])) as Record<string, any>;
    expect(info.IdMapping.Method).toBe('direct (one id)');
    expect(info.IdMapping.Problem).toMatch(/no range in \/etc\/subuid/);
  });

  it('system df counts images and containers; system prune removes stopped containers and unused images, as docker', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const layer = async (marker: string) => {
      const file = path.join(scratchDir(e.user, 'img-'), `${marker}.tar.gz`);
      fs.writeFileSync(file, rootOnlyImage(marker).layers[0]);
      fs.chownSync(file, e.user.uid, e.user.gid);
      return file;
    };
    const used = await importImage(e, 'fmt/used:1');
    await ok(e, ['tag', 'fmt/used:1', 'fmt/spare:1']);
    // Importing another image under the same name leaves the first without one: dangling.
    const dangling = (await ok(e, ['import', await layer('dangling'), 'fmt/other:1'])).trim();
    const lonely = (await ok(e, ['import', await layer('lonely'), 'fmt/other:1'])).trim();
    expect(await ok(e, ['images', '--format', '{{if eq .Repository "<none>"}}{{.ID}}{{end}}'])).toContain(dangling.slice(7, 19));

    await runDetached(e, ['--name', 'fmt-running'], ['sleep', '2173']);
    const stopped = (await ok(e, ['run', '-d', '--name', 'fmt-stopped', 'fmt/used:1', 'true'])).trim();
    await ok(e, ['wait', 'fmt-stopped']);

    const df = await ok(e, ['system', 'df']);
    expect(df).toMatch(/^TYPE {3,}TOTAL {3,}ACTIVE {3,}SIZE {3,}RECLAIMABLE\n/);
    expect(df).toMatch(/^Images {3,}3 {3,}1 /m);
    expect(df).toMatch(/^Containers {3,}2 {3,}1 /m);
    const rows = JSON.parse(await ok(e, ['system', 'df', '--format', 'json'])) as { Type: string; TotalCount: number; Active: number; Size: number; Reclaimable: number }[];
    const images = rows.find((r) => r.Type === 'Images')!;
    expect(images).toMatchObject({ TotalCount: 3, Active: 1 });
    expect(images.Size).toBeGreaterThan(0);
    expect(images.Reclaimable).toBeGreaterThan(0);
    expect(images.Reclaimable).toBeLessThan(images.Size);
    expect(await ok(e, ['system', 'df', '--format', '{{.Type}}:{{.TotalCount}}'])).toBe('Images:3\nContainers:2\n');

    // Without -a: stopped containers and images without a name go; named images stay.
    const prune = await ok(e, ['system', 'prune', '-f']);
    expect(prune).toContain(`Deleted Containers:\n${stopped}\n`);
    expect(prune).toContain(`Deleted Images:\ndeleted: ${dangling}\n`);
    expect(prune).toMatch(/\nTotal reclaimed space: \d/);
    expect(await ok(e, ['ps', '-a', '--format', '{{.Names}}'])).toBe('fmt-running\n');
    expect((await ok(e, ['images', '-q'])).trim().split('\n').sort()).toEqual([used.slice(7, 19), lonely.slice(7, 19)].sort());

    // With -a: every image no remaining container uses; fmt-keeper's image stays.
    await ok(e, ['run', '-d', '--name', 'fmt-keeper', 'fmt/used:1', 'sleep', '2174']);
    const all = await ok(e, ['system', 'prune', '-a', '-f']);
    expect(all).toContain(`Deleted Images:\ndeleted: ${lonely}\n`);
    expect(all).not.toContain(used);
    expect(await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('fmt/spare:1\nfmt/used:1\n');

    await ok(e, ['rm', '-f', 'fmt-running', 'fmt-keeper']);
    const last = await ok(e, ['system', 'prune', '--all']);
    expect(last).toContain(`deleted: ${used}`);
    expect(await ok(e, ['images', '-q'])).toBe('');
    expect(JSON.parse(await ok(e, ['system', 'df', '--format', 'json']))[0]).toMatchObject({ TotalCount: 0, Size: 0 });
  });

  it("container prune (sharing system prune's code) removes stopped containers only", async () => {
    const e = env();
    await runDetached(e, ['--name', 'fmt-up'], ['sleep', '2175']);
    const done = await runDetached(e, ['--name', 'fmt-down'], ['true']);
    await ok(e, ['wait', 'fmt-down']);
    expect(await ok(e, ['container', 'prune', '-f'])).toBe(`Deleted Containers:\n${done}\n\nTotal: 1\n`);
    expect(await ok(e, ['container', 'ls', '-a', '--format', '{{.Names}} {{.State}}'])).toBe('fmt-up running\n');
    await ok(e, ['rm', '-f', 'fmt-up']);
  });
});
