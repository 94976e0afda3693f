/**
 * Hosts where the sandbox cannot be set up: nook fails with 125 and a
 * message that names the step, the cause and the fix.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runArgs, runNook, show } from '../helpers/nook';
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
