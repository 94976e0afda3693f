/**
 * Compiles a docker-format seccomp profile to a classic BPF program for
 * seccomp(SECCOMP_SET_MODE_FILTER): an array of `struct sock_filter { u16
 * code; u8 jt; u8 jf; u32 k; }`, 8 bytes each, little-endian, run by the
 * kernel on every system call against `struct seccomp_data { int nr; u32
 * arch; u64 instruction_pointer; u64 args[6]; }`.
 *
 * The program:
 *
 *   1. Architecture: anything but the native one (AUDIT_ARCH_X86_64 or
 *      AUDIT_ARCH_AARCH64) kills the process. Docker's archMap also lets
 *      i386/x32 (on x86_64) and arm (on aarch64) calls through, each with its
 *      own numbers; nook allows only the native ABI, so a foreign-ABI call
 *      (int 0x80 on x86_64, a 32-bit program) can never slip past rules that
 *      were written for the native numbers. Such programs die with SIGSYS at
 *      their first system call, which is easier to diagnose than a stream of
 *      EPERMs.
 *   2. x86_64 only: x32 calls (nr with bit 0x40000000 set, which also catches
 *      a negative nr) are refused: with the default action when that refuses
 *      (errno, trap, kill), else with EPERM, so a default-allow profile cannot
 *      be bypassed through the x32 numbers of the calls it denies.
 *   3. The system call number goes down a binary search tree (`jge`) over
 *      ranges of numbers with the same outcome; a leaf is either one `ret`
 *      (every syscall without argument rules: the default action, or an
 *      unconditional action) or a block for one syscall with argument rules.
 *      So a call costs about log2(ranges) + 5 instructions, and there is no
 *      need for a jump table: a subtree that is too long for the 8-bit
 *      conditional jump is reached with a `ja` (32-bit offset).
 *
 * Rule semantics (nook's, close to docker/libseccomp's):
 *   - A rule applies when docker's includes/excludes let it: excludes.arches or
 *     excludes.caps (any one kept) or excludes.minKernel (host at least that)
 *     drop it; includes.arches (none matches), includes.caps (not all kept) or
 *     includes.minKernel (host older) drop it too. Architecture names are Go's
 *     (amd64, arm64), as docker compares them with runtime.GOARCH.
 *   - Names the architecture does not have are skipped (docker does too).
 *   - A rule's argument conditions are ANDed (all of them, even several on one
 *     argument; runc turns repeated indexes into alternatives instead), and
 *     compare full 64-bit values.
 *   - When several rules for one system call match, the most restrictive
 *     action wins, with the kernel's precedence between stacked filters
 *     (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW); among
 *     equals, the first in the profile. Order in the file does not matter, so
 *     an ERRNO rule with arguments can carve an exception out of an allow-all.
 *   - Actions: SCMP_ACT_ERRNO returns errnoRet (EPERM if left out; the default
 *     action uses defaultErrnoRet); SCMP_ACT_KILL is KILL_THREAD, as in
 *     libseccomp; SCMP_ACT_TRACE becomes ERRNO(ENOSYS): that is what the kernel
 *     answers when no tracer is attached, and nook attaches none, while a real
 *     SECCOMP_RET_TRACE would let a ptracer inside the container decide to run
 *     the call.
 */
import os = require('node:os');
import { NookError } from '../../errors';
import { atLeast, capName, hostKernel, parseKernel, type Kernel } from './key';
import type { SeccompAction, SeccompArg, SeccompFilter, SeccompProfile, U64 } from './profile';
import { syscallsAarch64 } from './syscalls-aarch64';
import { syscallsX86_64 } from './syscalls-x86_64';

export type SeccompArch = 'x86_64' | 'aarch64';

