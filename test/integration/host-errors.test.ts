/**
 * Hosts where the sandbox cannot be set up: nook fails with 125 and a
 * message that names the step, the cause and the fix.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rootfs, runArgs, runNook, show } from '../helpers/nook';
import { NOOK } from '../helpers/paths';
import { scratchDir } from '../helpers/files';
import { cleanEnv, isRoot, need } from '../helpers/users';

describe('newuidmap/newgidmap that cannot do their job', () => {
  it('a copy without its setuid bit: the helper output and the chmod/setcap fix are shown', async (ctx) => {
    const user = need(ctx, 'sub');
    if (!isRoot) ctx.skip('needs root to prepare a PATH with a broken newuidmap');
    // A directory first in PATH with non-setuid copies, as after a careless package copy.
    const bin = scratchDir(undefined, 'bin-');
    fs.chmodSync(bin, 0o755);
    for (const helper of ['newuidmap', 'newgidmap']) {
      fs.copyFileSync(`/usr/bin/${helper}`, path.join(bin, helper));
      fs.chmodSync(path.join(bin, helper), 0o755);
    }
    const r = await runNook(runArgs([], ['true']), { user, env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain(`setting up the uid map: ${bin}/newuidmap`);
    expect(r.stderr).toMatch(/newuidmap: .*(Operation not permitted|failed)/); // the helper's own words
    expect(r.stderr).toContain(`chmod u+s ${bin}/newuidmap`);
    expect(r.stderr).toContain('setcap cap_setuid+ep');
  });
});

describe('subordinate ranges without newuidmap/newgidmap (the uidmap package missing)', () => {
  it('nook maps one id, and what needs another says to install uidmap, not to add ranges the user has', async (ctx) => {
    const user = need(ctx, 'sub');
    if (!isRoot) ctx.skip('needs root to hide the helpers in a mount namespace of its own');
    // /dev/null over both helpers (not regular files: not found), in a mount namespace of this command only.
    const hide = 'mount --bind /dev/null /usr/bin/newuidmap && mount --bind /dev/null /usr/bin/newgidmap && u=$1 g=$2 && shift 2 && exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"';
    const run = (...args: string[]) =>
      spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', hide, 'sh', String(user.uid), String(user.gid), NOOK, ...args], {
        cwd: '/tmp',
        env: cleanEnv(user),
        encoding: 'utf8',
        timeout: 20_000,
      });
    const ok = run('run', '--rootfs', rootfs(), '--', 'cat', '/proc/self/uid_map');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.trim().split(/\s+/)).toEqual(['0', String(user.uid), '1']);
    const r = run('run', '--rootfs', rootfs(), '-u', '33', '--', 'true');
    expect(r.status, r.stderr).toBe(125);
    expect(r.stderr).toContain('uid 33 does not exist in the sandbox');
    expect(r.stderr).toContain('newuidmap and newgidmap, which map subordinate ids, are not installed');
    expect(r.stderr).toContain('sudo apt-get install uidmap');
    expect(r.stderr).not.toContain('usermod');
  });
});

describe('user namespaces switched off', () => {
  it('user.max_user_namespaces=0 is named with the sysctl that enables them', async (ctx) => {
    const user = need(ctx, 'nosub');
    if (!isRoot) ctx.skip('needs root to change user.max_user_namespaces');
    const knob = '/proc/sys/user/max_user_namespaces';
    const saved = fs.readFileSync(knob, 'utf8');
    try {
      fs.writeFileSync(knob, saved);
    } catch {
      ctx.skip(`${knob} cannot be written here (read-only /proc/sys); the unit tests cover the message`);
    }
    let r;
    try {
      fs.writeFileSync(knob, '0');
      r = await runNook(runArgs([], ['true']), { user });
    } finally {
      fs.writeFileSync(knob, saved);
    }
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain("creating the sandbox's namespaces (clone)");
    expect(r.stderr).toContain('user.max_user_namespaces=0');
    expect(r.stderr).toContain('sysctl -w user.max_user_namespaces=');
  });
});

describe('a foreign XDG_RUNTIME_DIR (after plain su)', () => {
  it('is not used, and nook still runs', async (ctx) => {
    const user = need(ctx, 'nosub');
    if (!isRoot) ctx.skip('needs a directory owned by another user');
    const r = await runNook(runArgs([], ['true']), {
      user,
      fullEnv: { ...cleanEnv(user), HOME: '', XDG_RUNTIME_DIR: '/root' },
    });
    expect(r.code, show(r)).toBe(0);
  });
});
