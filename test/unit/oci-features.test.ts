/**
 * `nook oci features`: its mount options are exactly MOUNT_OPTIONS' names,
 * MOUNT_OPTIONS maps each onto the right mount(2)/mount_setattr(2) flags, and
 * the JSON has the shape of runc's own `runc features` (compared when runc is
 * installed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipAllIf } from '../helpers/skip';
import { MOUNT_ATTR, MS } from '../../ffi/linux';
import { MOUNT_OPTIONS, MOUNT_SETATTR_RECURSIVE, features } from '../../src/oci/features';
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

/**
 * The kernel's word on the recursive options: a small C program (built here
 * with cc) makes a tree of two tmpfs mounts in a mount namespace of its own,
 * applies options in turn with mount_setattr(2) or mount(2) as MOUNT_OPTIONS
 * says, and prints the lower mount's options from /proc/self/mountinfo.
 */
const mountWhy =
  process.platform !== 'linux'
    ? 'Linux only'
    : spawnSync('cc', ['--version'], { stdio: 'ignore' }).status !== 0
      ? 'needs a C compiler: apt-get install gcc libc6-dev'
      : Number(os.release().split('.')[0]) * 100 + Number(os.release().split('.')[1]) < 512
        ? 'mount_setattr needs Linux 5.12'
        : null;

const MOUNTER = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
static void put(const char *file, const char *text) { int fd = open(file, O_WRONLY); if (fd < 0 || write(fd, text, strlen(text)) < 0) exit(3); close(fd); }
/* The per-mount options and optional fields of the mount at PATH. */
static void show(const char *name, int err, const char *path) {
  FILE *f = fopen("/proc/self/mountinfo", "r"); char line[4096];
  while (fgets(line, sizeof line, f)) {
    char *save, *field[7]; int n = 0;
    for (char *t = strtok_r(line, " ", &save); t && n < 7; t = strtok_r(NULL, " ", &save)) field[n++] = t;
    if (n == 7 && !strcmp(field[4], path)) { printf("%s=%d %s %s\n", name, err, field[5], strcmp(field[6], "-") ? "propagated" : "private"); break; }
  }
  fclose(f);
}
int main(int argc, char **argv) {
  uid_t uid = geteuid(); gid_t gid = getegid();
  if (uid != 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) { perror("unshare"); return 2; }
    char map[64];
    snprintf(map, sizeof map, "0 %u 1", uid); put("/proc/self/uid_map", map);
    put("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", gid); put("/proc/self/gid_map", map);
  } else if (unshare(CLONE_NEWNS) < 0) { perror("unshare"); return 2; }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) { perror("private"); return 2; }
  const char *top = argv[1];
  char sub[4096]; snprintf(sub, sizeof sub, "%s/sub", top);
  if (mount("tmpfs", top, "tmpfs", 0, NULL) < 0 || mkdir(sub, 0755) < 0 || mount("tmpfs", sub, "tmpfs", 0, NULL) < 0) { perror("tmpfs"); return 2; }
  show("start", 0, sub);
  /* Each step: "attr NAME SET CLEAR" (mount_setattr, recursive) or "prop NAME FLAGS" (mount(2)). */
  for (int i = 2; i < argc; i++) {
    long rc;
    if (!strcmp(argv[i], "attr")) {
      const char *name = argv[++i];
      struct mount_attr a = { .attr_set = strtoull(argv[i + 1], 0, 0), .attr_clr = strtoull(argv[i + 2], 0, 0) };
      i += 2;
      rc = syscall(SYS_mount_setattr, AT_FDCWD, top, (unsigned)atoi(argv[++i]), &a, sizeof a);
      show(name, rc < 0 ? errno : 0, sub);
    } else {
      const char *name = argv[++i];
      rc = mount(NULL, top, NULL, strtoul(argv[++i], 0, 0), NULL);
      show(name, rc < 0 ? errno : 0, sub);
    }
  }
  return 0;
}
`;

describe('MOUNT_OPTIONS in the kernel', () => {
  skipAllIf(mountWhy);
  let dir = '';
  let mounter = '';
  beforeAll(() => {
    if (mountWhy) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-oci-mount-'));
    mounter = path.join(dir, 'mounter');
    fs.writeFileSync(`${mounter}.c`, MOUNTER);
    const cc = spawnSync('cc', ['-O1', '-Wall', '-Werror', '-o', mounter, `${mounter}.c`], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
    fs.mkdirSync(path.join(dir, 'top'));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Applies the options in turn; returns each step's "errno options propagation" of the lower mount. */
  function apply(...names: string[]): Record<string, string> {
    const args = names.flatMap((n) => {
      const o = MOUNT_OPTIONS[n];
      if (o.propagation !== undefined) return ['prop', n, String(o.propagation | (o.recursive ? MS.REC : 0))];
      return ['attr', n, String(o.attrSet ?? 0), String(o.attrClear ?? 0), String(MOUNT_SETATTR_RECURSIVE)];
    });
    const r = spawnSync(mounter, [path.join(dir, 'top'), ...args], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  it('applies the r- flag options to the mounts below, and undoes them', () => {
    const got = apply('rro', 'rnosuid', 'rnodev', 'rnoexec', 'rnosymfollow', 'rrw', 'rsuid', 'rdev', 'rexec', 'rsymfollow');
    expect(got.start).toBe('0 rw,relatime private');
    expect(got.rro).toBe('0 ro,relatime private');
    expect(got.rnoexec).toBe('0 ro,nosuid,nodev,noexec,relatime private');
    expect(got.rnosymfollow).toBe('0 ro,nosuid,nodev,noexec,relatime,nosymfollow private');
    expect(got.rrw).toBe('0 rw,nosuid,nodev,noexec,relatime,nosymfollow private');
    expect(got.rsymfollow).toBe('0 rw,relatime private');
  });

  it('sets the atime mode, and goes back to relatime', () => {
    const got = apply('rnoatime', 'ratime', 'rstrictatime', 'rnostrictatime', 'rnodiratime', 'rdiratime', 'rnoatime', 'rrelatime', 'rstrictatime', 'rnorelatime');
    expect(got.rnoatime).toBe('0 rw,noatime private');
    expect(got.ratime).toBe('0 rw,relatime private');
    expect(got.rstrictatime).toBe('0 rw private'); // strictatime: neither relatime nor noatime
    expect(got.rnostrictatime).toBe('0 rw,relatime private');
    expect(got.rnodiratime).toBe('0 rw,nodiratime,relatime private');
    expect(got.rdiratime).toBe('0 rw,relatime private');
    expect(got.rrelatime).toBe('0 rw,relatime private');
    expect(got.rnorelatime).toBe('0 rw,relatime private');
  });

  it('changes propagation, of the mounts below with the r- forms', () => {
    expect(apply('shared').shared).toBe('0 rw,relatime private'); // the top mount only
    expect(apply('rshared').rshared).toBe('0 rw,relatime propagated');
    expect(apply('rshared', 'rprivate').rprivate).toBe('0 rw,relatime private');
    // A slave of a peer group of one has no master left: the kernel makes it private.
    expect(apply('rshared', 'rslave').rslave).toBe('0 rw,relatime private');
    expect(apply('runbindable').runbindable).toBe('0 rw,relatime propagated');
  });
});