/** seccomp return values (SECCOMP_RET_*; the low 16 bits are data, e.g. the errno). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** AUDIT_ARCH_* values in seccomp_data.arch. */
export const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
export const X32_SYSCALL_BIT = 0x40000000;
/** The kernel's limit on a classic BPF program (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

const EPERM = 1;
const ENOSYS = 38;

// Classic BPF opcodes used here.
const LD_W_ABS = 0x20; // A = *(u32 *)(data + k)
const ALU_AND_K = 0x54; // A &= k
const JMP_JA = 0x05; // pc += k
const JMP_JEQ_K = 0x15; // pc += (A == k) ? jt : jf
const JMP_JGT_K = 0x25; // pc += (A > k) ? jt : jf    (unsigned)
const JMP_JGE_K = 0x35; // pc += (A >= k) ? jt : jf   (unsigned)
const RET_K = 0x06; // return k

// struct seccomp_data offsets; both architectures are little-endian, so the
// low half of a 64-bit argument comes first.
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLo = (i: number) => 16 + 8 * i;
const argHi = (i: number) => 20 + 8 * i;

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Marks a jump to the next rule of a syscall block, resolved when the rule is laid out. */
const FAIL = -1;
/** Longest conditional jump (jt/jf are u8). */
const MAX_JUMP = 255;

interface ArchInfo {
  audit: number;
  /** Built on first use (see syscalls-x86_64.ts). */
  table: () => Readonly<Record<string, number>>;
  /** Names that includes/excludes.arches use for it (docker: Go's runtime.GOARCH). */
  names: readonly string[];
  x32: boolean;
}

const ARCHES: Record<SeccompArch, ArchInfo> = {
  x86_64: { audit: AUDIT_ARCH.x86_64, table: syscallsX86_64, names: ['amd64', 'x86_64'], x32: true },
  aarch64: { audit: AUDIT_ARCH.aarch64, table: syscallsAarch64, names: ['arm64', 'aarch64'], x32: false },
};

/** The syscall number table of an architecture (name → number). */
export function syscallTable(arch: SeccompArch): Readonly<Record<string, number>> {
  return ARCHES[arch].table();
}

/** The seccomp return value of an action. */
export function actionValue(action: SeccompAction, errno: number | undefined): number {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET.ALLOW;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET.LOG;
    case 'SCMP_ACT_ERRNO':
      return SECCOMP_RET.ERRNO | ((errno ?? EPERM) & 0xffff);
    case 'SCMP_ACT_TRACE':
      return SECCOMP_RET.ERRNO | ENOSYS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET.TRAP;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET.KILL_PROCESS;
    default:
      throw new NookError(`unknown seccomp action ${JSON.stringify(action)}`, { hint: 'see SECCOMP_ACTIONS in profile.ts' });
  }
}

/** Kernel precedence of a return value: lower is more restrictive (SECCOMP_RET_ACTION_FULL as s32). */
export const precedence = (ret: number) => ret & 0xffff0000;

export interface CompileOptions {
  /** Kernel version "major.minor" for includes/excludes.minKernel; default: this host's. */
  kernel?: string;
  /**
   * System calls numbered above this that no rule names return ENOSYS rather
   * than the default action: runc's stub for calls newer than the profile
   * (OCI configs, src/oci/seccomp.ts), so that a C library falls back from
   * them (clone3 to clone) as it would on an older kernel.
   */
  enosysAbove?: number;
}

function applies(inc: SeccompFilter | undefined, exc: SeccompFilter | undefined, arch: ArchInfo, caps: Set<string>, kernel: Kernel): boolean {
  if (exc) {
    if (exc.arches && exc.arches.some((a) => arch.names.includes(a))) return false;
    if (exc.caps && exc.caps.some((c) => caps.has(capName(c)))) return false;
    if (exc.minKernel && atLeast(kernel, exc.minKernel)) return false;
  }
  if (inc) {
    if (inc.arches && inc.arches.length > 0 && !inc.arches.some((a) => arch.names.includes(a))) return false;
    if (inc.caps && !inc.caps.every((c) => caps.has(capName(c)))) return false;
    if (inc.minKernel && !atLeast(kernel, inc.minKernel)) return false;
  }
  return true;
}

