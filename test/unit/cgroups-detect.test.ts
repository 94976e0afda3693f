import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { afterEach, describe, expect, it } from 'vitest';
import { skipAllIf } from '../helpers/skip';
import { cgroupDir, detectLayout, isDelegated, parseMountinfo, unifiedCgroupPath } from '../../src/sandbox/cgroups/detect';
import { placeCgroup, type CgroupHost } from '../../src/sandbox/cgroups/placement';
import { createCgroup } from '../../src/sandbox/cgroups';
import { NookError } from '../../src/errors';

/** /proc/self/mountinfo of a cgroup v1 host with the controller-less cgroup2 beside (this project's build machines). */
const HYBRID = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V1 = HYBRID.split('\n').filter((l) => !l.includes('unified')).join('\n');
const V2 = '30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';

describe('cgroup layout', () => {
  it('tells v2, hybrid, v1 and none apart', () => {
    expect(detectLayout(V2)).toEqual({ mode: 'v2', unified: { mountPoint: '/sys/fs/cgroup', root: '/' } });
    expect(detectLayout(HYBRID).mode).toBe('hybrid');
    expect(detectLayout(V1).mode).toBe('v1');
    expect(detectLayout('22 1 0:5 / /proc rw - proc proc rw\n').mode).toBe('none');
  });

  it('takes the last mount on /sys/fs/cgroup (a cgroup2 mounted over the v1 tmpfs)', () => {
    expect(detectLayout(`${HYBRID}60 31 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n`).mode).toBe('v2');
  });

  it('unescapes mount points', () => {
    expect(parseMountinfo('1 2 0:1 / /a\\040b rw - cgroup2 none rw')[0].mountPoint).toBe('/a b');
  });

  it('reads the v2 line of /proc/self/cgroup', () => {
    const text = '12:pids:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n0::/user.slice/user-1000.slice/session-2.scope\n';
    expect(unifiedCgroupPath(text)).toBe('/user.slice/user-1000.slice/session-2.scope');
    expect(unifiedCgroupPath('4:memory:/x\n')).toBeUndefined();
  });

  it('maps a cgroup path to its directory, also under a mount of a subtree', () => {
    const mount = { mountPoint: '/sys/fs/cgroup', root: '/' };
    expect(cgroupDir('/user.slice/a.scope', mount)).toBe('/sys/fs/cgroup/user.slice/a.scope');
    expect(cgroupDir('/', mount)).toBe('/sys/fs/cgroup');
    expect(cgroupDir('/ctr/app', { mountPoint: '/sys/fs/cgroup', root: '/ctr' })).toBe('/sys/fs/cgroup/app');
    expect(cgroupDir('/other', { mountPoint: '/sys/fs/cgroup', root: '/ctr' })).toBeUndefined();
    // Outside this cgroup namespace: nothing under the mount shows it.
    expect(cgroupDir('/../sibling', mount)).toBeUndefined();
  });
});

/**
 * A fake cgroup2 tree in a temp dir, shaped as systemd leaves one for user
 * 1000: user@1000.service is delegated (chowned to the user), with the memory,
 * pids and cpu controllers; the user's terminal runs in a scope under app.slice,
 * an SSH login in a root-owned session scope.
 */
const USER = 1000;
const PID = 4242;
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function cgroup(root: string, rel: string, opts: { owner?: number; procs?: number[]; controllers?: string } = {}): string {
  const dir = path.join(root, rel);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), (opts.procs ?? []).map((p) => `${p}\n`).join(''));
  fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), '');
  fs.writeFileSync(path.join(dir, 'cgroup.controllers'), opts.controllers ?? 'cpu io memory pids');
  for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control']) fs.chownSync(path.join(dir, f), opts.owner ?? 0, opts.owner ?? 0);
  return dir;
}

