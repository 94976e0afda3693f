/**
 * An OCI runtime-spec `linux.seccomp` object (config-linux.md) compiled to the
 * classic BPF program and seccomp(2) flags the executor installs.
 *
 * The OCI format is docker's profile format without includes/excludes, so the
 * object is checked here (every problem names its field, e.g.
 * `linux.seccomp.syscalls[3].action`) and mapped onto a SeccompProfile for
 * nook's compiler (src/sandbox/seccomp/bpf.ts, which documents the program and
 * its rule semantics). Where OCI runtimes differ from that compiler, this
 * follows runc:
 *   - a rule with several conditions on one argument index becomes one rule a
 *     condition (alternatives, ORed), as runc does because libseccomp cannot
 *     AND them; conditions on distinct indexes stay ANDed;
 *   - system call names unknown on the architecture are skipped, as runc does
 *     (a config written for a newer kernel still loads);
 *   - errnoRet and defaultErrnoRet only go with SCMP_ACT_ERRNO and
 *     SCMP_ACT_TRACE (the spec says a runtime must fail otherwise);
 *   - calls numbered above every call the config names answer ENOSYS (runc's
 *     stub, see enosysStub);
 *   - rules with the default action are left out, and a rule without
 *     conditions overrides the rules with conditions for its calls (libseccomp,
 *     see asLibseccomp).
 * And where nook differs from runc (said here, not hidden):
 *   - `architectures` may name any libseccomp architecture, but the program
 *     admits only the native ABI (bpf.ts): a call of another ABI (i386 on
 *     x86_64, arm on aarch64) kills the process;
 *   - SCMP_ACT_NOTIFY and listenerPath are refused: nook runs no seccomp agent;
 *   - SCMP_ACT_TRACE answers ENOSYS, what the kernel answers without a tracer.
 */
import { NookError } from '../errors';
import { compileSeccomp, syscallTable, type SeccompArch } from '../sandbox/seccomp/bpf';
import type { SeccompAction, SeccompArg, SeccompOp, SeccompProfile, SeccompRule, U64 } from '../sandbox/seccomp/profile';

/** One argument comparison: `args[index] op value`, or `(args[index] & value) == valueTwo` for SCMP_CMP_MASKED_EQ. */
export interface OciSeccompArg {
  index: number;
  /** uint64: a bigint when the JSON was read with exact large integers. */
  value: number | bigint;
  valueTwo?: number | bigint;
  op: string;
}

export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

/** `linux.seccomp` of an OCI config.json (runtime-spec config-linux.md). */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

/** Actions nook carries out (SCMP_ACT_NOTIFY is known to the spec but refused). */
export const OCI_SECCOMP_ACTIONS: readonly SeccompAction[] = [
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_LOG',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_TRAP',
];

export const OCI_SECCOMP_OPERATORS: readonly SeccompOp[] = [
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_LE',
  'SCMP_CMP_LT',
  'SCMP_CMP_MASKED_EQ',
  'SCMP_CMP_NE',
];

/** libseccomp's architecture names (runc's list and the newer ones); only the native one is let through at run time. */
export const OCI_SECCOMP_ARCHES: readonly string[] = [
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
];

/**
 * seccomp(2) filter flags nook accepts, with what it passes for each. TSYNC
 * passes nothing: the executor installs the filter in a single-threaded
 * child, where there are no other threads to synchronise (runc ignores it too).
 */
export const OCI_SECCOMP_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 0,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

/** Flags the spec knows that nook refuses, with why. */
const REFUSED_FLAGS: Readonly<Record<string, string>> = {
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 'it hands a seccomp agent the notifications, and nook runs no agent',
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 'it only goes with a seccomp agent (SCMP_ACT_NOTIFY), which nook does not run',
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 'it only goes with a seccomp agent (SCMP_ACT_NOTIFY), which nook does not run',
};