/** [high, low] 32-bit halves of a u64. */
function split64(v: U64, what: string): [number, number] {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 64n) throw new NookError(`seccomp rule ${what}: ${v} is not an unsigned 64-bit value`);
    return [Number((v >> 32n) & 0xffffffffn), Number(v & 0xffffffffn)];
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new NookError(`seccomp rule ${what}: ${v} is not an unsigned integer`);
  return [Math.floor(v / 0x100000000) >>> 0, v >>> 0];
}

/**
 * Appends the instructions of one condition (quads: code, jt, jf, k) with FAIL
 * where the condition does not hold; falling through means it holds. Returns
 * false if it can never hold.
 */
function lowerCondition(c: SeccompArg, out: number[], what: string): boolean {
  const i = c.index;
  if (!Number.isInteger(i) || i < 0 || i > 5) throw new NookError(`seccomp rule ${what}: argument index ${i} is not 0 to 5`);
  const [vh, vl] = split64(c.value, what);
  const hi = argHi(i);
  const lo = argLo(i);
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      out.push(LD_W_ABS, 0, 0, hi, JMP_JEQ_K, 0, FAIL, vh, LD_W_ABS, 0, 0, lo, JMP_JEQ_K, 0, FAIL, vl);
      return true;
    case 'SCMP_CMP_NE':
      out.push(LD_W_ABS, 0, 0, hi, JMP_JEQ_K, 0, 2, vh, LD_W_ABS, 0, 0, lo, JMP_JEQ_K, FAIL, 0, vl);
      return true;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE': {
      if (c.op === 'SCMP_CMP_GE' && vh === 0 && vl === 0) return true; // always
      const last = c.op === 'SCMP_CMP_GT' ? JMP_JGT_K : JMP_JGE_K;
      if (vh === 0) out.push(LD_W_ABS, 0, 0, hi, JMP_JEQ_K, 0, 2, 0, LD_W_ABS, 0, 0, lo, last, 0, FAIL, vl);
      else out.push(LD_W_ABS, 0, 0, hi, JMP_JGT_K, 3, 0, vh, JMP_JEQ_K, 0, FAIL, vh, LD_W_ABS, 0, 0, lo, last, 0, FAIL, vl);
      return true;
    }
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      if (c.op === 'SCMP_CMP_LT' && vh === 0 && vl === 0) return false; // never
      if (c.op === 'SCMP_CMP_LE' && vh === 0xffffffff && vl === 0xffffffff) return true; // always
      // The last test fails when lo is too big: LT fails on lo >= vl, LE on lo > vl.
      const last = c.op === 'SCMP_CMP_LT' ? JMP_JGE_K : JMP_JGT_K;
      if (vh === 0) out.push(LD_W_ABS, 0, 0, hi, JMP_JEQ_K, 0, FAIL, 0, LD_W_ABS, 0, 0, lo, last, FAIL, 0, vl);
      else out.push(LD_W_ABS, 0, 0, hi, JMP_JGE_K, 0, 3, vh, JMP_JEQ_K, 0, FAIL, vh, LD_W_ABS, 0, 0, lo, last, FAIL, 0, vl);
      return true;
    }
    case 'SCMP_CMP_MASKED_EQ': {
      const [dh, dl] = split64(c.valueTwo ?? 0, what);
      // Bits expected set outside the mask: no argument matches.
      if ((dh & ~vh) !== 0 || (dl & ~vl) !== 0) return false;
      for (const [off, mask, datum] of [[hi, vh, dh], [lo, vl, dl]] as const) {
        if (mask === 0) continue; // (x & 0) == 0 always
        out.push(LD_W_ABS, 0, 0, off);
        if (mask !== 0xffffffff) out.push(ALU_AND_K, 0, 0, mask);
        out.push(JMP_JEQ_K, 0, FAIL, datum);
      }
      return true;
    }
    default:
      throw new NookError(`seccomp rule ${what}: unknown operator ${JSON.stringify(c.op)}`);
  }
}