function fakeSystemdTree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cgroups-'));
  roots.push(root);
  fs.chmodSync(root, 0o755);
  cgroup(root, '');
  cgroup(root, 'user.slice');
  cgroup(root, 'user.slice/user-1000.slice');
  cgroup(root, 'user.slice/user-1000.slice/session-2.scope', { procs: [PID, 1] });
  const delegated = 'user.slice/user-1000.slice/user@1000.service';
  cgroup(root, delegated, { owner: USER, controllers: 'cpu memory pids' });
  cgroup(root, `${delegated}/init.scope`, { owner: USER, procs: [900] });
  cgroup(root, `${delegated}/app.slice`, { owner: USER, controllers: 'cpu memory pids' });
  cgroup(root, `${delegated}/app.slice/terminal.scope`, { owner: USER, procs: [PID, 901], controllers: 'cpu memory pids' });
  cgroup(root, 'system.slice/ci.service', { owner: USER, procs: [PID] });
  return root;
}

function hostIn(root: string, own: string): CgroupHost {
  return {
    mountinfo: `30 1 0:26 / ${root} rw - cgroup2 cgroup2 rw,nsdelegate\n`,
    selfCgroup: `0::${own}\n`,
    uid: USER,
    pid: PID,
    userName: 'alice',
    cgroupMount: root,
  };
}

function placementError(fn: () => unknown): NookError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NookError);
    expect((e as NookError).exitCode).toBe(125);
    return e as NookError;
  }
  throw new Error('no error');
}

// Building the tree needs chown: these run as root (as CI does); a developer's own account skips them.
const asRoot = process.getuid?.() === 0;