/** Every filter flag the runtime spec names (features' knownFlags): the supported ones, then the refused. */
export const OCI_SECCOMP_KNOWN_FLAGS: readonly string[] = [...Object.keys(OCI_SECCOMP_FLAGS), ...Object.keys(REFUSED_FLAGS)];

const MAX_ERRNO = 4095;
const U64_MAX = (1n << 64n) - 1n;
const FIELD = 'linux.seccomp';

export interface OciSeccompFilter {
  /** struct sock_filter[] (8 bytes an instruction). */
  filter: Buffer;
  /** The flags argument of seccomp(SECCOMP_SET_MODE_FILTER, flags, ...). */
  flags: number;
}

function fail(field: string, problem: string, hint: string): never {
  throw new NookError(`${field}: ${problem}`, { hint });
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v === 'boolean' ? '' : 'the number '}${String(v)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** JSON null stands for a field left out (Go's encoding/json reads it so). */
const absent = (v: unknown) => v === undefined || v === null;

function stringList(v: unknown, field: string): string[] {
  if (absent(v)) return [];
  if (!Array.isArray(v)) fail(field, `expected a list of strings, found ${describe(v)}`, 'e.g. ["read", "write"]');
  return v.map((s, i) => (typeof s === 'string' ? s : fail(`${field}[${i}]`, `expected a string, found ${describe(s)}`, 'e.g. ["read", "write"]')));
}

function action(v: unknown, field: string): SeccompAction {
  if (v === 'SCMP_ACT_NOTIFY')
    fail(field, 'SCMP_ACT_NOTIFY needs a seccomp agent, which nook does not run', 'use SCMP_ACT_ERRNO or SCMP_ACT_LOG, or run this container with runc');
  if (typeof v !== 'string' || !(OCI_SECCOMP_ACTIONS as readonly string[]).includes(v))
    fail(field, absent(v) ? 'missing' : `unknown action ${describe(v)}`, `known actions: ${OCI_SECCOMP_ACTIONS.join(', ')}`);
  return v as SeccompAction;
}

function errnoRet(v: unknown, act: SeccompAction, field: string): number | undefined {
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_ERRNO)
    fail(field, `expected an errno number from 0 to ${MAX_ERRNO}, found ${describe(v)}`, 'e.g. 1 for EPERM, 13 for EACCES, 38 for ENOSYS');
  if (act !== 'SCMP_ACT_ERRNO' && act !== 'SCMP_ACT_TRACE')
    fail(field, `only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${act}`, 'remove it, or change the action');
  return v;
}

function u64(v: unknown, field: string): U64 {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) fail(field, `${v} does not fit an unsigned 64-bit value`, 'argument values are uint64');
    return v;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    fail(field, `expected an unsigned integer, found ${describe(v)}`, 'argument values are uint64, e.g. 4294967295 for a 32-bit -1');
  if (!Number.isSafeInteger(v))
    fail(field, `${v} is above 2^53 and was not read exactly`, 'read config.json with exact integers (bigint) for values this large');
  return v;
}

function arg(v: unknown, field: string): SeccompArg {
  if (!isObject(v)) fail(field, `expected an object, found ${describe(v)}`, 'e.g. {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}');
  const index = v.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5)
    fail(`${field}.index`, absent(index) ? 'missing' : `expected 0 to 5, found ${describe(index)}`, 'a system call has six arguments, numbered 0 to 5');
  if (absent(v.value)) fail(`${field}.value`, 'missing', 'the value to compare the argument with');
  const value = u64(v.value, `${field}.value`);
  const op = v.op;
  if (typeof op !== 'string' || !(OCI_SECCOMP_OPERATORS as readonly string[]).includes(op))
    fail(`${field}.op`, absent(op) ? 'missing' : `unknown operator ${describe(op)}`, `known operators: ${OCI_SECCOMP_OPERATORS.join(', ')}`);
  const out: SeccompArg = { index, value, op: op as SeccompOp };
  if (!absent(v.valueTwo)) out.valueTwo = u64(v.valueTwo, `${field}.valueTwo`);
  return out;
}

