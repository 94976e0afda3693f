/**
 * build/nook as shipped: one executable that needs nothing around it (no
 * node_modules, no HOME), and whose native parts unpack safely on first use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/files';
import { runArgs, runNook, show } from '../helpers/nook';
import { NOOK, REPO } from '../helpers/paths';
import { testUsers } from '../helpers/users';

const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** A copy of nook in a directory of its own, far from the repository. */
function copyOfNook(): string {
  const file = path.join(scratchDir(undefined, 'bin-'), 'nook');
  fs.copyFileSync(NOOK, file);
  fs.chmodSync(file, 0o755);
  return file;
}

describe('the command line', () => {
  it('--version and -v print the version', async () => {
    for (const arg of ['--version', '-v']) {
      const r = await runNook([arg]);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe(`nook version ${VERSION}\n`);
    }
  });

  it('--help, help and no arguments print the usage', async () => {
    for (const args of [['--help'], ['help'], []]) {
      const r = await runNook(args);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/^Usage: nook COMMAND/);
      expect(r.stdout).toMatch(/^\s+run\s/m);
    }
  });

  it('run --help lists the flags', async () => {
    const r = await runNook(['run', '--help']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^Usage: nook run/);
    for (const flag of ['--rootfs', '--interactive', '--tty', '--env', '--env-file', '--workdir', '--user', '--hostname', '--volume', '--tmpfs', '--read-only', '--network', '--userns'])
      expect(r.stdout).toContain(flag);
  });

  it("an unknown command fails with 1, an unknown flag with 125, naming it (docker's CLI)", async () => {
    for (const [arg, code] of [['bogus', 1], ['--bogus', 125]] as const) {
      const r = await runNook([arg]);
      expect(r.code, show(r)).toBe(code);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(arg);
    }
  });
});

describe('the executable alone', () => {
  it('a copy runs from / with PATH=/usr/bin:/bin and an empty HOME', async () => {
    const bin = copyOfNook();
    const env = { PATH: '/usr/bin:/bin', HOME: '' };
    const v = await runNook(['--version'], { bin, fullEnv: env, cwd: '/' });
    expect(v.code, show(v)).toBe(0);
    expect(v.stdout).toBe(`nook version ${VERSION}\n`);
    const r = await runNook(runArgs([], ['sh', '-c', 'echo ran']), { bin, fullEnv: env, cwd: '/' });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('ran\n');
  });

  it('8 first starts at once share a fresh cache: all succeed, the native parts are unpacked whole', async () => {
    const user = testUsers().any;
    const bin = copyOfNook();
    const cache = scratchDir(user, 'cache-');
    const env = { PATH: '/usr/bin:/bin', HOME: user.home, XDG_CACHE_HOME: cache };
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runNook(runArgs([], ['sh', '-c', `echo run ${i}`]), { bin, fullEnv: env, cwd: '/' })),
    );
    runs.forEach((r, i) => {
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe(`run ${i}\n`);
    });

    const dirs = fs.readdirSync(path.join(cache, 'nook'));
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).toMatch(/^native-[0-9a-f]{16}$/);
    const native = path.join(cache, 'nook', dirs[0]);
    expect(fs.readdirSync(native).sort()).toEqual(['koffi.node', 'libnook-exec.so']);
    // Whole copies of what went into the executable.
    const sources: Record<string, string> = {
      'libnook-exec.so': path.join(REPO, 'build/out/libnook-exec.so'),
      'koffi.node': path.join(REPO, 'node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node'),
    };
    for (const [name, src] of Object.entries(sources))
      if (fs.existsSync(src)) expect(fs.readFileSync(path.join(native, name)).equals(fs.readFileSync(src)), name).toBe(true);
  });
});
