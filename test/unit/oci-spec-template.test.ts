/**
 * `nook oci spec`'s template against what runc itself writes, when runc is
 * installed: the same JSON, and the same bytes with runc's tab indentation.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { specTemplate } from '../../src/oci/spec-template';
import { skipAllIf } from '../helpers/skip';
import { isRoot, SUB_USER } from '../helpers/users';

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => fs.existsSync(p));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-oci-spec-'));
fs.chmodSync(dir, 0o755);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** The config.json runc spec writes (as `user` when given, through setpriv), as text. */
function runcSpec(args: string[], user?: { uid: number; gid: number }): string {
  const bundle = path.join(dir, `b${n++}`);
  fs.mkdirSync(bundle);
  const cmd = user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', RUNC!] : [RUNC!];
  if (user) fs.chownSync(bundle, user.uid, user.gid);
  const r = spawnSync(cmd[0], [...cmd.slice(1), 'spec', ...args], { cwd: bundle, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return fs.readFileSync(path.join(bundle, 'config.json'), 'utf8');
}

/** A user other than root to run runc as, when the tests run as root. */
function otherUser(): { uid: number; gid: number } | undefined {
  if (!isRoot) return undefined;
  const r = spawnSync('id', ['-u', SUB_USER], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', SUB_USER], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : undefined;
}

describe('oci spec template', () => {
  skipAllIf(!RUNC && 'runc is not installed');

  it('is what runc spec writes', () => {
    const runc = runcSpec([]);
    expect(specTemplate({ rootless: false })).toEqual(JSON.parse(runc));
    expect(JSON.stringify(specTemplate({ rootless: false }), null, '\t')).toBe(runc);
  });

  it('is what runc spec --rootless writes, mapping root to the caller', () => {
    const runc = runcSpec(['--rootless']);
    expect(specTemplate({ rootless: true })).toEqual(JSON.parse(runc));
    expect(JSON.stringify(specTemplate({ rootless: true }), null, '\t')).toBe(runc);
  });

  it('maps root to another user as runc does for that user', (ctx) => {
    const user = otherUser();
    if (!user) return ctx.skip(`needs root and the user ${SUB_USER}`);
    expect(specTemplate({ rootless: true, uid: user.uid, gid: user.gid })).toEqual(JSON.parse(runcSpec(['--rootless'], user)));
  });
});

describe('oci spec template options', () => {
  it('takes the command, and hands out a fresh object each time', () => {
    const a = specTemplate({ rootless: false, args: ['/hello', 'world'] }) as { process: { args: string[] } };
    expect(a.process.args).toEqual(['/hello', 'world']);
    a.process.args.push('x');
    expect((specTemplate({ rootless: false }) as { process: { args: string[] } }).process.args).toEqual(['sh']);
  });
});
