import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileOciSeccomp, ociSeccompProfile, type OciSeccomp } from '../../src/oci/seccomp';
import { AUDIT_ARCH, SECCOMP_RET, compileSeccomp, syscallTable, type SeccompArch } from '../../src/sandbox/seccomp/bpf';
import { defaultProfile, type SeccompFilter } from '../../src/sandbox/seccomp';
import { NookError } from '../../src/errors';
import { check, decode, runInsns } from '../helpers/cbpf';
import { skipAllIf } from '../helpers/skip';

const ALLOW = SECCOMP_RET.ALLOW;
const errno = (e: number) => SECCOMP_RET.ERRNO | e;
const EPERM = errno(1);

/** The compiled filter, checked as the kernel checks it, with a way to run a call through it. */
function compile(s: unknown, arch: SeccompArch = 'x86_64') {
  const { filter, flags } = compileOciSeccomp(s, arch);
  const insns = decode(filter);
  check(insns);
  const table = syscallTable(arch);
  const call = (name: string, ...args: (number | bigint)[]) => {
    if (!(name in table)) throw new Error(`no syscall ${name} on ${arch}`);
    return runInsns(insns, { arch: AUDIT_ARCH[arch], nr: table[name], args }).ret;
  };
  return { call, flags, raw: (arch: number, nr: number) => runInsns(insns, { arch, nr }).ret };
}

