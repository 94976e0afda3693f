/**
 * What the sandboxed process may do, as it sees it: capability sets,
 * no_new_privs, the seccomp filter, masked and read-only /proc and /sys
 * paths, resource limits from --ulimit, and nook's own executable out of reach.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { registryWithTestImages } from '../helpers/images';
import { runNook, sandboxSh, show } from '../helpers/nook';
import { NOOK } from '../helpers/paths';
import { scratchDir } from '../helpers/files';
import { isRoot, need } from '../helpers/users';

/** The capability sets and NoNewPrivs/Seccomp lines of /proc/self/status, as the command sees them. */
async function status(flags: string[] = [], user?: string): Promise<Record<string, string>> {
  const r = await sandboxSh('grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status', [...flags, ...(user ? ['-u', user] : [])]);
  expect(r.code, show(r)).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
}

// docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
const DOCKER_DEFAULT = '00000000a80425fb';

describe('capabilities', () => {
  it("are docker's default set, with no ambient ones", async () => {
    const s = await status();
    expect(s).toMatchObject({ CapEff: DOCKER_DEFAULT, CapPrm: DOCKER_DEFAULT, CapBnd: DOCKER_DEFAULT, CapAmb: '0000000000000000', CapInh: '0000000000000000' });
  });

  it('--cap-drop ALL leaves none; --cap-add adds one; drop then add keeps only the added', async () => {
    expect((await status(['--cap-drop', 'ALL'])).CapBnd).toBe('0000000000000000');
    expect((await status(['--cap-add', 'NET_ADMIN'])).CapEff).toBe('00000000a80435fb');
    expect((await status(['--cap-drop', 'ALL', '--cap-add', 'cap_kill'])).CapEff).toBe('0000000000000020');
    expect((await status(['--cap-drop', 'CHOWN'])).CapEff).toBe('00000000a80425fa');
  });

  it('--privileged keeps them all, without seccomp', async () => {
    const s = await status(['--privileged']);
    expect(BigInt(`0x${s.CapEff}`) & 0x3fffffffffn).toBe(0x3fffffffffn); // at least CHOWN..AUDIT_READ (0-37)
    expect(s.Seccomp).toBe('0');
  });

  it('a non-root user gets none, within the same bounding set', async () => {
    const s = await status([], '1000');
    expect(s).toMatchObject({ CapEff: '0000000000000000', CapPrm: '0000000000000000', CapBnd: DOCKER_DEFAULT });
  });

  it('an unknown capability is refused with the list hint', async () => {
    const r = await sandboxSh('true', ['--cap-add', 'SUPERPOWER']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/unknown capability "SUPERPOWER"/);
  });
});

describe('no_new_privs and seccomp', () => {
  it('no_new_privs is set and a seccomp filter installed by default', async () => {
    expect(await status()).toMatchObject({ NoNewPrivs: '1', Seccomp: '2' });
    expect((await status(['--security-opt', 'no-new-privileges=false'])).NoNewPrivs).toBe('0');
    expect((await status(['--security-opt', 'seccomp=unconfined'])).Seccomp).toBe('0');
  });

  it('blocks what docker blocks (a new user namespace) and allows the rest', async () => {
    // The write goes to a tmpfs: the shared test rootfs is never written (a stray file there breaks image imports of it).
    const r = await sandboxSh('unshare -U true; echo unshare=$?; echo ok > /tmp/f && cat /tmp/f', ['--tmpfs', '/tmp']);
    expect(r.stdout).toMatch(/unshare=1\nok\n$/);
    expect(r.stderr).toMatch(/Operation not permitted/);
    const free = await sandboxSh('unshare -U true; echo unshare=$?', ['--security-opt', 'seccomp=unconfined']);
    expect(free.stdout).toBe('unshare=0\n');
  });

  it('takes a docker-format profile', async (ctx) => {
    const user = need(ctx, 'sub');
    const dir = scratchDir(user);
    const file = path.join(dir, 'profile.json');
    require('node:fs').writeFileSync(
      file,
      JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }),
    );
    const r = await sandboxSh('mkdir /tmp/x; echo rc=$?', ['--security-opt', `seccomp=${file}`], { user });
    expect(r.stdout).toBe('rc=1\n');
    expect(r.stderr).toMatch(/Permission denied/);
    const bad = await sandboxSh('true', ['--security-opt', `seccomp=${path.join(dir, 'missing.json')}`], { user });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/missing\.json/);
  });
});

