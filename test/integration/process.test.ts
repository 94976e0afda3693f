/**
 * The sandboxed process: exit codes, environment, user and working directory.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir, writeFile } from '../helpers/files';
import { rootfs, runNook, sandbox, sandboxSh, show, startNook } from '../helpers/nook';
import { processesWithArgv, waitUntil } from '../helpers/procs';
import { need } from '../helpers/users';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The command's environment, as `env` (run directly, without a shell) prints it. */
async function envInside(flags: string[], env: Record<string, string> = {}): Promise<Record<string, string>> {
  const r = await sandbox(['env'], flags, { env });
  expect(r.code, show(r)).toBe(0);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('exit codes', () => {
  it('the command\'s own: 0 and 42', async () => {
    expect((await sandbox(['true'])).code).toBe(0);
    const r = await sandboxSh('exit 42');
    expect(r.code, show(r)).toBe(42);
    expect(r.stderr).toBe('');
  });

  it('125 when the rootfs does not exist', async () => {
    const missing = path.join(scratchDir(), 'no-rootfs');
    const r = await runNook(['run', '--rootfs', missing, '--', 'true']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain(missing);
  });

  it('125 for an unknown flag, which the message names', async () => {
    const r = await runNook(['run', '--rootfs', rootfs(), '--frobnicate', '--', 'true']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('--frobnicate');
  });

  it('125 for malformed -v values', async () => {
    for (const v of ['justone', '/a:/b:rx', ':/mnt/data', '/tmp:relative/dest']) {
      const r = await sandbox(['true'], ['-v', v]);
      expect(r.code, `-v ${v}\n${show(r)}`).toBe(125);
      expect(r.stderr, `-v ${v}`).toMatch(/^Error: /);
    }
  });

  it('125 without a command or without --rootfs', async () => {
    expect((await runNook(['run', '--rootfs', rootfs()])).code).toBe(125);
    expect((await runNook(['run', '--', 'true'])).code).toBe(125);
  });

  it('126 when the command is not executable', async () => {
    const r = await sandbox(['/etc/passwd']);
    expect(r.code, show(r)).toBe(126);
    expect(r.stderr).toContain('/etc/passwd');
  });

  it('127 when the command is not found, named in the message', async () => {
    for (const cmd of ['nosuchcmd', '/bin/nosuchcmd']) {
      const r = await sandbox([cmd]);
      expect(r.code, show(r)).toBe(127);
      expect(r.stderr).toContain(cmd);
    }
  });

  it('128+N when a signal kills the command (SIGKILL from the host: 137)', async () => {
    const argv = ['sleep', '1031'];
    const nook = startNook(['run', '--rootfs', rootfs(), '--', ...argv]);
    await waitUntil(() => processesWithArgv(argv).length === 1, 'the sandboxed sleep to start');
    process.kill(processesWithArgv(argv)[0].pid, 'SIGKILL');
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(137);
  });

  it('inside, processes other than pid 1 can be signalled as usual (a child killed by TERM: 143)', async () => {
    const r = await sandboxSh('sh -c \'kill -TERM $$\'; echo $?');
    expect(r.stdout).toBe('143\n');
  });
});

describe('environment', () => {
  it('defaults: PATH, HOSTNAME, HOME and container=nook (as podman\'s container=podman), and nothing of nook\'s own environment', async () => {
    const env = await envInside(['-h', 'envhost'], { NOOK_TEST_LEAK: 'leaked' });
    expect(env).toEqual({ PATH: DEFAULT_PATH, HOSTNAME: 'envhost', HOME: '/root', container: 'nook' });
  });

  it('-e K=V sets a variable, and overrides a default', async () => {
    const env = await envInside(['-e', 'FOO=bar baz', '-e', 'EMPTY=', '--env', 'PATH=/bin', '-e', 'EQ=a=b']);
    expect(env.FOO).toBe('bar baz');
    expect(env.EMPTY).toBe('');
    expect(env.EQ).toBe('a=b');
    expect(env.PATH).toBe('/bin');
  });

  it('-e K takes K from nook\'s environment, and leaves it out when unset', async () => {
    const env = await envInside(['-e', 'FROM_HOST', '-e', 'UNSET_VAR'], { FROM_HOST: 'host value' });
    expect(env.FROM_HOST).toBe('host value');
    expect('UNSET_VAR' in env).toBe(false);
  });

  it('--env-file reads K=V lines, skips comments and blanks, and -e wins over it', async () => {
    const file = writeFile(
      path.join(scratchDir(), 'env'),
      '# a comment\nA=1\n\nB=two words\r\nFROM_HOST\nC=file\n',
    );
    const env = await envInside(['--env-file', file, '-e', 'C=flag'], { FROM_HOST: 'h' });
    expect(env).toMatchObject({ A: '1', B: 'two words', FROM_HOST: 'h', C: 'flag' });
    expect(Object.keys(env).some((k) => k.startsWith('#'))).toBe(false);
  });

  it('NODE_OPTIONS in an --env-file is for the command, not for nook itself', async () => {
    const file = writeFile(path.join(scratchDir(), 'env'), 'NODE_OPTIONS=--require /srv/app/tracing.js\nA=1\n');
    const r = await sandbox(['env'], ['--env-file', file]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('NODE_OPTIONS=--require /srv/app/tracing.js\n');
    expect(r.stdout).toContain('A=1\n');
  });

  it('a missing --env-file fails with 125', async () => {
    const missing = path.join(scratchDir(), 'missing.env');
    const r = await sandbox(['true'], ['--env-file', missing]);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain(missing);
  });
});

describe('working directory', () => {
  it('is / by default', async () => {
    expect((await sandbox(['pwd'])).stdout).toBe('/\n');
  });

  it('-w sets it to an existing directory', async () => {
    for (const flag of ['-w', '--workdir']) {
      const r = await sandbox(['pwd'], [flag, '/srv/app']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe('/srv/app\n');
    }
  });

  it('a relative -w is refused with 125', async () => {
    const r = await sandbox(['pwd'], ['-w', 'srv/app']);
    expect(r.code, show(r)).toBe(125);
  });
});

describe('user (-u)', () => {
  it('runs as root inside by default, with HOME=/root', async () => {
    const r = await sandboxSh('id -u; id -g; echo $HOME');
    expect(r.stdout).toBe('0\n0\n/root\n');
  });

  it('-u 1000:1000 sets uid and gid, HOME comes from the rootfs\'s passwd', async (ctx) => {
    const user = need(ctx, 'sub');
    const r = await sandboxSh('id -u; id -g; echo $HOME', ['-u', '1000:1000'], { user });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('1000\n1000\n/home/user\n');
  });

  it('-u NAME takes uid, gid and groups from the rootfs', async (ctx) => {
    const user = need(ctx, 'sub');
    const r = await sandboxSh('id -u; id -g; id -G; id -un; echo $HOME', ['--user', 'user'], { user });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('1000\n1000\n1000\nuser\n/home/user\n');
  });

  it('-u NAME:GROUP and a uid without passwd entry', async (ctx) => {
    const user = need(ctx, 'sub');
    const r = await sandboxSh('id -u; id -g; echo $HOME', ['-u', 'user:tty'], { user });
    expect(r.stdout).toBe('1000\n5\n/home/user\n');
    const r2 = await sandboxSh('id -u; id -g; echo $HOME', ['-u', '4242'], { user });
    expect(r2.code, show(r2)).toBe(0);
    expect(r2.stdout).toBe('4242\n0\n/\n');
  });

  it('an unknown user name fails with 125', async () => {
    const r = await sandbox(['true'], ['-u', 'nosuchuser']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('nosuchuser');
  });

  it('-u 1000 without subordinate ids fails with 125, pointing at /etc/subuid', async (ctx) => {
    const user = need(ctx, 'nosub');
    const r = await sandbox(['id'], ['-u', '1000'], { user });
    expect(r.code, show(r)).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('/etc/subuid');
  });
});
