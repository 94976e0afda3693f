/**
 * The compiled filters, loaded by the kernel: test/helpers/seccomp-run.c (built
 * here with cc) installs a filter with seccomp(SECCOMP_SET_MODE_FILTER), which
 * checks the program, then tries system calls under it. Skipped where there
 * is no C compiler or no seccomp.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipAllIf } from '../helpers/skip';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileSeccomp, defaultProfile, hostSeccompArch } from '../../src/sandbox/seccomp';
import type { SeccompProfile } from '../../src/sandbox/seccomp';

const DOCKER_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const supported =
  process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64') && /^Seccomp:/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
const haveCc = supported && spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;
const x86 = process.arch === 'x64';

const whySkip = !supported
  ? 'nook compiles seccomp filters for x86_64 and arm64 Linux with seccomp only'
  : !haveCc
    ? 'needs a C compiler for its helper: apt-get install gcc libc6-dev'
    : null;

describe('seccomp filters in the kernel', () => {
  skipAllIf(whySkip);
  let dir = '';
  let helper = '';

  beforeAll(() => {
    if (whySkip) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-seccomp-kernel-'));
    helper = path.join(dir, 'seccomp-run');
    const src = path.join(__dirname, '../helpers/seccomp-run.c');
    const cc = spawnSync('cc', ['-O1', '-Wall', '-Werror', '-o', helper, src], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Installs the filter compiled from `profile`, runs the commands; returns "name=errno" results in order. */
  function run(profile: SeccompProfile, caps: string[], ...cmds: string[]) {
    const filter = path.join(dir, `filter-${Math.random().toString(36).slice(2)}.bin`);
    fs.writeFileSync(filter, compileSeccomp(profile, hostSeccompArch(), caps));
    const r = spawnSync(helper, [filter, ...cmds], { encoding: 'utf8', cwd: dir });
    const results = r.stdout.trim().split('\n').filter(Boolean);
    return { status: r.status, signal: r.signal, results, stderr: r.stderr };
  }

  it('a small profile loads and works: defaultAction ALLOW, mkdirat refused with EACCES', () => {
    const profile: SeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
    const r = run(profile, [], 'mkdirat', 'a', 'getpid', ...(x86 ? ['mkdir', 'b', 'x32-getpid'] : []));
    expect(r.status, r.stderr).toBe(0);
    expect(r.results).toEqual(['load=0', 'mkdirat=13', 'getpid=0', ...(x86 ? ['mkdir=0', 'x32-getpid=1'] : [])]);
    expect(fs.existsSync(path.join(dir, 'a'))).toBe(false);
    if (x86) expect(fs.existsSync(path.join(dir, 'b'))).toBe(true);
  });

  it("docker's default profile loads, refuses what it should, and lets a program exec", () => {
    // A distinctive errno for the default action shows the refusals come from the filter.
    const marked: SeccompProfile = { ...defaultProfile(), defaultErrnoRet: 77 };
    const cmds = ['getpid', 'mkdirat', 'c', 'keyctl', 'unshare-user', 'clone-newuser', 'socket', '40', 'socket', '1', 'personality', '0', 'personality', '0x40000'];
    const r = run(marked, DOCKER_CAPS, ...cmds, ...(x86 ? ['x32-getpid'] : []), 'exec', '/bin/true');
    expect(r.status, r.stderr).toBe(0);
    expect(r.results).toEqual([
      'load=0', 'getpid=0', 'mkdirat=0', 'keyctl=77', 'unshare-user=77', 'clone-newuser=77', 'socket=77', 'socket=0', 'personality=0', 'personality=77',
      ...(x86 ? ['x32-getpid=77'] : []),
    ]);

    const real = run(defaultProfile(), DOCKER_CAPS, 'keyctl', 'exec', '/bin/true');
    expect(real.status, real.stderr).toBe(0);
    expect(real.results).toEqual(['load=0', 'keyctl=1']);
  });

  it('CAP_SYS_ADMIN unlocks unshare', () => {
    const admin = run({ ...defaultProfile(), defaultErrnoRet: 77 }, [...DOCKER_CAPS, 'CAP_SYS_ADMIN'], 'unshare-user');
    expect(admin.results[0]).toBe('load=0');
    expect(admin.results[1]).not.toBe('unshare-user=77');
  });

  it('kills a process that makes an i386 system call (int 0x80)', (ctx) => {
    if (!x86) ctx.skip('i386 system calls exist on x86_64 only');
    // Some kernels (and hypervisors) give no i386 entry at all: int 0x80 faults before seccomp sees it.
    const bare = spawnSync(helper, ['-', 'int80-getpid'], { encoding: 'utf8', cwd: dir });
    if (bare.signal === 'SIGSEGV') ctx.skip('this kernel has no i386 system call entry (int 0x80 faults without a filter)');
    expect(bare.stdout.trim()).toBe('int80-getpid=0');
    const r = run(defaultProfile(), DOCKER_CAPS, 'getpid', 'int80-getpid', 'getpid');
    expect(r.results).toEqual(['load=0', 'getpid=0']);
    expect(r.signal).toBe('SIGSYS');
  });
});
