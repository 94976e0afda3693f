/**
 * The flags of the listing and container-management commands, as docker
 * documents them (podman's spellings where nook accepts them too), through
 * build/nook as the unprivileged test users: ps --filter/-n/-l/-s/--noheading
 * (newest first), images -a/--filter/--digests/--no-trunc/REPOSITORY,
 * rm's refusal of a running container (docker's words, exit 1), rm -f -t,
 * --all for stop, kill, rm and rmi, restart, and save -m/--uncompressed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, runDetached, type Env } from '../helpers/containers';
import { importBase, build, makeContext } from '../helpers/build';
import { scratchDir } from '../helpers/files';
import { rootfs, show } from '../helpers/nook';
import { waitUntil } from '../helpers/procs';
import { need, type TestUser } from '../helpers/users';

/** A test's own state and store; every container it made is removed however it ends. */
function testEnv(user?: TestUser): Env {
  const e = env(user);
  onTestFinished(async () => {
    await e.nook(['rm', '-f', '--all']);
  });
  return e;
}

const lines = (out: string) => out.split('\n').filter(Boolean);

/** docker's "4.1kB" back to bytes (three significant digits). */
function bytes(human: string): number {
  const m = /^([\d.]+)(B|kB|MB|GB)$/.exec(human);
  expect(m, human).not.toBeNull();
  return Number(m![1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m![2] as 'B'];
}

describe('ps', () => {
  it('lists newest first; -n, -l, --noheading, -q and --no-trunc', async () => {
    const e = testEnv();
    const first = await runDetached(e, ['--name', 'first'], ['sleep', '3101']);
    const second = await runDetached(e, ['--name', 'second'], ['true']);
    const third = await runDetached(e, ['--name', 'third'], ['sh', '-c', 'exit 3']);
    expect(await ok(e, ['wait', 'second', 'third'])).toBe('0\n3\n');

    expect(lines(await ok(e, ['ps', '-a', '--format', '{{.Names}}']))).toEqual(['third', 'second', 'first']);
    expect(lines(await ok(e, ['ps', '--format', '{{.Names}}']))).toEqual(['first']);
    // -n and -l look at every state, as docker's do.
    expect(lines(await ok(e, ['ps', '-n', '2', '--format', '{{.Names}}']))).toEqual(['third', 'second']);
    expect(lines(await ok(e, ['ps', '--last=1', '--format', '{{.Names}}']))).toEqual(['third']);
    expect(lines(await ok(e, ['ps', '-l', '-q']))).toEqual([third.slice(0, 12)]);
    expect(lines(await ok(e, ['ps', '-aq', '--no-trunc']))).toEqual([third, second, first]);

    const table = lines(await ok(e, ['ps', '-a']));
    expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(table.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([third, second, first].map((id) => id.slice(0, 12)));
    const bare = lines(await ok(e, ['ps', '-a', '--noheading']));
    expect(bare.map((l) => l.split(/\s+/)[0])).toEqual([third, second, first].map((id) => id.slice(0, 12)));
    expect(lines(await ok(e, ['ps', '--noheading', '--format', 'table {{.Names}}\\t{{.Status}}'])).map((l) => l.split(/\s+/)[0])).toEqual(['first']);

    const badN = await e.nook(['ps', '-n', 'x']);
    expect(badN.code, show(badN)).toBe(125);
  });

  it('--filter: name, id, status, exited, ancestor, before, since, volume, label; same key OR, different keys AND', async () => {
    const e = testEnv();
    await importBase(e);
    const web = (await ok(e, ['run', '-d', '--name', 'web', 'base:1', 'sleep', '3102'])).trim();
    const data = scratchDir(e.user, 'vol-');
    await runDetached(e, ['--name', 'ok0', '-v', `${data}:/mnt`], ['true']);
    const bad3 = await runDetached(e, ['--name', 'bad3'], ['sh', '-c', 'exit 3']);
    await ok(e, ['wait', 'ok0', 'bad3']);
    const names = async (...args: string[]) => lines(await ok(e, ['ps', ...args, '--format', '{{.Names}}']));

    // name and id: docker's regular expressions, found anywhere in "/NAME" or the id.
    expect(await names('-a', '--filter', 'name=ok')).toEqual(['ok0']);
    expect(await names('-a', '-f', 'name=^/b')).toEqual(['bad3']);
    expect(await names('-a', '-f', 'name=ok', '-f', 'name=web')).toEqual(['ok0', 'web']);
    expect(await names('-a', '-f', `id=${bad3.slice(0, 6)}`)).toEqual(['bad3']);
    // status looks at every container even without -a; exited only with -a (docker: "only useful with --all").
    expect(await names('-f', 'status=exited')).toEqual(['bad3', 'ok0']);
    expect(await names('-f', 'status=exited', '-f', 'status=running')).toEqual(['bad3', 'ok0', 'web']);
    expect(await names('-a', '-f', 'exited=3')).toEqual(['bad3']);
    expect(await names('-a', '-f', 'exited=0')).toEqual(['ok0']);
    expect(await names('-f', 'exited=3')).toEqual([]);
    expect(await names('-a', '-f', 'name=ok', '-f', 'status=running')).toEqual([]);
    // ancestor: by name or by image id.
    const imageId = (await ok(e, ['images', '-q', '--no-trunc', 'base:1'])).trim();
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await names('-a', '-f', 'ancestor=base:1')).toEqual(['web']);
    expect(await names('-a', '-f', `ancestor=${imageId.slice(7, 19)}`)).toEqual(['web']);
    // before/since: created before or after the container named.
    expect(await names('-a', '-f', 'before=bad3')).toEqual(['ok0', 'web']);
    expect(await names('-a', '-f', `since=${web.slice(0, 12)}`)).toEqual(['bad3', 'ok0']);
    expect(lines(await ok(e, ['ps', '-aq', '-f', 'exited=3']))).toEqual([bad3.slice(0, 12)]);
    // volume: a mount's source or destination.
    expect(await names('-a', '-f', 'volume=/mnt')).toEqual(['ok0']);
    expect(await names('-a', '-f', `volume=${data}`)).toEqual(['ok0']);
    expect(await names('-a', '-f', 'volume=/srv')).toEqual([]);

    // label: containers get labels from run --label when nook has it; none has them here otherwise.
    expect(await names('-a', '-f', 'label=tier')).toEqual([]);
    const labelled = await e.nook(['run', '-d', '--name', 'lab', '--label', 'tier=front', '--rootfs', rootfs(), '--', 'true']);
    if (labelled.code === 0) {
      expect(await names('-a', '-f', 'label=tier')).toEqual(['lab']);
      expect(await names('-a', '-f', 'label=tier=front')).toEqual(['lab']);
      expect(await names('-a', '-f', 'label=tier=back')).toEqual([]);
    } else expect(labelled.stderr).toMatch(/unknown flag: --label/);

    // docker's errors for filters: exit 1 for a bad key or value, 125 for a malformed flag.
    const key = await e.nook(['ps', '-f', 'colour=red']);
    expect(key.code, show(key)).toBe(1);
    expect(key.stderr).toMatch(/invalid filter 'colour'/);
    const status = await e.nook(['ps', '-f', 'status=sleeping']);
    expect(status.code, show(status)).toBe(1);
    expect(status.stderr).toMatch(/invalid filter 'status=sleeping'/);
    expect((await e.nook(['ps', '-f', 'nameonly'])).code).toBe(125);
  });

  it('--filter publish=, expose= (container ports, ranges, tcp by default) and health=none', async () => {
    const e = testEnv();
    await importBase(e);
    const r = await build(e, makeContext(e, { Dockerfile: 'FROM base:1\nEXPOSE 9000 53/udp\n' }), ['-t', 'exposing:1'], { env: { SOURCE_DATE_EPOCH: '1800000000' } });
    expect(r.code, show(r)).toBe(0);
    // created, not started: no host port is bound, but the container's ports are its own.
    await ok(e, ['create', '--name', 'pub', '-p', '127.0.0.1:18081:80', '-p', '127.0.0.1:18082:81/udp', 'exposing:1', 'true']);
    await ok(e, ['create', '--name', 'plain', 'base:1', 'true']);
    const names = async (...args: string[]) => lines(await ok(e, ['ps', '-a', ...args, '--format', '{{.Names}}']));

    expect(await names('-f', 'publish=80')).toEqual(['pub']);
    expect(await names('-f', 'publish=80/tcp')).toEqual(['pub']);
    expect(await names('-f', 'publish=80/udp')).toEqual([]);
    expect(await names('-f', 'publish=81/udp')).toEqual(['pub']);
    expect(await names('-f', 'publish=75-85/udp')).toEqual(['pub']);
    expect(await names('-f', 'publish=18081')).toEqual([]);
    expect(await names('-f', 'publish=9000')).toEqual([]);
    expect(await names('-f', 'expose=9000')).toEqual(['pub']);
    expect(await names('-f', 'expose=53/udp')).toEqual(['pub']);
    expect(await names('-f', 'expose=80')).toEqual(['pub']);
    expect(await names('-f', 'expose=8000-8999')).toEqual([]);
    expect(await names('-f', 'health=none')).toEqual(['plain', 'pub']);
    expect(await names('-f', 'health=healthy')).toEqual([]);
    for (const bad of ['publish=8080:80', 'expose=abc', 'health=sick']) {
      const b = await e.nook(['ps', '-f', bad]);
      expect(b.code, show(b)).toBe(1);
    }
  });

  it.for(['sub', 'nosub'] as const)('-s adds SIZE: the writable layer, and "virtual" with the image (user %s)', async (kind, ctx) => {
    const e = testEnv(need(ctx, kind));
    await importBase(e);
    // 40000 bytes into the writable layer, then a sign in a bind-mounted directory (not in the layer).
    const out = scratchDir(e.user, 'sign-');
    await ok(e, ['run', '-d', '--name', 'writer', '-v', `${out}:/out`, 'base:1', 'sh', '-c', 'head -c 40000 /dev/zero > /written && touch /out/done && exec sleep 3103']);
    await waitUntil(() => fs.existsSync(path.join(out, 'done')), 'the file written', 15_000);
    await runDetached(e, ['--name', 'plain'], ['sleep', '3104']);

    const table = lines(await ok(e, ['ps', '-s']));
    expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\s+SIZE$/);
    const sizeOf = (name: string) => /(\S+) \(virtual (\S+)\)$/.exec(table.find((l) => l.includes(` ${name} `))!)!;
    const [, rw, virtual] = sizeOf('writer');
    expect(bytes(rw)).toBeGreaterThanOrEqual(40_000);
    expect(bytes(rw)).toBeLessThan(100_000);
    // The image (the busybox rootfs) is larger than what the container wrote.
    expect(bytes(virtual)).toBeGreaterThan(bytes(rw) + 100_000);
    // A --rootfs container has no layer of its own.
    expect(sizeOf('plain').slice(1)).toEqual(['0B', '0B']);
    expect(lines(await ok(e, ['ps', '-s', '-f', 'name=writer', '--format', '{{.Size}}']))[0]).toBe(`${rw} (virtual ${virtual})`);
  });
});

