/**
 * `nook oci features`: its mount options are exactly MOUNT_OPTIONS' names,
 * MOUNT_OPTIONS maps each onto the right mount(2)/mount_setattr(2) flags, and
 * the JSON has the shape of runc's own `runc features` (compared when runc is
 * installed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MOUNT_ATTR, MS } from '../../ffi/linux';
import { MOUNT_OPTIONS, features } from '../../src/oci/features';
import { compileOciSeccomp } from '../../src/oci/seccomp';

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => fs.existsSync(p));

/** runc features' JSON, or undefined without runc. */
function runcFeatures(): Record<string, any> | undefined {
  if (!RUNC) return undefined;
  const r = spawnSync(RUNC, ['features'], { encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

type Features = { mountOptions: string[]; linux: { seccomp: { actions: string[]; operators: string[]; archs: string[]; supportedFlags: string[] }; [k: string]: any }; [k: string]: any };

describe('MOUNT_OPTIONS', () => {
  it('are the mount options features() lists', () => {
    const f = features() as Features;
    expect(f.mountOptions).toEqual(Object.keys(MOUNT_OPTIONS).sort());
  });

  it('map flag options onto MS_ flags, each with its opposite', () => {
    const pairs: [string, string, number][] = [
      ['ro', 'rw', MS.RDONLY],
      ['nosuid', 'suid', MS.NOSUID],
      ['nodev', 'dev', MS.NODEV],
      ['noexec', 'exec', MS.NOEXEC],
      ['sync', 'async', MS.SYNCHRONOUS],
      ['mand', 'nomand', MS.MANDLOCK],
      ['noatime', 'atime', MS.NOATIME],
      ['nodiratime', 'diratime', MS.NODIRATIME],
      ['relatime', 'norelatime', MS.RELATIME],
      ['strictatime', 'nostrictatime', MS.STRICTATIME],
      ['iversion', 'noiversion', MS.I_VERSION],
      ['lazytime', 'nolazytime', MS.LAZYTIME],
      ['acl', 'noacl', MS.POSIXACL],
      ['silent', 'loud', MS.SILENT],
      ['nosymfollow', 'symfollow', MS.NOSYMFOLLOW],
    ];
    for (const [on, off, f] of pairs) {
      expect(MOUNT_OPTIONS[on], on).toEqual({ set: f });
      expect(MOUNT_OPTIONS[off], off).toEqual({ clear: f });
    }
    expect(MOUNT_OPTIONS.dirsync).toEqual({ set: MS.DIRSYNC });
    expect(MOUNT_OPTIONS.remount).toEqual({ set: MS.REMOUNT });
    expect(MOUNT_OPTIONS.defaults).toEqual({});
  });

  it('map binds and propagation, recursive with the r- forms', () => {
    expect(MOUNT_OPTIONS.bind).toEqual({ bind: true });
    expect(MOUNT_OPTIONS.rbind).toEqual({ bind: true, recursive: true });
    for (const [name, p] of [['private', MS.PRIVATE], ['shared', MS.SHARED], ['slave', MS.SLAVE], ['unbindable', MS.UNBINDABLE]] as const) {
      expect(MOUNT_OPTIONS[name], name).toEqual({ propagation: p });
      expect(MOUNT_OPTIONS[`r${name}`], `r${name}`).toEqual({ propagation: p, recursive: true });
    }
  });

  it('map recursive flag options onto mount_setattr attributes, atime modes with their field cleared', () => {
    const attr: [string, number, number][] = [
      ['rro', MOUNT_ATTR.RDONLY, 0],
      ['rrw', 0, MOUNT_ATTR.RDONLY],
      ['rnosuid', MOUNT_ATTR.NOSUID, 0],
      ['rsuid', 0, MOUNT_ATTR.NOSUID],
      ['rnodev', MOUNT_ATTR.NODEV, 0],
      ['rdev', 0, MOUNT_ATTR.NODEV],
      ['rnoexec', MOUNT_ATTR.NOEXEC, 0],
      ['rexec', 0, MOUNT_ATTR.NOEXEC],
      ['rnodiratime', MOUNT_ATTR.NODIRATIME, 0],
      ['rdiratime', 0, MOUNT_ATTR.NODIRATIME],
      ['rnosymfollow', MOUNT_ATTR.NOSYMFOLLOW, 0],
      ['rsymfollow', 0, MOUNT_ATTR.NOSYMFOLLOW],
      ['rnoatime', MOUNT_ATTR.NOATIME, MOUNT_ATTR._ATIME],
      ['ratime', MOUNT_ATTR.RELATIME, MOUNT_ATTR._ATIME],
      ['rrelatime', MOUNT_ATTR.RELATIME, MOUNT_ATTR._ATIME],
      ['rnorelatime', MOUNT_ATTR.RELATIME, MOUNT_ATTR._ATIME],
      ['rstrictatime', MOUNT_ATTR.STRICTATIME, MOUNT_ATTR._ATIME],
      ['rnostrictatime', MOUNT_ATTR.RELATIME, MOUNT_ATTR._ATIME],
    ];
    for (const [name, set, clear] of attr) {
      const o = MOUNT_OPTIONS[name];
      expect(o.recursive, name).toBe(true);
      expect([o.attrSet, o.attrClear], name).toEqual([set, clear]);
      // The MS_ flags are those of the option without the r.
      const plain = MOUNT_OPTIONS[name.slice(1)];
      expect({ set: o.set, clear: o.clear }, name).toEqual({ set: plain.set, clear: plain.clear });
    }
    const recursiveFlags = Object.entries(MOUNT_OPTIONS).filter(([, o]) => o.recursive && !o.bind && o.propagation === undefined);
    expect(recursiveFlags.map(([n]) => n).sort()).toEqual(attr.map(([n]) => n).sort());
  });
});

describe('features()', () => {
  it('names only seccomp actions, operators and flags nook compiles', () => {
    const s = (features() as Features).linux.seccomp;
    for (const action of s.actions) expect(() => compileOciSeccomp({ defaultAction: action }, 'x86_64'), action).not.toThrow();
    for (const op of s.operators)
      expect(() => compileOciSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op }] }] }, 'x86_64'), op).not.toThrow();
    expect(() => compileOciSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: s.archs, flags: s.supportedFlags }, 'x86_64')).not.toThrow();
    expect(s.actions).not.toContain('SCMP_ACT_NOTIFY');
  });

  it('has the shape of runc features, with what nook does', (ctx) => {
    const runc = runcFeatures();
    if (!runc) return ctx.skip('runc is not installed');
    const f = features() as Features;
    expect(Object.keys(f)).toEqual(Object.keys(runc));
    expect(Object.keys(f.linux)).toEqual(Object.keys(runc.linux));
    expect(Object.keys(f.linux.cgroup)).toEqual(Object.keys(runc.linux.cgroup));
    expect(f.hooks).toEqual(runc.hooks);
    expect(f.linux.namespaces).toEqual(runc.linux.namespaces);
    expect(f.linux.capabilities).toEqual(runc.linux.capabilities);
    // runc's mount options less tmpcopyup, a copy runc makes itself rather than a mount flag.
    expect(f.mountOptions).toEqual(runc.mountOptions.filter((o: string) => o !== 'tmpcopyup'));
    expect(f.linux.seccomp.operators).toEqual(runc.linux.seccomp.operators);
    expect(f.linux.seccomp.actions).toEqual(runc.linux.seccomp.actions.filter((a: string) => a !== 'SCMP_ACT_NOTIFY'));
    expect(f.linux.seccomp.archs).toEqual(expect.arrayContaining(runc.linux.seccomp.archs));
  });
});