describe('masked and read-only paths', () => {
  it('hide kernel internals and keep kernel settings read-only', async () => {
    const r = await sandboxSh(
      'wc -c < /proc/keys; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null; echo write=$?; echo h > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?',
    );
    expect(r.stdout).toBe('0\n0\nwrite=1\nsysrq=1\n');
  });

  it('are left alone with --privileged', async () => {
    const r = await sandboxSh('ls /sys/firmware | wc -l', ['--privileged']);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
  });
});

describe('resource limits on this host', () => {
  it('without cgroup v2: refused up front with exit 125 and what to do (the limits themselves are tested in test/vm)', async (ctx) => {
    if (require('node:fs').existsSync('/sys/fs/cgroup/cgroup.controllers')) ctx.skip('this host has a pure cgroup v2 hierarchy');
    const r = await sandboxSh('echo ran', ['--memory', '32m']);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/need cgroup v2, but this host uses cgroup v1/);
    expect(r.stderr).toMatch(/systemd\.unified_cgroup_hierarchy=1/);
    const none = await sandboxSh('echo ran');
    expect(none.stdout).toBe('ran\n');
  });
});

describe('--ulimit', () => {
  it('sets the limit the command sees', async () => {
    const r = await sandboxSh('ulimit -n; ulimit -Hn', ['--ulimit', 'nofile=64:128']);
    expect(r.stdout).toBe('64\n128\n');
    const bad = await sandboxSh('true', ['--ulimit', 'files=1']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/NAME one of/);
  });
});

describe("nook's own process and executable", () => {
  it('no descriptor of nook reaches the command, and no process inside is nook', async () => {
    const r = await sandboxSh('ls /proc/self/fd | sort -n | tr "\\n" " "; echo; for p in /proc/[0-9]*; do readlink $p/exe; done');
    expect(r.stdout.split('\n')[0]).toBe('0 1 2 3 '); // 3: ls reading the directory
    expect(r.stdout).not.toMatch(/nook/);
  });

  it("the executable can't be written from inside, even where the host's files are visible", async () => {
    const r = await runNook(['run', '--rootfs', '/', '--', 'sh', '-c', `echo x >> ${NOOK}; echo rc=$?; cat /proc/self/status | grep NoNewPrivs`]);
    expect(r.stdout).toMatch(/^rc=[12]\n/);
    // As root, the test user does not own build/nook. Run by the user who built it, the container is
    // root over that user's files, and the kernel refuses writing to the running executable.
    expect(r.stderr).toMatch(isRoot ? /Read-only file system|Permission denied/ : /Read-only file system|Permission denied|Text file busy/);
  });
});

describe('setuid binaries', () => {
  const fixture = registryWithTestImages();

  it('gain nothing under no_new_privs; without it a setuid-root binary does', async (ctx) => {
    const user = need(ctx, 'sub');
    const root = path.join(scratchDir(user, 'store-'), 'nook');
    const opts = { user, env: { NOOK_ROOT: root }, timeoutMs: 60_000 };
    const r = await runNook(['run', '--tls-verify=false', '-u', '1000', fixture.images.layers, '/opt/euid'], opts);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('1000\n');
    const nnpOff = await runNook(['run', '--security-opt', 'no-new-privileges=false', '-u', '1000', fixture.images.layers, '/opt/euid'], opts);
    expect(nnpOff.stdout).toBe('0\n');
  });
});