/** A rule lowered once, shared by all the system calls it names. */
interface Lowered {
  ret: number;
  prec: number;
  /** Position in the profile: ties in precedence go to the earlier rule. */
  order: number;
  /** Condition quads with FAIL markers; empty: unconditional. */
  code: number[];
  what: string;
}

/** Lays out one rule: its conditions, then `ret`; FAIL jumps to the instruction after it. */
function layRule(r: Lowered, out: number[]): void {
  const n = r.code.length / 4 + 1;
  for (let j = 0; j < r.code.length; j += 4) {
    const fail = n - j / 4 - 1;
    const jt = r.code[j + 1] === FAIL ? fail : r.code[j + 1];
    const jf = r.code[j + 2] === FAIL ? fail : r.code[j + 2];
    if (jt > MAX_JUMP || jf > MAX_JUMP)
      throw new NookError(`seccomp rule ${r.what} has too many argument conditions`, { hint: 'split it into several rules' });
    out.push(r.code[j], jt, jf, r.code[j + 3]);
  }
  out.push(RET_K, 0, 0, r.ret);
}

/** A leaf of the search tree: a return value, or the instructions of a syscall block. */
type Leaf = number | number[];
const leafSize = (l: Leaf) => (typeof l === 'number' ? 1 : l.length / 4);

/** What a system call with these rules does: one return value, or a block of instructions. */
function outcome(rules: Lowered[], defaultRet: number): Leaf {
  if (rules.length > 1) rules.sort((a, b) => a.prec - b.prec || a.order - b.order);
  // Rules after an unconditional one are never reached.
  let end = rules.findIndex((r) => r.code.length === 0) + 1 || rules.length;
  // Trailing rules that return the default change nothing.
  while (end > 0 && rules[end - 1].ret === defaultRet) end--;
  if (end === 0) return defaultRet;
  if (end === 1 && rules[0].code.length === 0) return rules[0].ret;
  const out: number[] = [];
  for (let j = 0; j < end; j++) layRule(rules[j], out);
  if (rules[end - 1].code.length > 0) out.push(RET_K, 0, 0, defaultRet);
  return out;
}

/**
 * Compiles `profile` for `arch`; `caps` are the capabilities the container
 * keeps ("CAP_SYS_ADMIN" or "SYS_ADMIN"). Returns the sock_filter array.
 */