describe('images', () => {
  it('newest first; --filter dangling, reference, before, since, until, label; REPOSITORY; --digests; -a; --no-trunc', async () => {
    const e = testEnv();
    await importBase(e); // created 2020-09-13
    const tar = path.join(scratchDir(e.user, 'tar-'), 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs(), '--numeric-owner', '-cf', tar, '.']);
    fs.chmodSync(tar, 0o644);
    const importAt = async (epoch: number, name: string) => {
      const r = await e.nook(['import', tar, name], { env: { ...e.opts.env, SOURCE_DATE_EPOCH: String(epoch) } });
      expect(r.code, show(r)).toBe(0);
      return r.stdout.trim();
    };
    // app:1 imported twice: the first image loses its name (docker's dangling image).
    const old = await importAt(1_700_000_000, 'app:1');
    const app = await importAt(1_700_000_100, 'app:1');
    await ok(e, ['tag', 'app:1', 'app:extra']);
    const r = await build(e, makeContext(e, { Dockerfile: 'FROM base:1\nLABEL tier=front\n' }), ['-t', 'labelled:1'], { env: { SOURCE_DATE_EPOCH: '1800000000' } });
    expect(r.code, show(r)).toBe(0);

    const rows = async (...args: string[]) => lines(await ok(e, ['images', '--format', '{{.Repository}}:{{.Tag}}', ...args]));
    expect(await rows()).toEqual(['labelled:1', 'app:1', 'app:extra', '<none>:<none>', 'base:1']);
    expect(await rows('-a')).toEqual(await rows());
    expect(await rows('--filter', 'dangling=true')).toEqual(['<none>:<none>']);
    expect(lines(await ok(e, ['images', '-q', '--no-trunc', '-f', 'dangling=true']))).toEqual([old]);
    expect(await rows('-f', 'dangling=false')).toEqual(['labelled:1', 'app:1', 'app:extra', 'base:1']);
    expect(await rows('-f', 'reference=app')).toEqual(['app:1', 'app:extra']);
    expect(await rows('-f', 'reference=app:e*')).toEqual(['app:extra']);
    expect(await rows('-f', 'reference=app:e*', '-f', 'reference=base')).toEqual(['app:extra', 'base:1']);
    expect(await rows('app')).toEqual(['app:1', 'app:extra']);
    expect(await rows('-f', 'before=app:1')).toEqual(['<none>:<none>', 'base:1']);
    expect(await rows('-f', 'since=app:1')).toEqual(['labelled:1']);
    expect(await rows('-f', 'label=tier=front')).toEqual(['labelled:1']);
    expect(await rows('-f', 'until=2021-01-01T00:00:00Z')).toEqual(['base:1']);
    expect(await rows('-f', 'until=1700000050')).toEqual(['<none>:<none>', 'base:1']);
    expect(await rows('-f', 'label=tier', '-f', 'dangling=true')).toEqual([]);

    const digests = lines(await ok(e, ['images', 'app', '--digests']));
    expect(digests[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    // Imported images come from no registry: no digest, as docker shows it.
    expect(digests[1]).toMatch(new RegExp(`^app\\s+1\\s+<none>\\s+${app.slice(7, 19)}\\s`));
    const full = lines(await ok(e, ['images', '--no-trunc', '--noheading', 'base']));
    expect(full).toHaveLength(1);
    expect(full[0]).toMatch(/^base\s+1\s+sha256:[0-9a-f]{64}\s/);

    const bad = await e.nook(['images', '-f', 'dangling=maybe']);
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stderr).toMatch(/invalid filter 'dangling=maybe'/);
    const unknown = await e.nook(['images', '-f', 'before=nothere:1']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no such image: nothere:1/i);

    // rmi -a (podman's): every image, whatever its names.
    const removed = await ok(e, ['rmi', '-a']);
    expect(removed).toMatch(/Untagged: app:extra/);
    expect(lines(removed).filter((l) => l.startsWith('Deleted: '))).toHaveLength(4);
    expect(await ok(e, ['images', '-q'])).toBe('');
    // docker's argument errors (not a flag's value) exit 1.
    expect((await e.nook(['rmi', '-a', 'base:1'])).code).toBe(1);
  });

  it('save takes several images with or without podman\'s -m, and --uncompressed and -q', async () => {
    const e = testEnv();
    await importBase(e);
    await ok(e, ['tag', 'base:1', 'other:2']);
    for (const flags of [['-m'], ['--uncompressed'], ['-q'], []]) {
      const out = path.join(scratchDir(e.user, 'save-'), 'two.tar');
      // Nothing on stdout with -o, -q or not.
      expect(await ok(e, ['save', ...flags, '-o', out, 'base:1', 'other:2'])).toBe('');
      const manifest = JSON.parse(execFileSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[] }[];
      expect(manifest.flatMap((m) => m.RepoTags).sort()).toEqual(['base:1', 'other:2']);
    }
  });
});

