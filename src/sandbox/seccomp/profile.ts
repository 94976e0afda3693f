/**
 * Docker's seccomp profile format (the JSON of `--security-opt seccomp=FILE`,
 * moby's profiles/seccomp/default.json): types, and a parser that checks
 * every field and says which one is wrong.
 *
 * Unknown fields are ignored, as docker's JSON decoder does; `null` stands for
 * a field left out (Go writes empty lists that way). Fields that only matter to
 * libseccomp or to a seccomp agent (`architectures`, `archMap`, `flags`,
 * `listenerPath`, `listenerMetadata`) are checked for type and otherwise
 * ignored: nook's filter only allows the native architecture (see bpf.ts).
 */
import fs = require('node:fs');
import { NookError, describeErrno } from '../../errors';

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
  'SCMP_ACT_ALLOW',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;
export type SeccompOp = (typeof SECCOMP_OPS)[number];

/** A 64-bit unsigned value: a number when it is exact as one, else a bigint. */
export type U64 = number | bigint;

/**
 * One comparison of a system call argument: `args[index] OP value`; for
 * SCMP_CMP_MASKED_EQ, `(args[index] & value) == valueTwo`.
 */
export interface SeccompArg {
  index: number;
  value: U64;
  valueTwo?: U64;
  op: SeccompOp;
}

/** Docker's includes/excludes: which containers a rule is for. */
export interface SeccompFilter {
  /** includes: all of them must be kept; excludes: any one kept drops the rule. */
  caps?: readonly string[];
  /** Go architecture names: amd64, arm64, ... */
  arches?: readonly string[];
  /** "major.minor": includes: the host kernel is at least that; excludes: it is older. */
  minKernel?: string;
}

export interface SeccompRule {
  names?: readonly string[];
  /** Older single-name form; a rule has `name` or `names`, not both. */
  name?: string;
  action: SeccompAction;
  /** For SCMP_ACT_ERRNO: the errno returned (EPERM if left out). */
  errnoRet?: number;
  /** All must hold (AND); several rules for one system call are alternatives (OR). */
  args?: readonly SeccompArg[];
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

export interface SeccompArchMap {
  architecture: string;
  subArchitectures?: readonly string[];
}

export interface SeccompProfile {
  defaultAction: SeccompAction;
  /** errno of a SCMP_ACT_ERRNO default action (EPERM if left out). */
  defaultErrnoRet?: number;
  architectures?: readonly string[];
  archMap?: readonly SeccompArchMap[];
  flags?: readonly string[];
  syscalls?: readonly SeccompRule[];
}

const MAX_ERRNO = 4095;
const U64_MAX = (1n << 64n) - 1n;

type Json = null | boolean | number | bigint | string | Json[] | { [k: string]: Json };

/** Reads and checks a docker-format profile; every problem names the file and the field. */
export function loadProfile(file: string): SeccompProfile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.errno ? describeErrno(-err.errno) : err.message;
    throw new NookError(`cannot read seccomp profile ${file}: ${why}`, {
      hint: 'give the path of a JSON profile in docker\'s format, or --security-opt seccomp=unconfined',
    });
  }
  return parseProfile(text, file);
}

/** Parses profile JSON; `source` names it in messages (a file name). */
export function parseProfile(text: string, source: string): SeccompProfile {
  let raw: Json;
  try {
    // Values above 2^53 stay exact: JSON.parse hands the reviver the number's
    // source text (Node 21+), which becomes a bigint.
    raw = JSON.parse(text, function (this: unknown, _key: string, value: unknown, ctx?: { source?: string }) {
      if (typeof value === 'number' && !Number.isSafeInteger(value) && ctx?.source && /^-?\d+$/.test(ctx.source))
        return BigInt(ctx.source);
      return value;
    }) as Json;
  } catch (e) {
    throw new NookError(`seccomp profile ${source} is not valid JSON: ${(e as Error).message}`, {
      hint: "the profile is docker's seccomp JSON: {\"defaultAction\": ..., \"syscalls\": [...]}",
    });
  }
  return new ProfileChecker(source).profile(raw);
}