export function compileSeccomp(profile: SeccompProfile, arch: SeccompArch, caps: readonly string[], opts: CompileOptions = {}): Buffer {
  const info = ARCHES[arch];
  if (!info) throw new NookError(`no seccomp support for architecture ${JSON.stringify(arch)}`, { hint: 'nook compiles seccomp filters for x86_64 and aarch64' });
  const capSet = new Set(caps.map(capName));
  const kernel = opts.kernel ? parseKernel(opts.kernel) : hostKernel();
  const defaultRet = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const table = info.table();

  // Rules per system call number (numbers are small: a sparse array).
  const perNr: (Lowered[] | undefined)[] = [];
  const rules = profile.syscalls ?? [];
  for (let order = 0; order < rules.length; order++) {
    const rule = rules[order];
    if ((rule.includes || rule.excludes) && !applies(rule.includes, rule.excludes, info, capSet, kernel)) continue;
    const names = rule.names && rule.names.length > 0 ? rule.names : rule.name ? [rule.name] : [];
    let lowered: Lowered | null | undefined; // null: never matches
    for (const name of names) {
      const nr = table[name];
      if (typeof nr !== 'number' || !Object.hasOwn(table, name)) continue; // not a syscall of this architecture
      if (lowered === undefined) {
        const what = `syscalls[${order}] (${names[0]}${names.length > 1 ? ', ...' : ''})`;
        const code: number[] = [];
        let possible = true;
        for (const a of rule.args ?? []) possible = lowerCondition(a, code, what) && possible;
        lowered = possible ? { ret: actionValue(rule.action, rule.errnoRet), prec: 0, order, code, what } : null;
        if (lowered) lowered.prec = precedence(lowered.ret);
      }
      if (lowered === null) break;
      const list = perNr[nr];
      if (list) list.push(lowered);
      else perNr[nr] = [lowered];
    }
  }

  // Ranges of numbers with the same outcome: starts[i] is where leaves[i] begins.
  const starts: number[] = [];
  const leaves: Leaf[] = [];
  const add = (start: number, leaf: Leaf) => {
    const prev = leaves[leaves.length - 1];
    if (typeof leaf === 'number' && prev === leaf) return;
    starts.push(start);
    leaves.push(leaf);
  };
  // Numbers no rule names: the default action, or ENOSYS above opts.enosysAbove.
  const enosysFrom = opts.enosysAbove === undefined ? Infinity : opts.enosysAbove + 1;
  const gap = (from: number, to: number) => {
    if (from < Math.min(to, enosysFrom)) add(from, defaultRet);
    if (Math.max(from, enosysFrom) < to) add(Math.max(from, enosysFrom), SECCOMP_RET.ERRNO | ENOSYS);
  };
  let next = 0;
  for (let nr = 0; nr < perNr.length; nr++) {
    const list = perNr[nr];
    if (!list) continue;
    gap(next, nr);
    add(nr, outcome(list, defaultRet));
    next = nr + 1;
  }
  gap(next, 0x100000000);

  // The search tree, laid out in pre-order: node, lower half, upper half.
  const sizes = new Map<number, number>();
  const size = (lo: number, hi: number): number => {
    if (lo === hi) return leafSize(leaves[lo]);
    const key = lo * 65536 + hi;
    let s = sizes.get(key);
    if (s === undefined) {
      const mid = (lo + hi + 1) >> 1;
      const left = size(lo, mid - 1);
      s = 1 + (left > MAX_JUMP ? 1 : 0) + left + size(mid, hi);
      sizes.set(key, s);
    }
    return s;
  };
  const prog: number[] = [LD_W_ABS, 0, 0, OFF_ARCH, JMP_JEQ_K, 1, 0, info.audit, RET_K, 0, 0, SECCOMP_RET.KILL_PROCESS, LD_W_ABS, 0, 0, OFF_NR];
  if (info.x32) {
    // Refuse x32 calls: with the default action if it refuses, else with EPERM.
    const x32Ret = precedence(defaultRet) <= precedence(SECCOMP_RET.ERRNO) ? defaultRet : SECCOMP_RET.ERRNO | EPERM;
    prog.push(JMP_JGE_K, 0, 1, X32_SYSCALL_BIT, RET_K, 0, 0, x32Ret);
  }
  const emit = (lo: number, hi: number): void => {
    if (lo === hi) {
      const leaf = leaves[lo];
      if (typeof leaf === 'number') prog.push(RET_K, 0, 0, leaf);
      else for (let j = 0; j < leaf.length; j++) prog.push(leaf[j]);
      return;
    }
    const mid = (lo + hi + 1) >> 1;
    const left = size(lo, mid - 1);
    if (left <= MAX_JUMP) prog.push(JMP_JGE_K, left, 0, starts[mid]);
    else prog.push(JMP_JGE_K, 0, 1, starts[mid], JMP_JA, 0, 0, left);
    emit(lo, mid - 1);
    emit(mid, hi);
  };
  emit(0, leaves.length - 1);

  const count = prog.length / 4;
  if (count > BPF_MAXINSNS)
    throw new NookError(`the seccomp profile compiles to ${count} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS}`, {
      hint: 'use fewer argument rules, or --security-opt seccomp=unconfined',
    });
  // Two little-endian u32 words an instruction: code | jt << 16 | jf << 24, then k.
  // (Typed-array stores rather than Buffer.write* calls: this runs cold on every start.)
  const words = new Uint32Array(count * 2);
  for (let j = 0, w = 0; j < prog.length; j += 4, w += 2) {
    words[w] = prog[j] | (prog[j + 1] << 16) | (prog[j + 2] << 24);
    words[w + 1] = prog[j + 3];
  }
  const buf = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  return LITTLE_ENDIAN ? buf : buf.swap32();
}
