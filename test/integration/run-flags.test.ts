/**
 * `nook run` flags with docker's (or podman's) meaning, as an unprivileged
 * user: --cidfile, --label/--label-file, --log-driver none, --replace,
 * --restart always, --stop-timeout, --tz, --group-add, --entrypoint as a
 * JSON array, a repeated flag's last value, and docker's exit codes for the
 * commands around them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { importBase } from '../helpers/build';
import { env, ok, type Env } from '../helpers/containers';
import { scratchDir, writeFile } from '../helpers/files';
import { rootfs, show } from '../helpers/nook';
import { need, testUsers } from '../helpers/users';

const R = () => ['--rootfs', rootfs()];

function cleanup(e: Env, ...names: string[]): void {
  onTestFinished(async () => void (await e.nook(['rm', '-f', ...names])));
}

describe('container records', () => {
  it('--cidfile writes the id, and refuses a file that exists with docker\'s message', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'cid1');
    const file = path.join(scratchDir(e.user), 'cid');
    await ok(e, ['run', '--name', 'cid1', '--cidfile', file, ...R(), '--', 'true']);
    const id = (await ok(e, ['inspect', '-f', '{{.Id}}', 'cid1'])).trim();
    expect(fs.readFileSync(file, 'utf8')).toBe(id);
    const again = await e.nook(['run', '--cidfile', file, ...R(), '--', 'true']);
    expect(again.code, show(again)).toBe(125);
    expect(again.stderr).toContain(`Container ID file found, make sure the other container isn't running or delete ${file}`);
  });

  it('--label and --label-file are in inspect Config.Labels and ps {{.Labels}} / {{.Label "k"}}', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'lab');
    const file = writeFile(path.join(scratchDir(e.user), 'labels'), '# a comment\nteam=core\ntier=db\n', e.user);
    await ok(e, ['run', '--name', 'lab', '--label-file', file, '-l', 'tier=web', '--label', 'empty', ...R(), '--', 'true']);
    expect(JSON.parse(await ok(e, ['inspect', '-f', '{{json .Config.Labels}}', 'lab']))).toEqual({ team: 'core', tier: 'web', empty: '' });
    const row = (await ok(e, ['ps', '-a', '--format', '{{.Names}}|{{.Labels}}|{{.Label "tier"}}|{{.Label "none"}}'])).trim();
    const [name, labels, tier, none] = row.split('|');
    expect(name).toBe('lab');
    expect(labels.split(',').sort()).toEqual(['empty=', 'team=core', 'tier=web']);
    expect([tier, none]).toEqual(['web', '']);
    const json = JSON.parse(await ok(e, ['ps', '-a', '--format', 'json'])) as { Labels: unknown }[];
    expect(json.map((c) => c.Labels)).toEqual([{ team: 'core', tier: 'web', empty: '' }]);
  });

  it('a container from an image carries the image\'s labels under its own', async () => {
    const e = env(testUsers().any);
    await importBase(e);
    cleanup(e, 'imglab');
    await ok(e, ['commit', '-c', 'LABEL from=image keep=yes', (await createFrom(e)), 'lab:1']);
    await ok(e, ['run', '--name', 'imglab', '-l', 'from=flag', 'lab:1', 'true']);
    expect(JSON.parse(await ok(e, ['inspect', '-f', '{{json .Config.Labels}}', 'imglab']))).toEqual({ from: 'flag', keep: 'yes' });
  });

  it('--replace removes the running container of that name first; without --name it is refused', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'rep');
    const first = (await ok(e, ['run', '-d', '--name', 'rep', ...R(), '--', 'sleep', '600'])).trim();
    const taken = await e.nook(['run', '-d', '--name', 'rep', ...R(), '--', 'true']);
    expect(taken.code).toBe(125);
    const second = (await ok(e, ['run', '-d', '--replace', '--name', 'rep', ...R(), '--', 'sleep', '600'])).trim();
    expect(second).not.toBe(first);
    expect((await ok(e, ['ps', '-aq', '--no-trunc'])).trim().split('\n')).toEqual([second]);
    const bad = await e.nook(['run', '--replace', ...R(), '--', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('--replace needs --name');
  });
});

/** A stopped container from base:1, to commit with changes. */
async function createFrom(e: Env): Promise<string> {
  cleanup(e, 'labsrc');
  await ok(e, ['run', '--name', 'labsrc', 'base:1', 'true']);
  return 'labsrc';
}