/** The rules of one OCI syscalls[] entry (several when runc would split it). */
function rules(v: unknown, field: string): SeccompRule[] {
  if (!isObject(v)) fail(field, `expected an object, found ${describe(v)}`, 'e.g. {"names": ["read"], "action": "SCMP_ACT_ALLOW"}');
  const names = stringList(v.names, `${field}.names`);
  const act = action(v.action, `${field}.action`);
  const errno = errnoRet(v.errnoRet, act, `${field}.errnoRet`);
  let args: SeccompArg[] = [];
  if (!absent(v.args)) {
    if (!Array.isArray(v.args)) fail(`${field}.args`, `expected a list, found ${describe(v.args)}`, 'e.g. [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]');
    args = v.args.map((a, i) => arg(a, `${field}.args[${i}]`));
  }
  const rule = (conds: SeccompArg[]): SeccompRule => ({
    names,
    action: act,
    ...(errno === undefined ? {} : { errnoRet: errno }),
    ...(conds.length > 0 ? { args: conds } : {}),
  });
  const repeated = new Set(args.map((a) => a.index)).size < args.length;
  return repeated ? args.map((a) => rule([a])) : [rule(args)];
}

const NATIVE_SCMP_ARCH: Record<SeccompArch, string> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };
const ENOSYS = 38;

/**
 * runc's ENOSYS stub (libcontainer/seccomp/patchbpf, measured with runc
 * 1.1.5): a call numbered above every call the config names gets ENOSYS
 * instead of the default action, so that programs fall back from calls newer
 * than the config (glibc's clone3 to clone) rather than fail with EPERM.
 * runc adds it only when `architectures` names the native architecture, and
 * not when the default action lets calls through (ALLOW, LOG, TRACE) or
 * already answers ENOSYS. Returns the number above which the stub applies.
 */
