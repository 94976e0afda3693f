/**
 * Volumes end to end as the unprivileged test users: `nook volume`'s
 * commands with docker's columns, messages and exit codes; named volumes
 * (made on first use, kept between runs, refused removal while a container
 * uses them); anonymous volumes (-v /path, --mount without a source, the
 * image's VOLUMEs) removed by rm -v, --rm and container-less runs; docker's
 * copy-up of the image's content into a new volume with its owners; --mount
 * variants and errors; :U; and an image whose VOLUME path (or a link under
 * it) points at host paths, which copy-up must never read or write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, type Env } from '../helpers/containers';
import { buildOk, importBase, makeContext } from '../helpers/build';
import { scratchDir, writeFile } from '../helpers/files';
import { rootfs, show, startNook } from '../helpers/nook';
import { isRoot, need } from '../helpers/users';

const R = () => ['--rootfs', rootfs()];

async function fails(e: Env, args: string[], code: number, message: RegExp): Promise<void> {
  const r = await e.nook(args);
  expect(r.code, show(r)).toBe(code);
  expect(r.stderr).toMatch(message);
}

const names = async (e: Env) => (await ok(e, ['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();

/** Removes the named containers however the test ends. */
function cleanup(e: Env, ...containers: string[]): void {
  onTestFinished(async () => {
    for (const c of containers) await e.nook(['rm', '-f', '-v', c]);
  });
}

