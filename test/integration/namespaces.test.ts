/**
 * What the sandbox is made of: its own pid, user (with the right id maps),
 * uts, mount, ipc, cgroup and network namespaces.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { sandbox, sandboxSh, show } from '../helpers/nook';
import { isRoot, need, SUB_RANGE, testUsers } from '../helpers/users';

/** An id map file's lines, with the kernel's column padding squeezed. */
function mapLines(text: string): string[] {
  return text.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
}

/** Runs `cat /proc/self/{uid,gid}_map` and `id` inside; returns the maps and ids. */
async function idsInside(flags: string[], user = testUsers().any) {
  const r = await sandboxSh('cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g', flags, { user });
  expect(r.code, show(r)).toBe(0);
  const [uidMap, gidMap, ids] = r.stdout.split('--\n');
  const [uid, gid] = ids.trim().split('\n').map(Number);
  return { uidMap: mapLines(uidMap), gidMap: mapLines(gidMap), uid, gid };
}

const NAMESPACES = ['user', 'mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup'] as const;

async function namespacesInside(flags: string[]): Promise<Record<string, string>> {
  const r = await sandboxSh(NAMESPACES.map((ns) => `echo ${ns}=$(readlink /proc/self/ns/${ns})`).join('; '), flags);
  expect(r.code, show(r)).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=')));
}

describe('pid namespace', () => {
  it('the command is pid 1', async () => {
    const r = await sandboxSh('echo $$');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('1\n');
  });

  it('only the sandbox\'s processes are visible in /proc', async () => {
    const r = await sandboxSh('ls -d /proc/[0-9]*');
    expect(r.code, show(r)).toBe(0);
    // sh (1) and ls, nothing of the host's hundreds of processes.
    expect(r.stdout.trim().split('\n').length).toBeLessThanOrEqual(2);
    expect(r.stdout).toMatch(/^\/proc\/1$/m);
  });
});

describe('namespaces', () => {
  it('every namespace differs from the host\'s', async () => {
    const inside = await namespacesInside([]);
    for (const ns of NAMESPACES) expect(inside[ns], ns).not.toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
  });

  it('--network host shares only the host\'s network namespace', async () => {
    const inside = await namespacesInside(['--network', 'host']);
    expect(inside.net).toBe(fs.readlinkSync('/proc/self/ns/net'));
    for (const ns of NAMESPACES.filter((n) => n !== 'net')) expect(inside[ns], ns).not.toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
  });
});