describe('delegation and placement (fake cgroup tree)', () => {
  skipAllIf(!asRoot && 'needs real root: the fake cgroup tree has files owned by root and by a user');
  it('sees a directory as delegated only when the user owns it and its cgroup.procs and cgroup.subtree_control', () => {
    const root = fakeSystemdTree();
    const d = path.join(root, 'user.slice/user-1000.slice/user@1000.service');
    expect(isDelegated(d, USER)).toBe(true);
    expect(isDelegated(path.join(root, 'user.slice'), USER)).toBe(false);
    fs.chownSync(path.join(d, 'cgroup.subtree_control'), 0, 0);
    expect(isDelegated(d, USER)).toBe(false);
    expect(isDelegated(path.join(root, 'user.slice'), 0)).toBe(true);
  });

  it('puts the container beside a shared delegated cgroup, enabling controllers from the top of the delegation down', () => {
    const root = fakeSystemdTree();
    const svc = path.join(root, 'user.slice/user-1000.slice/user@1000.service');
    const p = placeCgroup({ memoryBytes: 32 << 20, pidsLimit: 10 }, hostIn(root, '/user.slice/user-1000.slice/user@1000.service/app.slice/terminal.scope'), 'abc');
    expect(p.parent).toBe(path.join(svc, 'app.slice'));
    expect(p.enablePath).toEqual([svc, path.join(svc, 'app.slice')]);
    expect(p.leaf).toBeUndefined();
    expect(p.controllers).toEqual(['memory', 'pids']);
  });

  it('prefers a leaf inside nook\'s own cgroup when nook is alone there (systemd-run --user --scope -p Delegate=yes)', () => {
    const root = fakeSystemdTree();
    const app = 'user.slice/user-1000.slice/user@1000.service/app.slice';
    const scope = cgroup(root, `${app}/run-1.scope`, { owner: USER, procs: [PID], controllers: 'cpu memory pids' });
    const p = placeCgroup({ memoryBytes: 32 << 20 }, hostIn(root, `/${app}/run-1.scope`), 'abc');
    expect(p).toMatchObject({ parent: scope, leaf: path.join(scope, 'nook-abc-supervisor') });
    expect(p.enablePath).toEqual([path.join(root, 'user.slice/user-1000.slice/user@1000.service'), path.join(root, app), scope]);
  });

  it('moves nook into a leaf when it is alone in the top delegated cgroup (a service with Delegate=yes)', () => {
    const root = fakeSystemdTree();
    const p = placeCgroup({ pidsLimit: 10 }, hostIn(root, '/system.slice/ci.service'), 'abc');
    const own = path.join(root, 'system.slice/ci.service');
    expect(p).toMatchObject({ parent: own, enablePath: [own], leaf: path.join(own, 'nook-abc-supervisor') });
  });

  it('says when a top delegated cgroup is shared with other processes', () => {
    const root = fakeSystemdTree();
    fs.writeFileSync(path.join(root, 'system.slice/ci.service/cgroup.procs'), `${PID}\n77\n`);
    const e = placementError(() => placeCgroup({ pidsLimit: 10 }, hostIn(root, '/system.slice/ci.service'), 'abc'));
    expect(e.message).toMatch(/1 other process shares it/);
    expect(e.hint).toMatch(/systemd-run --user --scope -p Delegate=yes/);
  });

  it('says the cgroup is not delegated (an SSH session scope) and how to get one', () => {
    const root = fakeSystemdTree();
    const e = placementError(() => placeCgroup({ memoryBytes: 32 << 20 }, hostIn(root, '/user.slice/user-1000.slice/session-2.scope'), 'abc'));
    expect(e.message).toBe(
      'resource limits (--memory) need a cgroup delegated to you, but nook runs in the cgroup /user.slice/user-1000.slice/session-2.scope, which belongs to root',
    );
    expect(e.hint).toMatch(/systemd-run --user --scope -p Delegate=yes nook run/);
    expect(e.hint).toMatch(/or run without --memory/);
  });

  it('names a controller that is not delegated, its flag, and the systemd drop-in', () => {
    const root = fakeSystemdTree();
    const e = placementError(() =>
      placeCgroup({ ioWeight: 100, pidsLimit: 5 }, hostIn(root, '/user.slice/user-1000.slice/user@1000.service/app.slice/terminal.scope'), 'x'),
    );
    expect(e.message).toMatch(/controller io \(for --blkio-weight\) is not delegated to you: your cgroup \/user\.slice\/user-1000\.slice\/user@1000\.service offers cpu memory pids/);
    expect(e.hint).toMatch(/user@\.service\.d\/delegate\.conf/);
    expect(e.hint).toMatch(/Delegate=cpu cpuset io memory pids/);
  });

  it('fails when nook is not in the cgroup /proc/self/cgroup names (a mount from another cgroup namespace)', () => {
    const root = fakeSystemdTree();
    const e = placementError(() => placeCgroup({ pidsLimit: 5 }, { ...hostIn(root, '/user.slice'), pid: 1 }, 'x'));
    expect(e.message).toMatch(/cannot find nook's own cgroup/);
  });
});

describe('cgroup versions', () => {
  const host = (mountinfo: string): CgroupHost => ({ mountinfo, selfCgroup: '0::/\n', uid: USER, pid: PID, userName: 'alice' });

  it('names cgroup v1 (hybrid) and how to switch to v2', () => {
    const e = placementError(() => placeCgroup({ memoryBytes: 32 << 20 }, host(HYBRID), 'x'));
    expect(e.message).toMatch(/resource limits \(--memory\) need cgroup v2, but this host uses cgroup v1 \(a hybrid setup/);
    expect(e.hint).toMatch(/systemd\.unified_cgroup_hierarchy=1/);
  });

  it('names a pure cgroup v1 host and a host without cgroups', () => {
    expect(placementError(() => placeCgroup({ pidsLimit: 1 }, host(V1), 'x')).message).toMatch(/this host uses cgroup v1$/);
    expect(placementError(() => placeCgroup({ pidsLimit: 1 }, host(''), 'x')).message).toMatch(/no cgroup filesystem is mounted/);
  });

  it('refuses the systemd manager with a clear "not supported yet"', () => {
    const e = placementError(() => createCgroup({ pidsLimit: 5 }, { manager: 'systemd', name: 'x' }));
    expect(e.message).toMatch(/--cgroup-manager systemd is not supported yet/);
    expect(e.hint).toMatch(/cgroupfs/);
  });
});

// This machine itself: on a cgroup v1 or hybrid host, asking for a limit must fail with 125 and say so.
const hostMode = detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8')).mode;
describe(`this host (cgroup ${hostMode})`, () => {
  skipAllIf(hostMode === 'v2' && 'this host has a pure cgroup v2 hierarchy (test/vm tests limits there)');
  it('refuses limits with exit 125 and names cgroup v1', () => {
    const e = placementError(() => createCgroup({ memoryBytes: 32 << 20, pidsLimit: 10 }, { name: 'unit' }));
    expect(e.message).toMatch(/need cgroup v2, but this host uses cgroup v1|no cgroup filesystem/);
    expect(e.message).toMatch(/--memory, --pids-limit/);
  });
});
