import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileSeccomp, defaultProfile, hostSeccompArch, loadProfile } from '../../src/sandbox/seccomp';
import type { SeccompArch, SeccompProfile, SeccompRule } from '../../src/sandbox/seccomp';
import { AUDIT_ARCH, BPF_MAXINSNS, SECCOMP_RET, actionValue, syscallTable } from '../../src/sandbox/seccomp/bpf';
import { NookError } from '../../src/errors';
import { check, decode, disassemble, runInsns, type SeccompData } from '../helpers/cbpf';

const ALLOW = SECCOMP_RET.ALLOW;
const errno = (e: number) => SECCOMP_RET.ERRNO | e;
const EPERM = errno(1);
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_ARM = 0x40000028;

/** The capabilities docker keeps by default. */
const DOCKER_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** A compiled filter, checked like the kernel checks it, and a way to run it. */
function filter(profile: SeccompProfile, arch: SeccompArch, caps: string[] = DOCKER_CAPS, kernel = '6.8') {
  const prog = compileSeccomp(profile, arch, caps, { kernel });
  const insns = decode(prog);
  check(insns);
  const table = syscallTable(arch);
  const nr = (name: string) => {
    if (!(name in table)) throw new Error(`no syscall ${name} on ${arch}`);
    return table[name];
  };
  return {
    prog,
    size: insns.length,
    raw: (d: Omit<SeccompData, 'arch'> & { arch?: number }) => runInsns(insns, { arch: AUDIT_ARCH[arch], ...d }).ret,
    call: (name: string, ...args: (number | bigint)[]) => runInsns(insns, { arch: AUDIT_ARCH[arch], nr: nr(name), args }).ret,
    steps: (name: string, ...args: (number | bigint)[]) => runInsns(insns, { arch: AUDIT_ARCH[arch], nr: nr(name), args }).steps,
  };
}

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNS = 0x00020000;
const SIGCHLD = 17;
const CLONE_THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes

describe('seccomp: docker default profile on x86_64', () => {
  const f = filter(defaultProfile(), 'x86_64');

  it('fits the kernel limit with room to spare', () => {
    expect(f.size).toBeLessThan(BPF_MAXINSNS);
    expect(f.size).toBeLessThan(400);
    expect(f.prog.length).toBe(f.size * 8);
  });

  it('allows everyday system calls', () => {
    for (const name of ['read', 'write', 'openat', 'close', 'mmap', 'execve', 'exit_group', 'rt_sigreturn', 'futex', 'arch_prctl', 'mkdirat', 'statx'])
      expect(f.call(name), name).toBe(ALLOW);
  });

  it('allows clone without namespace flags, refuses CLONE_NEWUSER and friends unless CAP_SYS_ADMIN is kept', () => {
    expect(f.call('clone', SIGCHLD)).toBe(ALLOW);
    expect(f.call('clone', CLONE_THREAD_FLAGS)).toBe(ALLOW);
    expect(f.call('clone', CLONE_NEWUSER | SIGCHLD)).toBe(EPERM);
    expect(f.call('clone', CLONE_NEWNS)).toBe(EPERM);
    // The mask covers the low 32 bits only: upper bits do not matter.
    expect(f.call('clone', 0x1_0000_0000n | BigInt(SIGCHLD))).toBe(ALLOW);
    const admin = filter(defaultProfile(), 'x86_64', [...DOCKER_CAPS, 'CAP_SYS_ADMIN']);
    expect(admin.call('clone', CLONE_NEWUSER | SIGCHLD)).toBe(ALLOW);
    expect(admin.call('clone3')).toBe(ALLOW);
    expect(f.call('clone3')).toBe(errno(38)); // ENOSYS, so that glibc falls back to clone
  });

  it('refuses the calls docker refuses, with EPERM', () => {
    for (const name of ['keyctl', 'add_key', 'request_key', 'kexec_load', 'kexec_file_load', 'open_by_handle_at', 'bpf', 'unshare', 'mount', 'umount2', 'reboot', 'setns', 'pivot_root', 'io_uring_setup', 'init_module', 'swapon', 'userfaultfd', 'uprobe', 'perf_event_open'])
      expect(f.call(name), name).toBe(EPERM);
  });

  it('lets capabilities unlock their rules', () => {
    const withCaps = (...extra: string[]) => filter(defaultProfile(), 'x86_64', [...DOCKER_CAPS, ...extra]);
    expect(withCaps('CAP_SYS_ADMIN').call('mount')).toBe(ALLOW);
    expect(withCaps('CAP_SYS_ADMIN').call('unshare')).toBe(ALLOW);
    expect(withCaps('CAP_SYS_ADMIN').call('bpf')).toBe(ALLOW);
    expect(withCaps('CAP_BPF').call('bpf')).toBe(ALLOW);
    expect(withCaps('CAP_BPF').call('mount')).toBe(EPERM);
    expect(withCaps('CAP_DAC_READ_SEARCH').call('open_by_handle_at')).toBe(ALLOW);
    expect(withCaps('CAP_SYS_BOOT').call('reboot')).toBe(ALLOW);
    expect(withCaps('SYS_TIME').call('settimeofday')).toBe(ALLOW); // names without CAP_ work too
    expect(f.call('settimeofday')).toBe(EPERM);
    expect(f.call('chroot')).toBe(ALLOW); // CAP_SYS_CHROOT is a docker default
    expect(filter(defaultProfile(), 'x86_64', []).call('chroot')).toBe(EPERM);
  });

  it('follows minKernel: ptrace only from 4.8 on, or with CAP_SYS_PTRACE', () => {
    expect(f.call('ptrace')).toBe(ALLOW);
    expect(filter(defaultProfile(), 'x86_64', DOCKER_CAPS, '4.4').call('ptrace')).toBe(EPERM);
    expect(filter(defaultProfile(), 'x86_64', [...DOCKER_CAPS, 'CAP_SYS_PTRACE'], '4.4').call('ptrace')).toBe(ALLOW);
    expect(filter(defaultProfile(), 'x86_64', DOCKER_CAPS, '4.8').call('ptrace')).toBe(ALLOW);
    expect(filter(defaultProfile(), 'x86_64', DOCKER_CAPS, '10.0').call('ptrace')).toBe(ALLOW);
  });

  it('allows only the listed personalities, comparing all 64 bits', () => {
    for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff]) expect(f.call('personality', p), `personality(${p})`).toBe(ALLOW);
    expect(f.call('personality', 0x0040000)).toBe(EPERM); // ADDR_NO_RANDOMIZE
    expect(f.call('personality', 1)).toBe(EPERM);
    expect(f.call('personality', 0x1_0000_0000n)).toBe(EPERM);
  });

  it('refuses socket(AF_VSOCK) and allows other families', () => {
    expect(f.call('socket', 40, 1, 0)).toBe(EPERM);
    for (const family of [1, 2, 10, 16, 17, 38, 41]) expect(f.call('socket', family, 1, 0), `family ${family}`).toBe(ALLOW);
  });

  it('kills a process that calls with another architecture', () => {
    expect(f.raw({ arch: AUDIT_ARCH_I386, nr: 3 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(f.raw({ arch: AUDIT_ARCH.aarch64, nr: 63 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(f.raw({ arch: 0, nr: 0 })).toBe(SECCOMP_RET.KILL_PROCESS);
  });

  it('refuses x32 system calls and negative numbers', () => {
    expect(f.raw({ nr: 0x40000000 | 0 })).toBe(EPERM); // x32 read
    expect(f.raw({ nr: 0x40000000 | 520 })).toBe(EPERM); // x32 execve
    expect(f.raw({ nr: -1 })).toBe(EPERM);
  });

  it('refuses numbers without a rule, also past the last known system call', () => {
    for (const nr of [337, 400, 471, 511, 512, 1000, 0x3fffffff]) expect(f.raw({ nr }), `nr ${nr}`).toBe(EPERM);
  });

  it('reaches a decision in few instructions', () => {
    const names = Object.keys(syscallTable('x86_64'));
    expect(Math.max(...names.map((n) => f.steps(n)))).toBeLessThan(20);
    // personality with an unlisted value walks all five of its rules
    expect(Math.max(...names.map((n) => f.steps(n, 0x40000)))).toBeLessThan(40);
  });
});

describe('seccomp: docker default profile on aarch64', () => {
  const f = filter(defaultProfile(), 'aarch64');

  it('fits, uses arm64 numbers and the arm64 audit arch', () => {
    expect(f.size).toBeLessThan(BPF_MAXINSNS);
    expect(syscallTable('aarch64').read).toBe(63);
    expect(f.raw({ nr: 63 })).toBe(ALLOW); // read
    expect(f.raw({ nr: 221 })).toBe(ALLOW); // execve
    expect(f.raw({ nr: 34 })).toBe(ALLOW); // mkdirat
    expect(f.raw({ nr: 0 })).toBe(ALLOW); // io_setup
    expect(f.raw({ nr: 425 })).toBe(EPERM); // io_uring_setup
  });

  it('applies the same rules', () => {
    expect(f.call('clone', SIGCHLD)).toBe(ALLOW);
    expect(f.call('clone', CLONE_NEWUSER)).toBe(EPERM);
    expect(f.call('personality', 0)).toBe(ALLOW);
    expect(f.call('personality', 0x40000)).toBe(EPERM);
    expect(f.call('socket', 40)).toBe(EPERM);
    for (const name of ['keyctl', 'add_key', 'kexec_load', 'open_by_handle_at', 'bpf', 'unshare', 'mount', 'reboot'])
      expect(f.call(name), name).toBe(EPERM);
    expect(f.call('getpid')).toBe(ALLOW);
    expect('arch_prctl' in syscallTable('aarch64')).toBe(false);
  });

  it('kills other architectures, including 32-bit arm', () => {
    expect(f.raw({ arch: AUDIT_ARCH_ARM, nr: 3 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(f.raw({ arch: AUDIT_ARCH.x86_64, nr: 0 })).toBe(SECCOMP_RET.KILL_PROCESS);
  });

  it('has no x32 special case: high numbers get the default action', () => {
    expect(f.raw({ nr: 0x40000000 | 63 })).toBe(EPERM);
  });
});

describe('seccomp: actions and rule semantics', () => {
  const one = (rule: Partial<SeccompRule>, profile: Partial<SeccompProfile> = {}) =>
    filter({ defaultAction: 'SCMP_ACT_ERRNO', ...profile, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW', ...rule }] }, 'x86_64');

  it('maps every action to its SECCOMP_RET value', () => {
    expect(one({ action: 'SCMP_ACT_ALLOW' }).call('getpid')).toBe(0x7fff0000);
    expect(one({ action: 'SCMP_ACT_LOG' }).call('getpid')).toBe(0x7ffc0000);
    expect(one({ action: 'SCMP_ACT_ERRNO' }).call('getpid')).toBe(0x00050001);
    expect(one({ action: 'SCMP_ACT_ERRNO', errnoRet: 13 }).call('getpid')).toBe(0x0005000d);
    expect(one({ action: 'SCMP_ACT_TRAP' }).call('getpid')).toBe(0x00030000);
    expect(one({ action: 'SCMP_ACT_KILL' }).call('getpid')).toBe(0);
    expect(one({ action: 'SCMP_ACT_KILL_THREAD' }).call('getpid')).toBe(0);
    expect(one({ action: 'SCMP_ACT_KILL_PROCESS' }).call('getpid')).toBe(0x80000000);
    expect(one({ action: 'SCMP_ACT_TRACE' }).call('getpid')).toBe(errno(38));
    expect(one({ action: 'SCMP_ACT_ALLOW' }, { defaultErrnoRet: 22 }).call('getppid')).toBe(errno(22));
    expect(one({ action: 'SCMP_ACT_ALLOW' }).call('getppid')).toBe(EPERM);
  });

  it('refuses x32 calls with the default action when it refuses, else with EPERM', () => {
    const x32 = (defaultAction: SeccompProfile['defaultAction']) =>
      filter({ defaultAction, defaultErrnoRet: 5, syscalls: [] }, 'x86_64').raw({ nr: 0x40000000 | 39 });
    expect(x32('SCMP_ACT_ERRNO')).toBe(errno(5));
    expect(x32('SCMP_ACT_KILL_PROCESS')).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(x32('SCMP_ACT_TRAP')).toBe(SECCOMP_RET.TRAP);
    expect(x32('SCMP_ACT_ALLOW')).toBe(EPERM);
    expect(x32('SCMP_ACT_LOG')).toBe(EPERM);
  });

  it('ORs rules for one syscall and ANDs the conditions of a rule', () => {
    const f = filter(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 10, op: 'SCMP_CMP_GE' }, { index: 1, value: 9, op: 'SCMP_CMP_NE' }] },
          { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
        ],
      },
      'x86_64',
    );
    expect(f.call('kill', 10, 15)).toBe(ALLOW);
    expect(f.call('kill', 10, 9)).toBe(EPERM);
    expect(f.call('kill', 1, 15)).toBe(EPERM);
    expect(f.call('kill', 1, 0)).toBe(ALLOW);
  });

  it('lets the most restrictive matching rule win, whatever the order', () => {
    const rules: SeccompRule[] = [
      { names: ['socket'], action: 'SCMP_ACT_ALLOW' },
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 38, op: 'SCMP_CMP_EQ' }] },
    ];
    for (const syscalls of [rules, [...rules].reverse()]) {
      const f = filter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls }, 'x86_64');
      expect(f.call('socket', 38)).toBe(errno(97));
      expect(f.call('socket', 2)).toBe(ALLOW);
    }
  });

  it('skips names that the architecture does not have', () => {
    const f = filter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['no_such_call', 'mmap2', 'getpid'], action: 'SCMP_ACT_ALLOW' }] }, 'x86_64');
    expect(f.call('getpid')).toBe(ALLOW);
    expect(filter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'open', action: 'SCMP_ACT_ALLOW' }] }, 'aarch64').size).toBeLessThan(10);
  });

  it('compares 64-bit values exactly, including above 2^53', () => {
    const big = 0xfedc_ba98_7654_3210n;
    const f = filter(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: big, op: 'SCMP_CMP_EQ' }] },
          { names: ['write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 0xffff_ffff_0000_0000n, valueTwo: 0x1234_5678_0000_0000n, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['lseek'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0x1_0000_0000, op: 'SCMP_CMP_LT' }] },
        ],
      },
      'x86_64',
    );
    expect(f.call('read', 0, 0, big)).toBe(ALLOW);
    expect(f.call('read', 0, 0, big + 1n)).toBe(EPERM);
    expect(f.call('read', 0, 0, big ^ (1n << 60n))).toBe(EPERM);
    expect(f.call('write', 0, 0, 0x1234_5678_ffff_ffffn)).toBe(ALLOW);
    expect(f.call('write', 0, 0, 0x1234_5679_0000_0000n)).toBe(EPERM);
    expect(f.call('lseek', 0, 0xffff_ffff)).toBe(ALLOW);
    expect(f.call('lseek', 0, 0x1_0000_0000)).toBe(EPERM);
  });

  it('drops a rule that can never match (MASKED_EQ expecting bits outside the mask)', () => {
    const f = filter(
      { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xff, valueTwo: 0x100, op: 'SCMP_CMP_MASKED_EQ' }] }] },
      'x86_64',
    );
    expect(f.call('read', 0x100)).toBe(EPERM);
    expect(f.call('read', 0x1ff)).toBe(EPERM);
  });

  it('uses long jumps when a subtree is too long for an 8-bit jump', () => {
    const names = Object.keys(syscallTable('x86_64')).slice(0, 200);
    const f = filter(
      { defaultAction: 'SCMP_ACT_ERRNO', syscalls: names.map((n, i) => ({ names: [n], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, value: i, op: 'SCMP_CMP_EQ' as const }] })) },
      'x86_64',
    );
    expect(decode(f.prog).some((i) => i.code === 0x05)).toBe(true);
    names.forEach((n, i) => {
      expect(f.call(n, i), n).toBe(ALLOW);
      expect(f.call(n, i + 1), n).toBe(EPERM);
    });
  });

  it('refuses a profile that does not fit in 4096 instructions', () => {
    const names = Object.keys(syscallTable('x86_64'));
    const args = [0, 1, 2, 3, 4, 5].map((index) => ({ index, value: 0x1_0000_0001, op: 'SCMP_CMP_GT' as const }));
    const profile: SeccompProfile = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: names.map((n) => ({ names: [n], action: 'SCMP_ACT_ALLOW', args })) };
    expect(() => compileSeccomp(profile, 'x86_64', [])).toThrow(NookError);
    expect(() => compileSeccomp(profile, 'x86_64', [])).toThrow(/more than the kernel's limit of 4096/);
  });
});

