/**
 * docker's `run -a/--attach` (some output streams attached, the rest only in
 * the container's log; the id when no output is attached), podman's inspect
 * LogConfig fields and --latest, --kernel-memory's warning, top's format
 * descriptors, /etc/mtab in a container whose image has none, and podman's
 * --hostuser, --unsetenv and --unsetenv-all.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import * as fs from 'node:fs';
import { env, ID, ok, runDetached, type Env } from '../helpers/containers';
import { buildOk, importBase, makeContext } from '../helpers/build';
import { rootfs, show } from '../helpers/nook';

function cleanEnv(): Env {
  const e = env();
  onTestFinished(async () => {
    const r = await e.nook(['ps', '-aq', '--no-trunc']);
    const ids = r.stdout.split('\n').filter(Boolean);
    if (ids.length) await e.nook(['rm', '-f', ...ids]);
  });
  return e;
}

const R = (...flags: string[]) => ['run', '--rootfs', rootfs(), ...flags, '--'];

describe('run -a', () => {
  it('-a stdin: prints the id, waits for the exit and returns its status; the output is in the log', async () => {
    const e = cleanEnv();
    const r = await e.nook([...R('--name', 'a1', '-a', 'stdin'), 'sh', '-c', 'echo hello; exit 3']);
    expect(r.code, show(r)).toBe(3);
    const id = r.stdout.trim();
    expect(id).toMatch(ID);
    expect((await ok(e, ['inspect', '-f', '{{.Id}} {{.State.Status}} {{.State.ExitCode}}', 'a1'])).trim()).toBe(`${id} exited 3`);
    expect(await ok(e, ['logs', 'a1'])).toBe('hello\n');
  });

  it('-a stderr: only stderr on the terminal, stdout (binary too) in the log at LogConfig.Path; inspect -l and rm -l take the latest', async () => {
    const e = cleanEnv();
    const r = await e.nook([...R('--name', 'a2', '--attach', 'stderr'), 'sh', '-c', 'head -c 5000 /dev/zero; echo to-err >&2']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('to-err\n');
    const logPath = (await ok(e, ['inspect', '-l', '--format', '{{.HostConfig.LogConfig.Path}}'])).trim();
    expect(logPath).toMatch(/container\.log$/);
    expect([...fs.readFileSync(logPath)].filter((b) => b === 0).length).toBe(5000);
    expect((await ok(e, ['rm', '-l'])).trim()).toMatch(ID);
    expect((await ok(e, ['ps', '-aq'])).trim()).toBe('');
  });

  it('-a stdout --rm: stdout only, and the container is gone after', async () => {
    const e = cleanEnv();
    const r = await e.nook([...R('--rm', '-a', 'STDOUT'), 'sh', '-c', 'echo out; echo err >&2']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('');
    expect((await ok(e, ['ps', '-aq'])).trim()).toBe('');
  });

  it('refuses a bad stream, and -d', async () => {
    const e = cleanEnv();
    const bad = await e.nook([...R('-a', 'stdfoo'), 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('valid streams are STDIN, STDOUT and STDERR');
    const d = await e.nook([...R('-d', '-a', 'stdout'), 'true']);
    expect(d.code).toBe(125);
    expect(d.stderr).toContain('conflicting options: -a and -d');
    // create -a is accepted (start -a decides).
    expect((await ok(e, ['create', '-a', 'stdout', '--rootfs', rootfs(), '--', 'true'])).trim()).toMatch(ID);
    // Both output streams: a plain foreground run.
    const both = await e.nook([...R('-a', 'stdout', '-a', 'stderr'), 'sh', '-c', 'echo o; echo e >&2']);
    expect([both.code, both.stdout, both.stderr]).toEqual([0, 'o\n', 'e\n']);
  });
});

describe('log options and podman flags', () => {
  it('--log-opt max-size is decimal (docker); inspect shows LogConfig.Size as podman', async () => {
    const e = cleanEnv();
    const id = await runDetached(e, ['--log-opt', 'max-size=9.081m'], ['sleep', '30']);
    expect((await ok(e, ['inspect', '--format', '{{.HostConfig.LogConfig.Size}} {{index .HostConfig.LogConfig.Config "max-size"}}', id])).trim()).toBe('9.081MB 9081000');
    expect((await ok(e, ['inspect', '--format', '{{.HostConfig.LogConfig.Path}}', id])).trim()).toMatch(/container\.log$/);
  });

  it('--kernel-memory is accepted and ignored, with a warning', async () => {
    const e = cleanEnv();
    const r = await e.nook([...R('--kernel-memory', '100m'), 'echo', 'ran']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toContain('The --kernel-memory flag is no longer supported. This flag is a noop.');
  });
});

describe('top with format descriptors', () => {
  it('prints the columns asked for from /proc, container pids and names; other arguments stay ps options', async () => {
    const e = cleanEnv();
    const id = await runDetached(e, [], ['sh', '-c', 'sleep 1000 & wait']);
    const out = await ok(e, ['top', id, 'pid,ppid,user', 'huser', 'args']);
    const rows = out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(rows[0]).toEqual(['PID', 'PPID', 'USER', 'HUSER', 'COMMAND']);
    expect(rows).toContainEqual(['1', '0', 'root', e.user.name, 'sh -c sleep 1000 & wait']);
    expect(rows).toContainEqual(['2', '1', 'root', e.user.name, 'sleep 1000']);
    // Not descriptors: the host's ps.
    expect(await ok(e, ['top', id, '-o', 'pid,comm'])).toMatch(/^PID\s+COMMAND\n/);
  });
});

describe('/etc/mtab', () => {
  it('a container of an image without /etc/mtab gets /etc/mtab -> /proc/mounts in its own layer, left out of diff and commit', async () => {
    const e = cleanEnv();
    await importBase(e);
    await buildOk(e, makeContext(e, { Dockerfile: 'FROM base:1\nRUN rm -f /etc/mtab\n' }), ['-t', 'nomtab']);
    const r = await e.nook(['run', '--rm', 'nomtab', 'readlink', '/etc/mtab']);
    expect([r.code, r.stdout], show(r)).toEqual([0, '/proc/mounts\n']);
    expect((await e.nook(['run', '--rm', 'nomtab', 'sh', '-c', 'head -1 /etc/mtab | grep -c " / "'])).stdout).toBe('1\n');
    // The runtime's, as /etc/hosts: not in diff, nor in a commit.
    await ok(e, ['run', '--name', 'm1', 'nomtab', 'true']);
    expect(await ok(e, ['diff', 'm1'])).toBe('');
    await ok(e, ['commit', 'm1', 'm1:1']);
    const layers = async (image: string) => ok(e, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', image]);
    expect(await layers('m1:1')).toBe(await layers('nomtab'));
  });
});

describe('--hostuser', () => {
  it("adds the host user's passwd line (by name or uid) to the container's /etc/passwd, never to the image; -u finds it", async () => {
    const e = cleanEnv();
    await importBase(e);
    const u = e.user;
    const none = await e.nook(['run', '--rm', 'base:1', 'grep', `^${u.name}:`, '/etc/passwd']);
    expect(none.code).toBe(1);
    for (const who of [u.name, String(u.uid)]) {
      const r = await e.nook(['run', '--rm', '--hostuser', who, 'base:1', 'grep', `^${u.name}:`, '/etc/passwd']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^${u.name}:x:${u.uid}:${u.gid}:[^:]*:${u.home}:`));
    }
    const id = await e.nook(['run', '--rm', '--hostuser', u.name, '--user', u.name, 'base:1', 'sh', '-c', 'id -u; echo $HOME']);
    expect([id.code, id.stdout], show(id)).toEqual([0, `${u.uid}\n${u.home}\n`]);
    // The image's own file is untouched; root's line is not doubled.
    expect((await e.nook(['run', '--rm', 'base:1', 'grep', '-c', `^${u.name}:`, '/etc/passwd'])).stdout).toBe('0\n');
    expect((await e.nook(['run', '--rm', '--hostuser', 'root', 'base:1', 'grep', '-c', '^root:', '/etc/passwd'])).stdout).toBe('1\n');
    const bogus = await e.nook(['run', '--rm', '--hostuser', 'no-such-user-xyz', 'base:1', 'true']);
    expect(bogus.code).toBe(125);
    expect(bogus.stderr).toContain('--hostuser: no user "no-such-user-xyz"');
  });
});

describe('--unsetenv and --unsetenv-all', () => {
  it('leave out default and image variables; -e still sets them', async () => {
    const e = cleanEnv();
    await importBase(e);
    await buildOk(e, makeContext(e, { Dockerfile: 'FROM base:1\nENV FROMIMAGE=1 OTHER=2\n' }), ['-t', 'envimg']);
    const env = async (...flags: string[]) => {
      const r = await e.nook(['run', '--rm', ...flags, 'envimg', '/bin/env']);
      expect(r.code, show(r)).toBe(0);
      return r.stdout.trim().split('\n').map((l) => l.slice(0, l.indexOf('='))).sort();
    };
    expect(await env()).toEqual(expect.arrayContaining(['FROMIMAGE', 'OTHER', 'container', 'HOME', 'PATH']));
    const some = await env('--unsetenv', 'container', '--unsetenv', 'FROMIMAGE');
    expect(some).not.toContain('container');
    expect(some).not.toContain('FROMIMAGE');
    expect(some).toContain('OTHER');
    expect(await env('--unsetenv', 'FROMIMAGE', '-e', 'FROMIMAGE=again')).toContain('FROMIMAGE');
    expect(await env('--unsetenv-all')).toEqual(['']);
    expect(await env('--unsetenv-all', '-e', 'TERM=abc')).toEqual(['TERM']);
  });
});