describe('user namespace id maps', () => {
  it('with subordinate ids: root is the user, 1..65536 the subordinate range', async (ctx) => {
    const user = need(ctx, 'sub');
    const [su, sg] = [user.subUids!, user.subGids!];
    if (isRoot) expect([su, sg]).toEqual([SUB_RANGE, SUB_RANGE]); // 1 200000 65536, as the harness set it up
    const m = await idsInside([], user);
    expect(m.uidMap).toEqual([`0 ${user.uid} 1`, `1 ${su.start} ${su.count}`]);
    expect(m.gidMap).toEqual([`0 ${user.gid} 1`, `1 ${sg.start} ${sg.count}`]);
    expect([m.uid, m.gid]).toEqual([0, 0]);
  });

  it('without subordinate ids: only the user, as root', async (ctx) => {
    const user = need(ctx, 'nosub');
    const m = await idsInside([], user);
    expect(m.uidMap).toEqual([`0 ${user.uid} 1`]);
    expect(m.gidMap).toEqual([`0 ${user.gid} 1`]);
    expect([m.uid, m.gid]).toEqual([0, 0]);
    const r = await sandbox(['cat', '/proc/self/setgroups'], [], { user });
    expect(r.stdout).toBe('deny\n');
  });

  it('--userns keep-id with subordinate ids: own ids kept, subordinate ranges around them', async (ctx) => {
    const user = need(ctx, 'sub');
    const m = await idsInside(['--userns', 'keep-id'], user);
    expect([m.uid, m.gid]).toEqual([user.uid, user.gid]);
    // podman's layout: 0.. from the range, then the own id, then the rest of the range.
    const around = (own: number, sub: { start: number; count: number }) => [
      `0 ${sub.start} ${own}`,
      `${own} ${own} 1`,
      `${own + 1} ${sub.start + own} ${sub.count - own}`,
    ];
    expect(m.uidMap).toEqual(around(user.uid, user.subUids!));
    expect(m.gidMap).toEqual(around(user.gid, user.subGids!));
  });

  it('--userns keep-id without subordinate ids: the user maps to itself only', async (ctx) => {
    const user = need(ctx, 'nosub');
    const m = await idsInside(['--userns', 'keep-id'], user);
    expect([m.uid, m.gid]).toEqual([user.uid, user.gid]);
    expect(m.uidMap).toEqual([`${user.uid} ${user.uid} 1`]);
    expect(m.gidMap).toEqual([`${user.gid} ${user.gid} 1`]);
  });

  it('--userns with another mode is refused', async () => {
    const r = await sandbox(['true'], ['--userns', 'host']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('--userns');
  });

  it('as real root: the identity map over all ids', async (ctx) => {
    const root = need(ctx, 'root');
    const m = await idsInside([], root);
    expect(m.uidMap).toEqual(['0 0 4294967295']);
    expect(m.gidMap).toEqual(['0 0 4294967295']);
    expect([m.uid, m.gid]).toEqual([0, 0]);
  });
});

describe('uts namespace', () => {
  it('-h sets the hostname, and the host\'s stays as it was', async () => {
    const before = os.hostname();
    const r = await sandboxSh('hostname; cat /proc/sys/kernel/hostname; echo $HOSTNAME', ['-h', 'myhost']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('myhost\nmyhost\nmyhost\n');
    expect(os.hostname()).toBe(before);
  });

  it('--hostname is the long form', async () => {
    const r = await sandbox(['hostname'], ['--hostname', 'other-name']);
    expect(r.stdout).toBe('other-name\n');
  });

  it('by default the hostname is a random 12-hex-digit id, and HOSTNAME matches it', async () => {
    const runs = await Promise.all([0, 1].map(() => sandboxSh('hostname; echo $HOSTNAME')));
    const names = runs.map((r) => {
      expect(r.code, show(r)).toBe(0);
      const [hostname, env] = r.stdout.trim().split('\n');
      expect(hostname).toMatch(/^[0-9a-f]{12}$/);
      expect(env).toBe(hostname);
      return hostname;
    });
    expect(names[0]).not.toBe(names[1]);
  });

  it('a hostname longer than 64 characters is refused', async () => {
    const r = await sandbox(['true'], ['-h', 'x'.repeat(65)]);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('64');
  });
});

describe('network namespace', () => {
  it('by default there is only the loopback interface, and it is up with 127.0.0.1', async () => {
    const r = await sandboxSh('ls /sys/class/net; echo --; cat /sys/class/net/lo/flags; echo --; ip addr show lo');
    expect(r.code, show(r)).toBe(0);
    const [ifaces, flags, addr] = r.stdout.split('--\n');
    expect(ifaces.trim().split(/\s+/)).toEqual(['lo']);
    expect(Number(flags.trim()) & 0x1).toBe(0x1); // IFF_UP
    expect(addr).toMatch(/<[^>]*\bUP\b[^>]*>/);
    expect(addr).toContain('inet 127.0.0.1/8');
  });

  it('--network host sees the host\'s interfaces', async () => {
    const host = fs.readdirSync('/sys/class/net').sort();
    for (const flag of ['--network', '--net']) {
      const r = await sandbox(['ls', '/sys/class/net'], [flag, 'host']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout.trim().split(/\s+/).sort()).toEqual(host);
    }
  });

  it('an unknown network mode is refused', async () => {
    const r = await sandbox(['true'], ['--network', 'bridge']);
    expect(r.code, show(r)).toBe(125);
    expect(r.stderr).toContain('bridge');
  });
});