describe('rm, stop, kill, restart', () => {
  it("rm refuses a running container with docker's message and exit 1; -f kills it at once, -f -t stops it first", async () => {
    const e = testEnv();
    await runDetached(e, ['--name', 'busy'], ['sleep', '3105']);
    const refused = await e.nook(['rm', 'busy']);
    expect(refused.code, show(refused)).toBe(1);
    expect(refused.stderr).toContain('cannot remove container "busy": container is running: stop the container before removing or force remove');
    expect(lines(await ok(e, ['ps', '--format', '{{.Names}} {{.State}}']))).toEqual(['busy running']);

    // A container that notes SIGTERM in a bind-mounted directory: rm -f (SIGKILL) gives it no chance, rm -f -t does.
    const out = scratchDir(e.user, 'term-');
    const trap = ['sh', '-c', 'trap "echo term > /mnt/$0; exit 0" TERM; touch /mnt/ready-$0; while :; do sleep 1 & wait $!; done'];
    for (const name of ['killed', 'stopped']) {
      await runDetached(e, ['--name', name, '-v', `${out}:/mnt`], [...trap, name]);
      await waitUntil(() => fs.existsSync(path.join(out, `ready-${name}`)), `${name} ready`, 15_000);
    }
    // Flags may follow the names, as docker takes them.
    expect(await ok(e, ['rm', 'killed', '-f'])).toBe('killed\n');
    expect(await ok(e, ['rm', '-f', '-t', '10', 'stopped'])).toBe('stopped\n');
    expect(fs.existsSync(path.join(out, 'killed'))).toBe(false);
    expect(fs.readFileSync(path.join(out, 'stopped'), 'utf8')).toBe('term\n');
    expect((await e.nook(['rm', '-t', 'x', '-f', 'busy'])).code).toBe(125);
  });

  it('stop --all, kill --all and rm --all (podman) act on every container', async () => {
    const e = testEnv();
    const a = await runDetached(e, ['--name', 'a'], ['sleep', '3106']);
    const b = await runDetached(e, ['--name', 'b'], ['sleep', '3107']);
    const c = await runDetached(e, ['--name', 'c'], ['true']);
    await ok(e, ['wait', 'c']);
    expect(lines(await ok(e, ['stop', '-a', '-t', '1'])).sort()).toEqual([a, b].sort());
    expect(lines(await ok(e, ['ps', '-a', '--format', '{{.Names}} {{.State}}'])).sort()).toEqual(['a exited', 'b exited', 'c exited']);
    await ok(e, ['start', 'a']);
    expect(lines(await ok(e, ['kill', '--all']))).toEqual([a]);
    expect(await ok(e, ['wait', 'a'])).toBe('137\n');
    // podman's exit code for the conflict: a flag error.
    expect((await e.nook(['stop', '--all', 'a'])).code).toBe(125);
    expect(lines(await ok(e, ['rm', '--all'])).sort()).toEqual([a, b, c].sort());
    expect(await ok(e, ['ps', '-aq'])).toBe('');
    // Nothing to act on is no error.
    expect(await ok(e, ['stop', '--all'])).toBe('');
  });

  it('restart stops then starts a running container, starts a stopped one, and says each name', async () => {
    const e = testEnv();
    await runDetached(e, ['--name', 'svc'], ['sleep', '3108']);
    const pid = async () => Number((await ok(e, ['inspect', '-f', '{{.State.Pid}}', 'svc'])).trim());
    const before = await pid();
    expect(before).toBeGreaterThan(0);
    expect(await ok(e, ['restart', '-t', '1', 'svc'])).toBe('svc\n');
    const after = await pid();
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect(lines(await ok(e, ['ps', '--format', '{{.Names}} {{.State}}']))).toEqual(['svc running']);
    await ok(e, ['stop', '-t', '1', 'svc']);
    expect(await ok(e, ['container', 'restart', 'svc'])).toBe('svc\n');
    expect(lines(await ok(e, ['ps', '--format', '{{.Names}} {{.State}}']))).toEqual(['svc running']);
    const missing = await e.nook(['restart', 'nothere']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no such container: nothere/i);
  });
});