describe('nook volume', () => {
  it('create, ls, inspect, rm with docker\'s output and errors', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    expect((await ok(e, ['volume', 'create', '--label', 'team=a', '--label', 'x', 'data'])).trim()).toBe('data');
    const anon = (await ok(e, ['volume', 'create'])).trim();
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    // Creating an existing one is no error (docker's).
    expect((await ok(e, ['volume', 'create', 'data'])).trim()).toBe('data');

    const table = (await ok(e, ['volume', 'ls'])).split('\n');
    expect(table[0]).toMatch(/^DRIVER\s+VOLUME NAME$/);
    expect(table.slice(1).filter(Boolean).sort()).toEqual([`local     ${anon}`, 'local     data'].sort());
    expect(await names(e)).toEqual([anon, 'data'].sort());
    expect((await ok(e, ['volume', 'ls', '--filter', 'name=dat', '-q'])).trim()).toBe('data');
    expect((await ok(e, ['volume', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}} {{.Driver}} {{.Labels}}'])).trim()).toBe('data local team=a,x=');
    expect((await ok(e, ['volume', 'ls', '--filter', 'label=team=b', '-q'])).trim()).toBe('');
    expect((await ok(e, ['volume', 'ls', '--filter', 'dangling=true', '-q'])).trim().split('\n').sort()).toEqual([anon, 'data'].sort());
    expect((await ok(e, ['volume', 'ls', '--format', 'table {{.Name}}'])).split('\n')[0]).toBe('VOLUME NAME');

    const [v] = JSON.parse(await ok(e, ['volume', 'inspect', 'data']));
    expect(Object.keys(v).sort()).toEqual(['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    expect(v).toMatchObject({ Name: 'data', Driver: 'local', Scope: 'local', Labels: { team: 'a', x: '' }, Mountpoint: path.join(e.store, 'volumes', 'data', '_data') });
    expect(new Date(v.CreatedAt).getTime()).toBeGreaterThan(Date.now() - 120_000);
    expect(fs.statSync(v.Mountpoint).isDirectory()).toBe(true);
    expect((await ok(e, ['volume', 'inspect', '--format', '{{.Driver}}:{{.Name}}', 'data'])).trim()).toBe('local:data');

    await fails(e, ['volume', 'inspect', 'nosuch'], 1, /get nosuch: no such volume/);
    await fails(e, ['volume', 'rm', 'nosuch'], 1, /no such volume/);
    await fails(e, ['volume', 'create', 'a/b'], 1, /includes invalid characters for a local volume name/);
    await fails(e, ['volume', 'create', '-d', 'nfs', 'x1'], 1, /plugin "nfs" not found/);
    // docker's "docker volume" with an unknown subcommand: an argument error, exit 1.
    await fails(e, ['volume', 'frob'], 1, /unknown command: nook volume frob/);
    expect((await e.nook(['volume', 'rm', '-f', 'nosuch'])).code).toBe(0);
    expect((await ok(e, ['volume', 'rm', 'data', anon])).split('\n').filter(Boolean)).toEqual(['data', anon]);
    expect(await names(e)).toEqual([]);
    expect(fs.existsSync(path.join(e.store, 'volumes', 'data'))).toBe(false);
  });

  it('a named volume keeps data between runs; rm refuses it while a container uses it', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    cleanup(e, 'user1', 'runner');
    await ok(e, ['run', ...R(), '-v', 'keep:/mnt', '--', 'sh', '-c', 'echo hello > /mnt/f && chown 1:1 /mnt/f']);
    expect(await names(e)).toEqual(['keep']);
    expect((await ok(e, ['run', ...R(), '-v', 'keep:/mnt:ro', '--', 'sh', '-c', 'cat /mnt/f; stat -c %u:%g /mnt/f; touch /mnt/g 2>/dev/null || echo ro'])).split('\n')).toEqual(['hello', '1:1', 'ro', '']);

    await ok(e, ['run', '--name', 'user1', ...R(), '-v', 'keep:/mnt', '--', 'true']);
    await fails(e, ['volume', 'rm', 'keep'], 1, /remove keep: volume is in use - \[[0-9a-f]{64}\]/);
    expect((await ok(e, ['volume', 'ls', '--filter', 'dangling=true', '-q'])).trim()).toBe('');
    expect((await ok(e, ['volume', 'prune', '-a', '-f'])).trim()).toBe('Total reclaimed space: 0B');
    // A running container too.
    const id = (await ok(e, ['run', '-d', '--name', 'runner', ...R(), '-v', 'keep:/mnt', '--', 'sleep', '60'])).trim();
    await ok(e, ['rm', 'user1']);
    await fails(e, ['volume', 'rm', 'keep'], 1, new RegExp(`volume is in use - \\[${id}\\]`));
    await ok(e, ['rm', '-f', 'runner']);
    // A run with no container record holds its volumes too, until it ends.
    const gate = scratchDir(e.user, 'gate-');
    const plain = startNook(['run', ...R(), '-v', 'keep:/mnt', '-v', `${gate}:/srv`, '--', 'sh', '-c', 'echo ready; while [ ! -e /srv/go ]; do sleep 0.05; done'], e.opts);
    onTestFinished(() => plain.kill('SIGKILL'));
    await plain.waitForStdout('ready');
    await fails(e, ['volume', 'rm', 'keep'], 1, /remove keep: volume is in use/);
    writeFile(path.join(gate, 'go'), '', e.user);
    expect((await plain.exited).code).toBe(0);
    // start mounts the same volume again.
    await ok(e, ['run', '--name', 'again', ...R(), '-v', 'keep:/mnt', '--', 'sh', '-c', 'echo run >> /mnt/log']);
    onTestFinished(async () => void (await e.nook(['rm', '-f', 'again'])));
    await ok(e, ['start', 'again']);
    expect((await ok(e, ['wait', 'again'])).trim()).toBe('0');
    await ok(e, ['rm', 'again']);
    expect((await ok(e, ['run', ...R(), '-v', 'keep:/mnt', '--', 'cat', '/mnt/log'])).split('\n')).toEqual(['run', 'run', '']);
    // rm -v removes anonymous volumes only: the named one stays.
    expect(await names(e)).toEqual(['keep']);
    expect((await ok(e, ['volume', 'rm', 'keep'])).trim()).toBe('keep');
  });

  it('anonymous volumes: removed by rm -v, --rm and container-less runs; prune takes dangling ones', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    cleanup(e, 'anon1', 'anon2');
    await ok(e, ['run', '--name', 'anon1', ...R(), '-v', '/mnt', '--mount', 'type=volume,target=/srv', '--', 'sh', '-c', 'echo x > /mnt/f && echo y > /srv/f']);
    const made = await names(e);
    expect(made).toHaveLength(2);
    for (const n of made) expect(n).toMatch(/^[0-9a-f]{64}$/);
    const [c] = JSON.parse(await ok(e, ['inspect', 'anon1']));
    expect(c.Mounts.map((m: { Destination: string }) => m.Destination)).toEqual(expect.arrayContaining(['/mnt', '/srv']));
    await ok(e, ['rm', '-v', 'anon1']);
    expect(await names(e)).toEqual([]);

    await ok(e, ['run', '--rm', '--name', 'anon-rm', ...R(), '-v', '/mnt', '--', 'true']);
    expect(await names(e)).toEqual([]);
    await ok(e, ['run', ...R(), '-v', '/mnt', '--', 'sh', '-c', 'echo > /mnt/f']);
    expect(await names(e)).toEqual([]);

    // Without -v the anonymous volume stays, dangling: prune removes it, not a named one (only -a does).
    await ok(e, ['run', '--name', 'anon2', ...R(), '-v', '/mnt', '-v', 'named:/srv', '--', 'sh', '-c', 'head -c 5000 /dev/zero > /mnt/f']);
    const anon = (await names(e)).find((n) => n !== 'named')!;
    await ok(e, ['rm', 'anon2']);
    expect((await ok(e, ['volume', 'ls', '--filter', 'dangling=true', '-q'])).trim().split('\n').sort()).toEqual([anon, 'named'].sort());
    expect((await ok(e, ['volume', 'prune', '-f'])).split('\n')).toEqual(['Deleted Volumes:', anon, '', 'Total reclaimed space: 5kB', '']);
    expect(await names(e)).toEqual(['named']);
    expect((await ok(e, ['volume', 'prune', '-a', '-f'])).split('\n').slice(0, 2)).toEqual(['Deleted Volumes:', 'named']);
    expect(await names(e)).toEqual([]);
  });

  it('--mount variants and docker\'s errors (exit 125 from run)', async (ctx) => {
    const u = need(ctx, 'sub');
    const e = env(u);
    const host = scratchDir(u, 'bind-');
    writeFile(path.join(host, 'in'), 'from host\n', u);
    const out = await ok(e, ['run', ...R(),
      '--mount', `type=bind,source=${host},target=/mnt,readonly`,
      '--mount', 'type=volume,src=mv,dst=/srv,volume-label=k=v',
      '--mount', 'type=tmpfs,destination=/tmp,tmpfs-size=1m,tmpfs-mode=1770',
      '-v', `${host}:/home:rw,z`,
      '--', 'sh', '-c', 'cat /mnt/in; touch /mnt/x 2>/dev/null || echo ro; echo m > /srv/f && cat /srv/f; stat -c %a /tmp; df -k /tmp | tail -1 | awk "{print \\$2}"; touch /home/w && echo rw']);
    expect(out.split('\n')).toEqual(['from host', 'ro', 'm', '1770', '1024', 'rw', '']);
    expect(fs.existsSync(path.join(host, 'w'))).toBe(true);
    expect(JSON.parse(await ok(e, ['volume', 'inspect', 'mv']))[0].Labels).toEqual({ k: 'v' });

    const run = (...flags: string[]) => ['run', ...R(), ...flags, '--', 'true'];
    await fails(e, run('--mount', 'type=bind,src=/tmp,dst=/x,foo=bar'), 125, /invalid argument "type=bind,src=\/tmp,dst=\/x,foo=bar" for "--mount" flag: unexpected key 'foo' in 'foo=bar'/);
    await fails(e, run('--mount', 'type=volume,src=v1'), 125, /target is required/);
    await fails(e, run('--mount', 'type=nfs,target=/x'), 125, /unknown mount type "nfs"/);
    await fails(e, run('--mount', `type=bind,src=${host}/nope,dst=/x`), 125, /bind source path does not exist: .*\/nope/);
    await fails(e, run('--mount', 'type=bind,dst=/x'), 125, /invalid mount config for type "bind": field Source must not be empty/);
    await fails(e, run('--mount', 'type=tmpfs,src=a,dst=/x'), 125, /field Source must not be specified/);
    await fails(e, run('--mount', 'type=volume,target=/x,tmpfs-size=1m'), 125, /cannot mix 'tmpfs-\*' options with mount type 'volume'/);
    await fails(e, run('--mount', 'type=volume,target=/x,readonly=maybe'), 125, /invalid value for readonly: maybe/);
    await fails(e, run('--mount', 'type=volume,target=/x,volume-opt=type=nfs'), 125, /volume-opt type=nfs is not supported/);
    await fails(e, run('-v', 'vol:relative'), 125, /invalid mount path: 'relative' mount path must be absolute/);
    await fails(e, run('-v', 'bad$name:/x'), 125, /"bad\$name" includes invalid characters for a local volume name/);
    await fails(e, run('-v', 'vol:/x:rx'), 125, /invalid mode: rx/);
    await fails(e, run('-v', 'a1:/x', '-v', 'a2:/x'), 125, /Duplicate mount point: \/x/);
    // None of the refused runs made a volume.
    expect(await names(e)).toEqual(['mv']);
  });

  it(':U gives a volume to the container\'s user, inside the user namespace', async (ctx) => {
    const u = need(ctx, 'sub');
    const e = env(u);
    await ok(e, ['run', ...R(), '-v', 'uv:/mnt', '--', 'sh', '-c', 'mkdir /mnt/d && echo a > /mnt/d/f']);
    const out = await ok(e, ['run', ...R(), '-u', '1000:1001', '-v', 'uv:/mnt:U', '--', 'sh', '-c', 'stat -c %u:%g /mnt /mnt/d /mnt/d/f; echo b > /mnt/d/g && echo wrote']);
    expect(out.split('\n')).toEqual(['1000:1001', '1000:1001', '1000:1001', 'wrote', '']);
    // On the host: the subordinate ids of inside 1000 and 1001.
    const data = path.join(e.store, 'volumes', 'uv', '_data');
    if (isRoot) expect(fs.statSync(path.join(data, 'd', 'f')).uid).toBe(u.subUids!.start + 999);
    // A bind source too; a link in it is chowned itself, never followed.
    const host = scratchDir(u, 'ubind-');
    writeFile(path.join(host, 'f'), 'x', u);
    const outside = writeFile(path.join(scratchDir(u, 'outside-'), 'o'), 'o', u);
    fs.symlinkSync(outside, path.join(host, 'link'));
    if (isRoot) fs.lchownSync(path.join(host, 'link'), u.uid, u.gid);
    expect((await ok(e, ['run', ...R(), '-u', '1000:1001', '-v', `${host}:/srv:U`, '--', 'stat', '-c', '%u:%g', '/srv', '/srv/f'])).split('\n')).toEqual(['1000:1001', '1000:1001', '']);
    expect(fs.statSync(outside).uid).toBe(u.uid);
  });
});

describe('image VOLUMEs and copy-up', () => {
  it('a new volume gets the image\'s content with its owners and modes; nocopy and existing volumes do not', async (ctx) => {
    const u = need(ctx, 'sub');
    const e = env(u);
    cleanup(e, 'iv');
    await importBase(e);
    const context = makeContext(e, {
      Dockerfile: 'FROM base:1\nRUN mkdir -p /data/sub /cfg && echo seed > /data/sub/f && chown -R 1000:1001 /data && chmod 750 /data && echo c > /cfg/c\nVOLUME /data\n',
    });
    await buildOk(e, context, ['-t', 'vol:1']);
    const show = 'stat -c "%u:%g %a %n" /data /data/sub/f; cat /data/sub/f';
    const out = await ok(e, ['run', '--name', 'iv', 'vol:1', 'sh', '-c', show]);
    expect(out.split('\n')).toEqual(['1000:1001 750 /data', '1000:1001 644 /data/sub/f', 'seed', '']);
    const [anon] = await names(e);
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    const [c] = JSON.parse(await ok(e, ['inspect', 'iv']));
    expect(c.Mounts.find((m: { Destination: string }) => m.Destination === '/data')).toMatchObject({ Type: 'volume', Name: anon, Driver: 'local', RW: true, Source: path.join(e.store, 'volumes', anon, '_data') });
    await ok(e, ['rm', '-v', 'iv']);
    expect(await names(e)).toEqual([]);

    // A named volume on a path of the image: filled once, while empty.
    expect((await ok(e, ['run', '-v', 'cfg:/cfg', 'vol:1', 'sh', '-c', 'cat /cfg/c; echo mine > /cfg/c'])).trim()).toBe('c');
    expect((await ok(e, ['run', '-v', 'cfg:/cfg', 'vol:1', 'cat', '/cfg/c'])).trim()).toBe('mine');
    // nocopy: left empty; -v over the image's VOLUME replaces its anonymous volume.
    expect((await ok(e, ['run', '--mount', 'type=volume,src=empty,dst=/data,volume-nocopy', 'vol:1', 'ls', '-A', '/data'])).trim()).toBe('');
    expect((await names(e)).sort()).toEqual(['cfg', 'empty']);
    // A plain run's anonymous volume goes with it.
    await ok(e, ['run', 'vol:1', 'true']);
    expect((await names(e)).sort()).toEqual(['cfg', 'empty']);
  });

  it('an image whose VOLUME path, or a link under it, points at host paths: copy-up neither reads nor writes them', async (ctx) => {
    const u = need(ctx, 'sub');
    const e = env(u);
    await importBase(e);
    const victim = scratchDir(u, 'victim-');
    writeFile(path.join(victim, 'secret'), 'host secret\n', u);
    const before = fs.readdirSync(victim).sort();
    const context = makeContext(e, {
      Dockerfile: [
        'FROM base:1',
        `RUN mkdir -p /data && ln -s ${victim} /data/link && ln -s ${victim} /away && ln -s ../../../../../..${victim} /up && ln -s ${victim}/secret /data/file`,
        'VOLUME /data /away /up',
        '',
      ].join('\n'),
    });
    await buildOk(e, context, ['-t', 'evil:1']);
    const out = await ok(e, ['run', 'evil:1', 'sh', '-c', 'ls -A /away /up; readlink /data/link; readlink /data/file; cat /data/file 2>/dev/null || echo no-secret; echo planted > /away/p']);
    expect(out).not.toContain('host secret');
    expect(out).toContain('no-secret');
    expect(out).toContain(victim);
    // The host directory is as it was: nothing read into a volume, nothing written out of one.
    expect(fs.readdirSync(victim).sort()).toEqual(before);
    expect(fs.readFileSync(path.join(victim, 'secret'), 'utf8')).toBe('host secret\n');
    await ok(e, ['run', '--name', 'keepv', 'evil:1', 'true']);
    onTestFinished(async () => void (await e.nook(['rm', '-f', '-v', 'keepv'])));
    const [c] = JSON.parse(await ok(e, ['inspect', 'keepv']));
    const source = (dest: string) => c.Mounts.find((m: { Destination: string }) => m.Destination === dest).Source as string;
    // /data has its two links, as links; /away and /up are empty volumes.
    expect(fs.readdirSync(source('/data')).sort()).toEqual(['file', 'link']);
    for (const f of ['file', 'link']) expect(fs.lstatSync(path.join(source('/data'), f)).isSymbolicLink()).toBe(true);
    expect(fs.readdirSync(source('/away'))).toEqual([]);
    expect(fs.readdirSync(source('/up'))).toEqual([]);
    expect(await names(e)).toHaveLength(3);
  });
});

describe('without subordinate ids', () => {
  it('named and anonymous volumes and copy-up work with only your own id mapped', async (ctx) => {
    const e = env(need(ctx, 'nosub'));
    cleanup(e, 'ns1');
    await ok(e, ['run', ...R(), '-v', 'mine:/mnt', '--', 'sh', '-c', 'echo kept > /mnt/f']);
    expect((await ok(e, ['run', ...R(), '-v', 'mine:/mnt', '--', 'cat', '/mnt/f'])).trim()).toBe('kept');
    await importBase(e);
    await buildOk(e, makeContext(e, { Dockerfile: 'FROM base:1\nRUN mkdir /data && echo seed > /data/f && chmod 700 /data && mkdir -m 1777 /empty\nVOLUME /data /empty\n' }), ['-t', 'vol:1']);
    expect((await ok(e, ['run', '--name', 'ns1', 'vol:1', 'sh', '-c', 'stat -c "%u %a" /data /empty; cat /data/f; ls -A /empty'])).split('\n')).toEqual(['0 700', '0 1777', 'seed', '']);
    expect((await names(e)).filter((n) => n !== 'mine')).toHaveLength(2);
    await ok(e, ['rm', '-v', 'ns1']);
    expect(await names(e)).toEqual(['mine']);
  });
});