describe('detached containers', () => {
  it('--restart always restarts after a zero exit, until stopped; --stop-timeout is what stop waits by default', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'always');
    // Ignores SIGTERM: stop has to wait out the timeout, then SIGKILL.
    await ok(e, ['run', '-d', '--name', 'always', '--restart', 'always', '--stop-timeout', '1', ...R(), '--', 'sh', '-c', "trap '' TERM; sleep 0.3"]);
    const restarts = async () => Number((await ok(e, ['inspect', '-f', '{{.RestartCount}}', 'always'])).trim());
    const deadline = Date.now() + 20_000;
    while ((await restarts()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await restarts()).toBeGreaterThanOrEqual(2);
    expect(await ok(e, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}} {{.Config.StopTimeout}}', 'always'])).toBe('always 1\n');
    const started = Date.now();
    await ok(e, ['stop', 'always']);
    expect(Date.now() - started).toBeLessThan(8_000);
    const count = await restarts();
    await new Promise((r) => setTimeout(r, 800)); // a restart would have come by now (its delay is ~100-400 ms)
    expect(await restarts()).toBe(count);
    expect((await ok(e, ['inspect', '-f', '{{.State.Status}}', 'always'])).trim()).toBe('exited');
  });

  it('--log-driver none keeps no log; logs says so with docker\'s message', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'nolog');
    const id = (await ok(e, ['run', '-d', '--name', 'nolog', '--log-driver', 'none', ...R(), '--', 'echo', 'hello'])).trim();
    expect(await ok(e, ['wait', 'nolog'])).toBe('0\n');
    expect(fs.existsSync(path.join(e.state, 'containers', id, 'container.log'))).toBe(false);
    const r = await e.nook(['logs', 'nolog']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('configured logging driver does not support reading');
    expect(await ok(e, ['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'nolog'])).toBe('none\n');
    const bad = await e.nook(['run', '--log-driver', 'syslog', ...R(), '--', 'true']);
    expect(bad.code).toBe(125);
  });
});

describe('the process', () => {
  it('--tz gives /etc/localtime from the host\'s zoneinfo, read-only; an unknown zone is refused', async (ctx) => {
    if (!fs.existsSync('/usr/share/zoneinfo/Asia/Tokyo')) ctx.skip('no /usr/share/zoneinfo/Asia/Tokyo on this host');
    const e = env(testUsers().any);
    await importBase(e);
    // From an image: the mount point is made in the container's own layer (the shared test rootfs has no /etc/localtime).
    const r = await e.nook(['run', '--rm', '--tz', 'Asia/Tokyo', 'base:1', 'sh', '-c', 'date +%Z; echo x > /etc/localtime 2>/dev/null || echo ro']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('JST\nro\n');
    for (const tz of ['Mars/Olympus', '../../etc/passwd']) {
      const bad = await e.nook(['run', '--tz', tz, ...R(), '--', 'true']);
      expect(bad.code, show(bad)).toBe(125);
      expect(bad.stderr).toContain('--tz');
    }
  });

  it('--group-add adds groups by gid and by name from the rootfs\'s /etc/group', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const r = await e.nook(['run', '--group-add', 'tty', '--group-add', '1000', '-u', '65534', ...R(), '--', 'id', '-G']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim().split(' ').map(Number).sort((a, b) => a - b)).toEqual([5, 1000, 65534]);
    const unknown = await e.nook(['run', '--group-add', 'wheel', ...R(), '--', 'true']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toContain('unable to find group wheel');
  });

  it('--group-add without subordinate ids is refused, not dropped', async (ctx) => {
    const e = env(need(ctx, 'nosub'));
    const r = await e.nook(['run', '--group-add', '5', ...R(), '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('--group-add needs subordinate ids');
  });

  it('--entrypoint takes a JSON array (the exec form); a repeated flag takes its last value', async () => {
    const e = env(testUsers().any);
    await importBase(e);
    const r = await e.nook(['run', '--rm', '--entrypoint', '["/bin/sh","-c","echo $0 $1"]', '-w', '/tmp', '-w', '/srv', 'base:1', 'a', 'b']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('a b\n');
    const cwd = await e.nook(['run', '--rm', '-w', '/tmp', '-w', '/srv', 'base:1', 'pwd']);
    expect(cwd.stdout).toBe('/srv\n');
    const bad = await e.nook(['run', '--rm', '--entrypoint', '["sh", 1]', 'base:1']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('array of strings');
  });
});

describe('--timeout', () => {
  it('kills the command after N seconds (exit 255, recorded -1, as podman), named or not', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'slow');
    for (const extra of [[], ['--name', 'slow']]) {
      const started = Date.now();
      const r = await e.nook(['run', '--timeout', '1', ...extra, ...R(), '--', 'sleep', '60']);
      expect(r.code, show(r)).toBe(255);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
    expect((await ok(e, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'slow'])).trim()).toBe('exited -1');
    const fast = await e.nook(['run', '--timeout', '30', ...R(), '--', 'true']);
    expect(fast.code).toBe(0);
  });

  it('with -d and create, the supervisor kills the container N seconds after it started; it records -1', async () => {
    const e = env(testUsers().any);
    cleanup(e, 'td', 'tquiet', 'tfast', 'tcreated');
    const started = Date.now();
    await ok(e, ['run', '-d', '--name', 'td', '--timeout', '1', ...R(), '--', 'sleep', '60']);
    // Its stdout and stderr closed: still killed (the supervisor watches the container itself, not only its output).
    await ok(e, ['run', '-d', '--name', 'tquiet', '--timeout', '1', ...R(), '--', 'sh', '-c', 'exec >/dev/null 2>&1; exec sleep 60']);
    await ok(e, ['run', '-d', '--name', 'tfast', '--timeout', '30', ...R(), '--', 'sh', '-c', 'exit 3']);
    expect(await ok(e, ['wait', 'td', 'tquiet', 'tfast'])).toBe('-1\n-1\n3\n');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect((await ok(e, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'td'])).trim()).toBe('exited -1');
    // create keeps it for every start.
    await ok(e, ['create', '--name', 'tcreated', '--timeout', '1', ...R(), '--', 'sleep', '60']);
    await ok(e, ['start', 'tcreated']);
    expect(await ok(e, ['wait', 'tcreated'])).toBe('-1\n');
    await ok(e, ['start', 'tcreated']);
    expect(await ok(e, ['wait', 'tcreated'])).toBe('-1\n');
    const bad = await e.nook(['run', '-d', '--timeout', '0', ...R(), '--', 'true']);
    expect(bad.code, show(bad)).toBe(125);
  });
});

describe("docker's exit codes around run", () => {
  it('other commands exit 1 with docker\'s wording; an unknown flag 125 with any command; run keeps 125', async () => {
    const e = env(testUsers().any);
    for (const [args, message] of [
      [['rm', 'nosuch'], 'No such container: nosuch'],
      [['stop', 'nosuch'], 'No such container: nosuch'],
      [['inspect', 'nosuch'], 'No such object: nosuch'],
      [['rmi', 'nosuch:1'], 'No such image: nosuch:1'],
      [['image', 'inspect', 'nosuch:1'], 'No such image: nosuch:1'],
    ] as const) {
      const r = await e.nook([...args]);
      expect(r.code, `${args.join(' ')}\n${show(r)}`).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain('hint:');
    }
    for (const args of [['ps', '--bogus'], ['rm', '--bogus', 'x'], ['run', '--bogus', ...R(), 'true']]) {
      const r = await e.nook(args);
      expect(r.code, show(r)).toBe(125);
      expect(r.stderr).toContain('unknown flag: --bogus');
    }
    const exec = await e.nook(['exec', 'nosuch', 'true']);
    expect(exec.code).toBe(125);
    expect(exec.stderr).toContain('No such container: nosuch');
    const run = await e.nook(['run', '--pull', 'never', 'nosuch:1']);
    expect(run.code).toBe(125);
  });
});