describe('seccomp: custom profile file', () => {
  it('defaultAction SCMP_ACT_ALLOW with one SCMP_ACT_ERRNO rule (errnoRet 13) for mkdirat', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-seccomp-'));
    try {
      const file = path.join(dir, 'p.json');
      fs.writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
      const profile = loadProfile(file);
      const f = filter(profile, 'x86_64');
      expect(f.call('mkdirat')).toBe(errno(13));
      expect(f.call('mkdir')).toBe(ALLOW);
      expect(f.call('keyctl')).toBe(ALLOW);
      expect(f.raw({ nr: 0x40000000 | 258 })).toBe(EPERM); // x32 mkdirat cannot sneak past
      expect(f.raw({ arch: AUDIT_ARCH_I386, nr: 39 })).toBe(SECCOMP_RET.KILL_PROCESS);
      const g = filter(profile, 'aarch64');
      expect(g.raw({ nr: 34 })).toBe(errno(13));
      expect(g.raw({ nr: 33 })).toBe(ALLOW); // mknodat
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads docker\'s own JSON form of the default profile to the same filter', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-seccomp-'));
    try {
      const file = path.join(dir, 'default.json');
      fs.writeFileSync(file, JSON.stringify(defaultProfile(), null, '\t'));
      for (const arch of ['x86_64', 'aarch64'] as const)
        expect(compileSeccomp(loadProfile(file), arch, DOCKER_CAPS).equals(compileSeccomp(defaultProfile(), arch, DOCKER_CAPS))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------
// A reference evaluator: the rule semantics written out directly on the
// profile, with bigint arithmetic, to check the compiled programs against.

function refDecision(profile: SeccompProfile, arch: SeccompArch, caps: string[], kernel: [number, number], d: SeccompData): number {
  if (d.arch !== AUDIT_ARCH[arch]) return SECCOMP_RET.KILL_PROCESS;
  const def = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const nr = d.nr >>> 0;
  if (arch === 'x86_64' && nr >= 0x40000000) return (def & 0xffff0000) <= SECCOMP_RET.ERRNO ? def : EPERM;
  const table = syscallTable(arch);
  const capSet = new Set(caps.map((c) => (c.startsWith('CAP_') ? c : `CAP_${c}`)));
  const goArch = arch === 'x86_64' ? 'amd64' : 'arm64';
  const kernelAtLeast = (v: string) => {
    const [a, b] = v.split('.').map(Number);
    return kernel[0] > a || (kernel[0] === a && kernel[1] >= b);
  };
  const args = [0, 1, 2, 3, 4, 5].map((i) => BigInt.asUintN(64, BigInt(d.args?.[i] ?? 0)));
  let best: number | undefined;
  for (const r of profile.syscalls ?? []) {
    const names = r.names && r.names.length > 0 ? r.names : r.name ? [r.name] : [];
    if (!names.some((n) => Object.hasOwn(table, n) && table[n] === nr)) continue;
    const ex = r.excludes;
    if (ex?.arches?.includes(goArch) || ex?.caps?.some((c) => capSet.has(c)) || (ex?.minKernel && kernelAtLeast(ex.minKernel))) continue;
    const inc = r.includes;
    if ((inc?.arches?.length && !inc.arches.includes(goArch)) || (inc?.caps && !inc.caps.every((c) => capSet.has(c))) || (inc?.minKernel && !kernelAtLeast(inc.minKernel))) continue;
    const holds = (r.args ?? []).every((c) => {
      const a = args[c.index];
      const v = BigInt(c.value);
      switch (c.op) {
        case 'SCMP_CMP_EQ': return a === v;
        case 'SCMP_CMP_NE': return a !== v;
        case 'SCMP_CMP_LT': return a < v;
        case 'SCMP_CMP_LE': return a <= v;
        case 'SCMP_CMP_GT': return a > v;
        case 'SCMP_CMP_GE': return a >= v;
        case 'SCMP_CMP_MASKED_EQ': return (a & v) === BigInt(c.valueTwo ?? 0);
      }
    });
    if (!holds) continue;
    const ret = actionValue(r.action, r.errnoRet);
    if (best === undefined || (ret & 0xffff0000) < (best & 0xffff0000)) best = ret;
  }
  return best ?? def;
}

/** mulberry32: a small deterministic PRNG. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [
  0n, 1n, 2n, 40n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, 0x1_0000_0000n, 0x1_0000_0001n, 0x1_ffff_ffffn,
  0xffff_ffff_0000_0000n, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_fffen, 0xffff_ffff_ffff_ffffn, 0x0123_4567_89ab_cdefn,
];

describe('seccomp: compiled programs agree with the reference evaluator', () => {
  it('on docker\'s default profile, for every number and several capability sets and kernels', () => {
    const capSets = [[], DOCKER_CAPS, [...DOCKER_CAPS, 'CAP_SYS_ADMIN'], ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_PTRACE', 'CAP_SYS_NICE', 'CAP_SYSLOG', 'CAP_SYS_TIME']];
    const argSets: bigint[][] = [[], [0x40000n], [40n, 1n], [0x10000000n | 17n], [0xffffffffn], [0x1_0000_0000n]];
    for (const arch of ['x86_64', 'aarch64'] as const)
      for (const caps of capSets)
        for (const kernel of [[4, 4], [6, 8]] as [number, number][]) {
          const insns = decode(compileSeccomp(defaultProfile(), arch, caps, { kernel: kernel.join('.') }));
          check(insns);
          for (let nr = 0; nr < 520; nr++)
            for (const args of argSets) {
              const d = { nr, arch: AUDIT_ARCH[arch], args };
              const got = runInsns(insns, d).ret;
              const want = refDecision(defaultProfile(), arch, caps, kernel, d);
              if (got !== want) throw new Error(`${arch} caps=${caps.join(',')} nr=${nr} args=${args}: got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
            }
        }
  });

  it('on random profiles with every operator and edge values', () => {
    const rand = rng(12345);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    const ops = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
    const actions = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_LOG', 'SCMP_ACT_TRAP', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS'] as const;
    const caps = ['CAP_A', 'CAP_B', 'CAP_C'];
    const u64 = (v: bigint) => (v <= BigInt(Number.MAX_SAFE_INTEGER) && rand() < 0.5 ? Number(v) : v);
    const value = () => (rand() < 0.8 ? pick(INTERESTING) : BigInt.asUintN(64, BigInt(Math.floor(rand() * 2 ** 32)) << BigInt(Math.floor(rand() * 33))));
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const names = Object.keys(syscallTable(arch));
      for (let round = 0; round < 40; round++) {
        const used = Array.from({ length: 4 + Math.floor(rand() * 40) }, () => pick(names));
        const syscalls: SeccompRule[] = Array.from({ length: 1 + Math.floor(rand() * 60) }, () => {
          const action = pick(actions);
          const rule: SeccompRule = {
            names: Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(used)),
            action,
            args: Array.from({ length: Math.floor(rand() * 4) }, () => {
              const op = pick(ops);
              const v = value();
              // MASKED_EQ: usually a datum that fits the mask, sometimes not.
              const two = op === 'SCMP_CMP_MASKED_EQ' ? (rand() < 0.85 ? v & value() : value()) : undefined;
              return { index: Math.floor(rand() * 3), value: u64(v), op, ...(two === undefined ? {} : { valueTwo: u64(two) }) };
            }),
          };
          if (action === 'SCMP_ACT_ERRNO') rule.errnoRet = Math.floor(rand() * 200);
          if (rand() < 0.2) rule.includes = { caps: [pick(caps)] };
          if (rand() < 0.2) rule.excludes = { caps: [pick(caps)] };
          return rule;
        });
        const profile: SeccompProfile = { defaultAction: pick([...actions, 'SCMP_ACT_ERRNO']), defaultErrnoRet: 7, syscalls };
        const kept = caps.filter(() => rand() < 0.5);
        const prog = compileSeccomp(profile, arch, kept);
        const insns = decode(prog);
        check(insns);
        const table = syscallTable(arch);
        for (let i = 0; i < 400; i++) {
          const nr = rand() < 0.9 ? table[pick(used)] : Math.floor(rand() * 600);
          const args = [0, 1, 2].map(() => {
            const v = value();
            return BigInt.asUintN(64, v + BigInt(Math.floor(rand() * 3) - 1));
          });
          const d = { nr, arch: AUDIT_ARCH[arch], args };
          const got = runInsns(insns, d).ret;
          const want = refDecision(profile, arch, kept, [6, 8], d);
          if (got !== want)
            throw new Error(`round ${round} ${arch} nr=${nr} args=${args}: got 0x${got.toString(16)}, want 0x${want.toString(16)}\n${JSON.stringify(profile, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}\n${disassemble(prog)}`);
        }
      }
    }
  });
});

describe('seccomp: speed', () => {
  it('compiles docker\'s default profile well under 2 ms once warm', () => {
    const arch = hostSeccompArch();
    for (let i = 0; i < 50; i++) compileSeccomp(defaultProfile(), arch, DOCKER_CAPS);
    const n = 300;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) compileSeccomp(defaultProfile(), arch, DOCKER_CAPS);
    const perCompileMs = Number(process.hrtime.bigint() - t0) / 1e6 / n;
    console.log(`seccomp: docker default profile compiles in ${(perCompileMs * 1000).toFixed(0)} µs (${arch})`);
    expect(perCompileMs).toBeLessThan(2);
  });
});