/** The NookError that compiling `s` throws. */
function error(s: unknown): NookError {
  try {
    compileOciSeccomp(s, 'x86_64');
  } catch (e) {
    expect(e).toBeInstanceOf(NookError);
    expect((e as NookError).hint).toBeTruthy();
    return e as NookError;
  }
  throw new Error(`no error for ${JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
}

describe('OCI seccomp', () => {
  it('allows the listed calls and refuses the rest with the default action', () => {
    const f = compile({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['getpid'], action: 'SCMP_ACT_KILL' },
        { names: ['getppid'], action: 'SCMP_ACT_KILL_PROCESS' },
        { names: ['gettid'], action: 'SCMP_ACT_TRAP' },
        { names: ['uname'], action: 'SCMP_ACT_LOG' },
        { names: ['getuid'], action: 'SCMP_ACT_TRACE' },
        { names: ['getgid'], action: 'SCMP_ACT_KILL_THREAD' },
      ],
    });
    expect(f.call('read')).toBe(ALLOW);
    expect(f.call('exit_group')).toBe(ALLOW);
    expect(f.call('openat')).toBe(EPERM);
    expect(f.call('mkdirat')).toBe(errno(13));
    expect(f.call('getpid')).toBe(SECCOMP_RET.KILL_THREAD); // libseccomp's SCMP_ACT_KILL
    expect(f.call('getppid')).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(f.call('gettid')).toBe(SECCOMP_RET.TRAP);
    expect(f.call('uname')).toBe(SECCOMP_RET.LOG);
    expect(f.call('getuid')).toBe(errno(38)); // no tracer: ENOSYS
    expect(f.call('getgid')).toBe(SECCOMP_RET.KILL_THREAD);
    expect(f.flags).toBe(0);
  });

  it('returns defaultErrnoRet for the default action', () => {
    const f = compile({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
    expect(f.call('read')).toBe(ALLOW);
    expect(f.call('write')).toBe(errno(38));
  });

  it('refuses with an allow default and only the listed calls denied', () => {
    const f = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount', 'umount2'], action: 'SCMP_ACT_ERRNO' }] });
    expect(f.call('mount')).toBe(EPERM);
    expect(f.call('umount2')).toBe(EPERM);
    expect(f.call('read')).toBe(ALLOW);
  });

  it('compares arguments with every operator, on all 64 bits', () => {
    const rule = (op: string, value: number | bigint, valueTwo?: number | bigint) => ({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 0, value, ...(valueTwo === undefined ? {} : { valueTwo }), op }] }],
    });
    const denied = (s: unknown, ...values: (number | bigint)[]) => values.map((v) => compile(s).call('personality', v) === errno(22));
    expect(denied(rule('SCMP_CMP_EQ', 8), 8, 7, 0x1_0000_0008n)).toEqual([true, false, false]);
    expect(denied(rule('SCMP_CMP_NE', 8), 8, 7, 0x1_0000_0008n)).toEqual([false, true, true]);
    expect(denied(rule('SCMP_CMP_LT', 8), 7, 8, 9, 0)).toEqual([true, false, false, true]);
    expect(denied(rule('SCMP_CMP_LE', 8), 7, 8, 9, 0x1_0000_0000n)).toEqual([true, true, false, false]);
    expect(denied(rule('SCMP_CMP_GT', 8), 7, 8, 9, 0x1_0000_0000n)).toEqual([false, false, true, true]);
    expect(denied(rule('SCMP_CMP_GE', 8), 7, 8, 9)).toEqual([false, true, true]);
    expect(denied(rule('SCMP_CMP_MASKED_EQ', 0xff, 0x08), 0x08, 0x108, 0x09, 0)).toEqual([true, true, false, false]);
    expect(denied(rule('SCMP_CMP_EQ', 18446744073709551615n), 18446744073709551615n, 0xffffffff)).toEqual([true, false]);
  });

  it('ANDs conditions on distinct arguments, and ORs repeated ones as runc does', () => {
    const and = compile({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }, { index: 1, value: 1, op: 'SCMP_CMP_EQ' }] }],
    });
    expect(and.call('socket', 40, 1)).toBe(EPERM);
    expect(and.call('socket', 40, 2)).toBe(ALLOW);
    expect(and.call('socket', 2, 1)).toBe(ALLOW);
    const s = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
    };
    expect(ociSeccompProfile(s).profile.syscalls).toHaveLength(2);
    const or = compile(s);
    expect(or.call('personality', 0)).toBe(ALLOW);
    expect(or.call('personality', 8)).toBe(ALLOW);
    expect(or.call('personality', 1)).toBe(EPERM);
  });

  it('skips system call names the architecture does not have, as runc does', () => {
    const s = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['no_such_call', 'arch_prctl', 'read'], action: 'SCMP_ACT_ALLOW' }, { names: [], action: 'SCMP_ACT_ALLOW' }] };
    const x = compile(s, 'x86_64');
    expect(x.call('read')).toBe(ALLOW);
    expect(x.call('arch_prctl')).toBe(ALLOW);
    expect(compile(s, 'aarch64').call('read')).toBe(ALLOW); // arch_prctl is x86 only
  });

  it('kills calls of other ABIs, whatever architectures lists', () => {
    const f = compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'] });
    expect(f.raw(0x40000003, 3)).toBe(SECCOMP_RET.KILL_PROCESS); // AUDIT_ARCH_I386
    expect(f.raw(AUDIT_ARCH.x86_64, 0)).toBe(ALLOW);
  });

  it('turns flags into the seccomp(2) flags argument', () => {
    expect(compile({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] }).flags).toBe(2);
    expect(compile({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_LOG'] }).flags).toBe(6);
    expect(compile({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC'] }).flags).toBe(0);
  });

  it('reads JSON nulls as left out', () => {
    const f = compile({ defaultAction: 'SCMP_ACT_ERRNO', architectures: null, flags: null, listenerPath: '', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: null, args: null }] });
    expect(f.call('read')).toBe(ALLOW);
  });

  it('names the field nook cannot honour', () => {
    const base: OciSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    const withRule = (r: object) => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['write'], action: 'SCMP_ACT_ALLOW', ...r }] });
    const cases: [unknown, RegExp][] = [
      [[], /^linux\.seccomp: expected an object, found a list/],
      [{ syscalls: [] }, /^linux\.seccomp\.defaultAction: missing/],
      [{ defaultAction: 'SCMP_ACT_NOTIFY' }, /^linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent/],
      [{ ...base, defaultAction: 'SCMP_ACT_DENY' }, /^linux\.seccomp\.defaultAction: unknown action the string "SCMP_ACT_DENY"/],
      [{ ...base, listenerPath: '/run/agent.sock' }, /^linux\.seccomp\.listenerPath: seccomp agents \(SCMP_ACT_NOTIFY\) are not supported/],
      [{ ...base, defaultErrnoRet: 5000 }, /^linux\.seccomp\.defaultErrnoRet: expected an errno number from 0 to 4095, found the number 5000/],
      [{ ...base, defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1 }, /^linux\.seccomp\.defaultErrnoRet: only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW/],
      [{ ...base, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX'] }, /^linux\.seccomp\.architectures\[1\]: unknown architecture the string "SCMP_ARCH_VAX"/],
      [{ ...base, architectures: 'SCMP_ARCH_X86_64' }, /^linux\.seccomp\.architectures: expected a list of strings/],
      [{ ...base, flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }, /^linux\.seccomp\.flags\[0\]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported/],
      [{ ...base, flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_FAST'] }, /^linux\.seccomp\.flags\[1\]: unknown flag the string "SECCOMP_FILTER_FLAG_FAST"/],
      [{ ...base, syscalls: {} }, /^linux\.seccomp\.syscalls: expected a list, found an object/],
      [withRule({ action: 'SCMP_ACT_NOTIFY' }), /^linux\.seccomp\.syscalls\[1\]\.action: SCMP_ACT_NOTIFY needs a seccomp agent/],
      [withRule({ action: 'SCMP_ACT_KILL_ALL' }), /^linux\.seccomp\.syscalls\[1\]\.action: unknown action the string "SCMP_ACT_KILL_ALL"/],
      [withRule({ action: undefined }), /^linux\.seccomp\.syscalls\[1\]\.action: missing/],
      [withRule({ names: 'write' }), /^linux\.seccomp\.syscalls\[1\]\.names: expected a list of strings, found the string "write"/],
      [withRule({ names: ['write', 1] }), /^linux\.seccomp\.syscalls\[1\]\.names\[1\]: expected a string, found the number 1/],
      [withRule({ errnoRet: 1 }), /^linux\.seccomp\.syscalls\[1\]\.errnoRet: only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW/],
      [withRule({ action: 'SCMP_ACT_ERRNO', errnoRet: -1 }), /^linux\.seccomp\.syscalls\[1\]\.errnoRet: expected an errno number/],
      [withRule({ args: {} }), /^linux\.seccomp\.syscalls\[1\]\.args: expected a list, found an object/],
      [withRule({ args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.index: expected 0 to 5, found the number 6/],
      [withRule({ args: [{ value: 0, op: 'SCMP_CMP_EQ' }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.index: missing/],
      [withRule({ args: [{ index: 0, op: 'SCMP_CMP_EQ' }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.value: missing/],
      [withRule({ args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.value: expected an unsigned integer, found the number -1/],
      [withRule({ args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.value: \d+ is above 2\^53/],
      [withRule({ args: [{ index: 0, value: 1n << 64n, op: 'SCMP_CMP_EQ' }] }), /args\[0\]\.value: 18446744073709551616 does not fit/],
      [withRule({ args: [{ index: 0, value: 1, valueTwo: '1', op: 'SCMP_CMP_MASKED_EQ' }] }), /args\[0\]\.valueTwo: expected an unsigned integer, found the string "1"/],
      [withRule({ args: [{ index: 0, value: 1, op: 'SCMP_CMP_BETWEEN' }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.op: unknown operator the string "SCMP_CMP_BETWEEN"/],
      [withRule({ args: [{ index: 0, value: 1 }] }), /^linux\.seccomp\.syscalls\[1\]\.args\[0\]\.op: missing/],
    ];
    for (const [s, message] of cases) expect(error(s).message, JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toMatch(message);
  });
});

/**
 * Docker's default profile as an OCI config carries it: podman and containerd
 * resolve includes/excludes for the container's capabilities, architecture and
 * kernel (moby's setupSeccomp) and write the rules that remain.
 */
function asOci(caps: string[], goArch: string, kernel: [number, number]): OciSeccomp {
  const p = defaultProfile();
  const atLeast = (v: string) => {
    const [maj, min] = v.split('.').map(Number);
    return kernel[0] > maj || (kernel[0] === maj && kernel[1] >= min);
  };
  const applies = (inc?: SeccompFilter, exc?: SeccompFilter) =>
    !(exc?.arches?.includes(goArch) || exc?.caps?.some((c) => caps.includes(c)) || (exc?.minKernel && atLeast(exc.minKernel))) &&
    !((inc?.arches?.length && !inc.arches.includes(goArch)) || (inc?.caps && !inc.caps.every((c) => caps.includes(c))) || (inc?.minKernel && !atLeast(inc.minKernel)));
  const main = p.archMap!.find((m) => m.architecture === 'SCMP_ARCH_X86_64')!;
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet === undefined ? {} : { defaultErrnoRet: p.defaultErrnoRet }),
    architectures: [main.architecture, ...(main.subArchitectures ?? [])],
    syscalls: (p.syscalls ?? [])
      .filter((r) => applies(r.includes, r.excludes))
      .map((r) => ({
        names: [...(r.names ?? [r.name!])],
        action: r.action,
        ...(r.errnoRet === undefined ? {} : { errnoRet: r.errnoRet }),
        ...(r.args ? { args: r.args.map((a) => ({ ...a })) } : {}),
      })),
  };
}

describe("docker's default profile through OCI", () => {
  it('compiles to the same program as nook run compiles it', () => {
    const DOCKER_CAPS = [
      'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
      'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
    ];
    for (const caps of [DOCKER_CAPS, [...DOCKER_CAPS, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], []]) {
      const config = asOci(caps, 'amd64', [6, 8]);
      const oci = compileOciSeccomp(JSON.parse(JSON.stringify(config)), 'x86_64');
      // With runc's ENOSYS stub above the last call the config names.
      const table = syscallTable('x86_64');
      const last = Math.max(...config.syscalls!.flatMap((r) => r.names.filter((n) => Object.hasOwn(table, n)).map((n) => table[n])));
      expect(oci.filter.equals(compileSeccomp(defaultProfile(), 'x86_64', caps, { kernel: '6.8', enosysAbove: last })), caps.join(',')).toBe(true);
      // Without architectures, no stub: the very program nook run installs.
      const plain = compileOciSeccomp(JSON.parse(JSON.stringify({ ...config, architectures: undefined })), 'x86_64');
      expect(plain.filter.equals(compileSeccomp(defaultProfile(), 'x86_64', caps, { kernel: '6.8' })), caps.join(',')).toBe(true);
      expect(oci.flags).toBe(0);
    }
  });
});

describe('several rules for one call, as runc 1.1.5 with libseccomp 2.5.4 applies them', () => {
  // Each case was run under runc: a static program calling personality(0), (5), (8) and (9)
  // printed the errno of each (0: let through, ALLOW or LOG).
  const P = ['personality'];
  const eq8 = [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }];
  const ge5 = [{ index: 0, value: 5, op: 'SCMP_CMP_GE' }];
  const allow = { defaultAction: 'SCMP_ACT_ALLOW' };
  // A default that refuses (EFAULT, 14), with personality left to the rules.
  const refuse = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 14 };
  const cases: [string, object, object[], number[]][] = [
    ['a rule without conditions wins over one with them, before it', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }, { names: P, action: 'SCMP_ACT_LOG', args: eq8 }], [14, 14, 14, 14]],
    ['... and after it', allow, [{ names: P, action: 'SCMP_ACT_LOG' }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: eq8 }], [0, 0, 0, 0]],
    ['... whatever the actions', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: eq8 }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }], [14, 14, 14, 14]],
    ['the first of two rules without conditions wins', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13 }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }], [13, 13, 13, 13]],
    ['... even a LOG before an ERRNO', allow, [{ names: P, action: 'SCMP_ACT_LOG' }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }], [0, 0, 0, 0]],
    ['... and an ERRNO before a LOG', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }, { names: P, action: 'SCMP_ACT_LOG' }], [14, 14, 14, 14]],
    ['a rule with the default action is left out', allow, [{ names: P, action: 'SCMP_ACT_ALLOW' }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: eq8 }], [0, 0, 13, 0]],
    ['... wherever it is', allow, [{ names: P, action: 'SCMP_ACT_ALLOW' }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }], [14, 14, 14, 14]],
    ['... with a refusing default', refuse, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14 }, { names: P, action: 'SCMP_ACT_ALLOW' }], [0, 0, 0, 0]],
    ['... with conditions too', refuse, [{ names: P, action: 'SCMP_ACT_ALLOW', args: eq8 }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14, args: ge5 }], [14, 14, 0, 14]],
    ['two conditions on one argument are alternatives', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [...eq8, { index: 0, value: 8, op: 'SCMP_CMP_NE' }] }], [13, 13, 13, 13]],
    ['conditions on two arguments must all hold', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: 8, op: 'SCMP_CMP_GE' }, { index: 1, value: 0, op: 'SCMP_CMP_EQ' }] }], [0, 0, 13, 13]],
    ['overlapping conditions: ERRNO over LOG', allow, [{ names: P, action: 'SCMP_ACT_LOG', args: ge5 }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: eq8 }], [0, 0, 13, 0]],
    ['overlapping conditions, equal actions: the first', allow, [{ names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: eq8 }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 14, args: ge5 }], [0, 14, 13, 14]],
  ];
  for (const [what, base, rules, expected] of cases)
    it(what, () => {
      const f = compile({ ...base, syscalls: rules });
      const got = [0, 5, 8, 9].map((p) => {
        const ret = f.call('personality', p);
        return ret === ALLOW || ret === SECCOMP_RET.LOG ? 0 : (ret & 0xffff0000) === SECCOMP_RET.ERRNO ? ret & 0xffff : -1;
      });
      expect(got).toEqual(expected);
    });

  it('differs where libseccomp lets its decision tree choose between overlapping conditions', () => {
    // Under runc: [14, 13, 0, 13]: ALLOW for 8 (EQ) over ERRNO for >= 5, where the ERRNO-over-LOG
    // case above goes the other way. nook takes the more restrictive action, always.
    const f = compile({ ...refuse, syscalls: [{ names: P, action: 'SCMP_ACT_ALLOW', args: eq8 }, { names: P, action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: ge5 }] });
    expect(f.call('personality', 8)).toBe(errno(13));
  });
});

describe("runtime-tools' default profile (every config its validation suite generates carries it)", () => {
  // test/unit/data/oci-seccomp-runtime-tools.json: generate.New("linux").Config.Linux.Seccomp of
  // opencontainers/runtime-tools (Debian's golang-github-opencontainers-runtime-tools-dev), as JSON.
  const s = JSON.parse(fs.readFileSync(path.join(__dirname, 'data/oci-seccomp-runtime-tools.json'), 'utf8'));
  const f = compile(s);

  it('allows what it lists, refuses the rest with EPERM, and newer calls with ENOSYS as runc 1.1.5 does', () => {
    for (const name of ['read', 'write', 'openat', 'execve', 'exit_group', 'arch_prctl', 'chroot', 'rt_sigreturn', 'statx']) expect(f.call(name), name).toBe(ALLOW);
    for (const name of ['mount', 'unshare', 'setns', 'keyctl', 'reboot', 'ptrace']) expect(f.call(name), name).toBe(EPERM);
    // Measured under runc 1.1.5 with this profile: statx (332, the last it names) works, rseq (334),
    // io_uring_setup, pidfd_open, clone3 and numbers no kernel has yet give ENOSYS.
    for (const name of ['rseq', 'io_uring_setup', 'pidfd_open', 'clone3']) expect(f.call(name), name).toBe(errno(38));
    expect(f.raw(AUDIT_ARCH.x86_64, 1000)).toBe(errno(38));
    // A rule with the default action is left out, but its calls still count for the stub (measured too).
    const more = compile({ ...s, syscalls: [...s.syscalls, { names: ['pidfd_open'], action: 'SCMP_ACT_ERRNO' }] });
    expect([more.call('io_uring_setup'), more.call('pidfd_open'), more.call('clone3')]).toEqual([EPERM, EPERM, errno(38)]);
    // No stub without the native architecture in the list, as runc.
    const noArch = compile({ ...s, architectures: ['SCMP_ARCH_X86'] });
    expect(noArch.call('clone3')).toBe(EPERM);
    expect(noArch.raw(AUDIT_ARCH.x86_64, 1000)).toBe(EPERM);
  });

  it('allows personality(0), (8) and (0xffffffff): three conditions on one argument are alternatives, as runc reads them', () => {
    for (const p of [0, 8, 0xffffffff]) expect(f.call('personality', p), `personality(${p})`).toBe(ALLOW);
    expect(f.call('personality', 0x40000)).toBe(EPERM);
  });

  it('allows clone without namespace flags only', () => {
    expect(f.call('clone', 17)).toBe(ALLOW); // SIGCHLD: fork
    expect(f.call('clone', 0x3d0f00)).toBe(ALLOW); // pthread_create
    expect(f.call('clone', 0x10000000 | 17)).toBe(EPERM); // CLONE_NEWUSER
  });
});

/**
 * The kernel's word: a small C program (built here with cc, inline) installs
 * the compiled filter with seccomp(2) and the compiled flags, then makes a few
 * calls; it also prints the headers' SECCOMP_FILTER_FLAG_* values.
 */
const kernelWhy =
  process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64') || !/^Seccomp:/m.test(fs.readFileSync('/proc/self/status', 'utf8'))
    ? 'needs seccomp on x86_64 or arm64 Linux'
    : spawnSync('cc', ['--version'], { stdio: 'ignore' }).status !== 0
      ? 'needs a C compiler: apt-get install gcc libc6-dev'
      : null;

const LOADER = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char *what, long rc) { printf("%s=%d\n", what, rc < 0 ? errno : 0); fflush(stdout); }
int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "flags")) {
    printf("SECCOMP_FILTER_FLAG_TSYNC=%d\nSECCOMP_FILTER_FLAG_LOG=%d\nSECCOMP_FILTER_FLAG_SPEC_ALLOW=%d\n",
           (int)SECCOMP_FILTER_FLAG_TSYNC, (int)SECCOMP_FILTER_FLAG_LOG, (int)SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    return 0;
  }
  static unsigned char buf[4096 * 8];
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  struct sock_fprog prog = { .len = (unsigned short)(len / 8), .filter = (struct sock_filter *)buf };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 2;
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)atoi(argv[2]), &prog);
  report("load", rc);
  if (rc != 0) return 1;
  report("getpid", syscall(SYS_getpid));
  report("mkdirat", syscall(SYS_mkdirat, AT_FDCWD, argv[3], 0755));
  report("personality8", syscall(SYS_personality, 8));
  report("personality0", syscall(SYS_personality, 0xffffffff));
  report("clone3", syscall(435 /* clone3, on x86_64 and aarch64 */, 0, 0)); /* EINVAL when let through: size 0 */
  return 0;
}
`;

describe('OCI seccomp in the kernel', () => {
  skipAllIf(kernelWhy);
  let dir = '';
  let loader = '';
  beforeAll(() => {
    if (kernelWhy) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-oci-seccomp-'));
    loader = path.join(dir, 'loader');
    fs.writeFileSync(`${loader}.c`, LOADER);
    const cc = spawnSync('cc', ['-O1', '-Wall', '-Werror', '-o', loader, `${loader}.c`], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes the flags the headers define', () => {
    const r = spawnSync(loader, ['flags'], { encoding: 'utf8' });
    const fromC = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.split('=')[0], Number(l.split('=')[1])]));
    for (const [name, value] of Object.entries(fromC))
      expect(ociSeccompProfile({ defaultAction: 'SCMP_ACT_ALLOW', flags: [name] }).flags, name).toBe(name === 'SECCOMP_FILTER_FLAG_TSYNC' ? 0 : value);
  });

  it('loads with its flags and refuses what the config says', () => {
    const { filter, flags } = compileOciSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC'],
      syscalls: [
        { names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    });
    expect(flags).toBe(6);
    const file = path.join(dir, 'filter.bin');
    fs.writeFileSync(file, filter);
    const r = spawnSync(loader, [file, String(flags), path.join(dir, 'd')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['load=0', 'getpid=0', 'mkdirat=13', 'personality8=1', 'personality0=0', 'clone3=22']);
    expect(fs.existsSync(path.join(dir, 'd'))).toBe(false);
  });

  it("loads runtime-tools' default profile, which answers clone3 with ENOSYS as under runc", () => {
    const { filter, flags } = compileOciSeccomp(JSON.parse(fs.readFileSync(path.join(__dirname, 'data/oci-seccomp-runtime-tools.json'), 'utf8')));
    const file = path.join(dir, 'runtime-tools.bin');
    fs.writeFileSync(file, filter);
    const r = spawnSync(loader, [file, String(flags), path.join(dir, 'e')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['load=0', 'getpid=0', 'mkdirat=0', 'personality8=0', 'personality0=0', 'clone3=38']);
  });
});
