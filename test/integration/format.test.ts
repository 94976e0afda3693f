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
    expect(bad.code, show(bad)).toBe(125);
    expect(bad.stderr).toMatch(/no field "Nmes"/);
    expect(bad.stderr).toMatch(/hint: .*Names/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const syntax = await e.nook(['ps', '--format', '{{if .Names}}']);
    expect(syntax.code).toBe(125);
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
    expect(bad.code).toBe(125);
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
  });

  it('version --format {{.Client.Version}}; plain version unchanged', async () => {
    const e = env();
    const version = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).version as string;
    expect(await ok(e, ['version', '--format', '{{.Client.Version}}'])).toBe(`${version}\n`);
    expect(await ok(e, ['version'])).toBe(`nook version ${version}\n`);
    expect(await ok(e, ['--version'])).toBe(`nook version ${version}\n`);
    expect(JSON.parse(await ok(e, ['version', '--format', 'json']))).toMatchObject({ Client: { Version: version, Os: 'linux' } });
  });
});