function enosysStub(profile: SeccompProfile, names: readonly string[], architectures: unknown, arch: SeccompArch): number | undefined {
  if (!Array.isArray(architectures) || !architectures.includes(NATIVE_SCMP_ARCH[arch])) return undefined;
  if (['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(profile.defaultAction) || profile.defaultErrnoRet === ENOSYS) return undefined;
  const table = syscallTable(arch);
  // Every name of the config counts, also those of rules left out (runc counts its whole list).
  let last = -1;
  for (const name of names) if (Object.hasOwn(table, name)) last = Math.max(last, table[name]);
  return last > 0 ? last : undefined; // runc's test: 0 stands for none
}

/** This process's seccomp architecture. */
function hostArch(): SeccompArch {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new NookError(`seccomp filters are not supported on ${process.arch}`, {
    hint: 'nook compiles seccomp filters for x86_64 and aarch64; remove linux.seccomp from config.json',
  });
}

/**
 * Checks `linux.seccomp` (an OciSeccomp as read from JSON, so not trusted to
 * be one) and maps it onto a docker-format profile; also returns the
 * seccomp(2) flags and every system call name the config has.
 */
export function ociSeccompProfile(s: unknown): { profile: SeccompProfile; flags: number; names: string[] } {
  if (!isObject(s)) fail(FIELD, `expected an object, found ${describe(s)}`, 'e.g. {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [...]}');
  if (!absent(s.listenerPath) && s.listenerPath !== '')
    fail(`${FIELD}.listenerPath`, 'seccomp agents (SCMP_ACT_NOTIFY) are not supported by nook', 'remove listenerPath (and listenerMetadata), or run this container with runc');
  const defaultAction = action(s.defaultAction, `${FIELD}.defaultAction`);
  const profile: SeccompProfile = { defaultAction };
  const defaultErrno = errnoRet(s.defaultErrnoRet, defaultAction, `${FIELD}.defaultErrnoRet`);
  if (defaultErrno !== undefined) profile.defaultErrnoRet = defaultErrno;

  stringList(s.architectures, `${FIELD}.architectures`).forEach((a, i) => {
    if (!OCI_SECCOMP_ARCHES.includes(a))
      fail(`${FIELD}.architectures[${i}]`, `unknown architecture ${describe(a)}`, `known architectures: ${OCI_SECCOMP_ARCHES.join(', ')}`);
  });

  let flags = 0;
  stringList(s.flags, `${FIELD}.flags`).forEach((f, i) => {
    const field = `${FIELD}.flags[${i}]`;
    if (Object.hasOwn(OCI_SECCOMP_FLAGS, f)) flags |= OCI_SECCOMP_FLAGS[f];
    else if (Object.hasOwn(REFUSED_FLAGS, f)) fail(field, `${f} is not supported: ${REFUSED_FLAGS[f]}`, 'remove it from linux.seccomp.flags');
    else fail(field, `unknown flag ${describe(f)}`, `flags nook supports: ${Object.keys(OCI_SECCOMP_FLAGS).join(', ')}`);
  });

  let names: string[] = [];
  if (!absent(s.syscalls)) {
    if (!Array.isArray(s.syscalls)) fail(`${FIELD}.syscalls`, `expected a list, found ${describe(s.syscalls)}`, 'e.g. [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]');
    const all = s.syscalls.flatMap((r, i) => rules(r, `${FIELD}.syscalls[${i}]`));
    names = [...new Set(all.flatMap((r) => r.names ?? []))];
    profile.syscalls = asLibseccomp(all, actionKey(defaultAction, profile.defaultErrnoRet));
  }
  return { profile, flags, names };
}

/** What libseccomp (through runc) sees as one action: SCMP_ACT_KILL is KILL_THREAD, ERRNO and TRACE default to EPERM. */
function actionKey(action: SeccompAction, errno: number | undefined): string {
  if (action === 'SCMP_ACT_KILL') return 'SCMP_ACT_KILL_THREAD';
  if (action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE') return `${action}(${errno ?? 1})`;
  return action;
}

/**
 * Rules as runc and libseccomp apply them, measured with runc 1.1.5 and
 * libseccomp 2.5.4 where nook's compiler would read them otherwise:
 *   - a rule whose action is the default action is left out (libseccomp
 *     refuses it, runc skips it), even where it would have overridden
 *     another rule;
 *   - a system call with a rule without conditions gets that rule's action
 *     whatever its other rules say: the first such rule wins, and the rules
 *     with conditions for that call are left out.
 * Rules with conditions that overlap still follow nook's precedence (bpf.ts):
 * libseccomp picks among them by the layout of its decision tree, not by
 * their actions or their order.
 */
function asLibseccomp(rules: SeccompRule[], defaultKey: string): SeccompRule[] {
  const kept = rules.filter((r) => actionKey(r.action, r.errnoRet) !== defaultKey);
  const unconditional = new Map<string, SeccompRule>();
  for (const r of kept) if (!r.args) for (const name of r.names ?? []) if (!unconditional.has(name)) unconditional.set(name, r);
  return kept.flatMap((r) => {
    const all = r.names ?? [];
    const names = all.filter((name) => (unconditional.get(name) ?? r) === r);
    if (names.length === all.length) return [r];
    return names.length > 0 ? [{ ...r, names }] : [];
  });
}

/**
 * Compiles `linux.seccomp` (an OciSeccomp as read from JSON) for `arch`
 * (default: this machine's). Throws a NookError naming the field for anything
 * nook cannot honour.
 */
export function compileOciSeccomp(s: unknown, arch: SeccompArch = hostArch()): OciSeccompFilter {
  const { profile, flags, names } = ociSeccompProfile(s);
  const enosysAbove = enosysStub(profile, names, (s as OciSeccomp).architectures, arch);
  // No includes/excludes in OCI rules: capabilities and the kernel version change nothing.
  return { filter: compileSeccomp(profile, arch, [], { kernel: '0.0', ...(enosysAbove === undefined ? {} : { enosysAbove }) }), flags };
}