class ProfileChecker {
  constructor(private readonly source: string) {}

  private fail(field: string, problem: string, hint?: string): never {
    throw new NookError(`seccomp profile ${this.source}: ${field}: ${problem}`, {
      hint: hint ?? "see docker's seccomp profile format (moby's profiles/seccomp/default.json is an example)",
    });
  }

  private what(v: Json): string {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'a list';
    if (typeof v === 'object') return 'an object';
    if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
    if (typeof v === 'boolean') return String(v);
    return `the number ${v}`;
  }

  private object(v: Json, field: string): { [k: string]: Json } {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, `expected an object, found ${this.what(v)}`);
    return v;
  }

  private string(v: Json, field: string): string {
    if (typeof v !== 'string') this.fail(field, `expected a string, found ${this.what(v)}`);
    return v;
  }

  private strings(v: Json | undefined, field: string): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) this.fail(field, `expected a list of strings, found ${this.what(v)}`);
    return v.map((s, i) => this.string(s, `${field}[${i}]`));
  }

  private errno(v: Json | undefined, field: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_ERRNO)
      this.fail(field, `expected an errno number from 0 to ${MAX_ERRNO}, found ${this.what(v)}`, 'e.g. 1 for EPERM, 13 for EACCES, 38 for ENOSYS');
    return v;
  }

  private u64(v: Json | undefined, field: string): U64 | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'bigint') {
      if (v < 0n || v > U64_MAX) this.fail(field, `${v} does not fit an unsigned 64-bit value`);
      return v;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      this.fail(field, `expected an unsigned integer, found ${this.what(v)}`, 'argument values are unsigned 64-bit integers, e.g. 4294967295 for a 32-bit -1');
    if (!Number.isSafeInteger(v))
      this.fail(field, `${v} is too large to be read exactly here`, 'values above 2^53 need Node.js 21 or newer');
    return v;
  }

  private action(v: Json | undefined, field: string): SeccompAction {
    if (v === 'SCMP_ACT_NOTIFY')
      this.fail(field, 'SCMP_ACT_NOTIFY needs a seccomp agent, which nook does not run', 'use SCMP_ACT_ERRNO or SCMP_ACT_LOG instead');
    if (typeof v !== 'string' || !(SECCOMP_ACTIONS as readonly string[]).includes(v))
      this.fail(field, v === undefined ? 'missing' : `unknown action ${this.what(v)}`, `known actions: ${SECCOMP_ACTIONS.join(', ')}`);
    return v as SeccompAction;
  }

  private filter(v: Json | undefined, field: string): SeccompFilter | undefined {
    if (v === undefined || v === null) return undefined;
    const o = this.object(v, field);
    const out: SeccompFilter = {};
    const caps = this.strings(o.caps, `${field}.caps`);
    if (caps) out.caps = caps;
    const arches = this.strings(o.arches, `${field}.arches`);
    if (arches) out.arches = arches;
    if (o.minKernel !== undefined && o.minKernel !== null) {
      const k = this.string(o.minKernel, `${field}.minKernel`);
      if (!/^\d+\.\d+$/.test(k)) this.fail(`${field}.minKernel`, `expected "major.minor", found ${this.what(k)}`, 'e.g. "4.8"');
      out.minKernel = k;
    }
    return out;
  }

  private arg(v: Json, field: string): SeccompArg {
    const o = this.object(v, field);
    const index = o.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5)
      this.fail(`${field}.index`, index === undefined ? 'missing' : `expected 0 to 5, found ${this.what(index)}`, 'a system call has six arguments, numbered 0 to 5');
    const value = this.u64(o.value, `${field}.value`);
    if (value === undefined) this.fail(`${field}.value`, 'missing');
    const valueTwo = this.u64(o.valueTwo, `${field}.valueTwo`);
    const op = o.op;
    if (typeof op !== 'string' || !(SECCOMP_OPS as readonly string[]).includes(op))
      this.fail(`${field}.op`, op === undefined ? 'missing' : `unknown operator ${this.what(op)}`, `known operators: ${SECCOMP_OPS.join(', ')}`);
    const out: SeccompArg = { index, value, op: op as SeccompOp };
    if (valueTwo !== undefined) out.valueTwo = valueTwo;
    return out;
  }

  private rule(v: Json, field: string): SeccompRule {
    const o = this.object(v, field);
    const names = this.strings(o.names, `${field}.names`);
    const name = o.name === undefined || o.name === null || o.name === '' ? undefined : this.string(o.name, `${field}.name`);
    if (name !== undefined && names && names.length > 0)
      this.fail(field, 'has both "name" and "names"', 'use one of them: "names": ["a", "b"]');
    if (name === undefined && !names) this.fail(`${field}.names`, 'missing', 'each rule lists the system calls it is for: "names": ["a", "b"]');
    const action = this.action(o.action, `${field}.action`);
    const errnoRet = this.errno(o.errnoRet, `${field}.errnoRet`);
    if (errnoRet !== undefined && action !== 'SCMP_ACT_ERRNO' && action !== 'SCMP_ACT_TRACE')
      this.fail(`${field}.errnoRet`, `only goes with SCMP_ACT_ERRNO (or SCMP_ACT_TRACE), not ${action}`);
    const out: SeccompRule = { action };
    if (names) out.names = names;
    if (name !== undefined) out.name = name;
    if (errnoRet !== undefined) out.errnoRet = errnoRet;
    if (o.args !== undefined && o.args !== null) {
      if (!Array.isArray(o.args)) this.fail(`${field}.args`, `expected a list, found ${this.what(o.args)}`);
      out.args = o.args.map((a, i) => this.arg(a, `${field}.args[${i}]`));
    }
    if (o.comment !== undefined && o.comment !== null) out.comment = this.string(o.comment, `${field}.comment`);
    const includes = this.filter(o.includes, `${field}.includes`);
    if (includes) out.includes = includes;
    const excludes = this.filter(o.excludes, `${field}.excludes`);
    if (excludes) out.excludes = excludes;
    return out;
  }

  profile(raw: Json): SeccompProfile {
    const o = this.object(raw, 'the profile');
    const out: SeccompProfile = { defaultAction: this.action(o.defaultAction, 'defaultAction') };
    const defaultErrnoRet = this.errno(o.defaultErrnoRet, 'defaultErrnoRet');
    if (defaultErrnoRet !== undefined) out.defaultErrnoRet = defaultErrnoRet;
    const architectures = this.strings(o.architectures, 'architectures');
    if (o.archMap !== undefined && o.archMap !== null) {
      if (!Array.isArray(o.archMap)) this.fail('archMap', `expected a list, found ${this.what(o.archMap)}`);
      if (architectures && architectures.length > 0 && o.archMap.length > 0)
        this.fail('archMap', 'the profile has both "architectures" and "archMap"', 'use one of them');
      out.archMap = o.archMap.map((m, i) => {
        const e = this.object(m, `archMap[${i}]`);
        const sub = this.strings(e.subArchitectures, `archMap[${i}].subArchitectures`);
        const entry: SeccompArchMap = { architecture: this.string(e.architecture ?? null, `archMap[${i}].architecture`) };
        if (sub) entry.subArchitectures = sub;
        return entry;
      });
    }
    if (architectures) out.architectures = architectures;
    const flags = this.strings(o.flags, 'flags');
    if (flags) out.flags = flags;
    if (o.listenerPath !== undefined && o.listenerPath !== null && o.listenerPath !== '')
      this.fail('listenerPath', 'seccomp agents (SCMP_ACT_NOTIFY) are not supported by nook', 'remove listenerPath from the profile');
    if (o.syscalls !== undefined && o.syscalls !== null) {
      if (!Array.isArray(o.syscalls)) this.fail('syscalls', `expected a list, found ${this.what(o.syscalls)}`);
      out.syscalls = o.syscalls.map((r, i) => this.rule(r, `syscalls[${i}]`));
    }
    return out;
  }
}
