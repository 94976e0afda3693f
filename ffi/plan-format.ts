/**
 * The wire format of a plan, shared with ffi/executor.c (see the comment at
 * its top). TypeScript builds a list of `PlanOp`s; `encodePlan` lays them out
 * as 64-bit words plus a string area that the executor reads in the child.
 */

/** Opcodes: the numbers must match `enum nook_op` in executor.c (a unit test checks). */
export const Op = {
  WAIT_FD: 1,
  CLOSE: 2,
  MOUNT: 3,
  REMOUNT_BIND: 4,
  UMOUNT: 5,
  PIVOT_ROOT: 9,
  CHDIR: 10,
  SETHOSTNAME: 11,
  IFUP: 12,
  SETSID: 13,
  PTY: 14,
  DUP2: 15,
  CLEAR_NONBLOCK: 16,
  CLOEXEC_FROM: 17,
  SETGROUPS: 18,
  SETRESGID: 19,
  SETRESUID: 20,
  PRCTL: 21,
  RESET_SIGNALS: 22,
  SETRLIMIT: 23,
  EXEC: 24,
  OPEN: 25,
  WRITE_FILE: 26,
  UMASK: 27,
  EXIT_IF_HUP: 28,
  SETPGID: 29,
  CAP_BOUND: 30,
  CAPSET: 31,
  SECCOMP: 32,
  UNSHARE: 33,
  SETNS: 34,
  FORK: 35,
  INIT: 36,
  HOLD_PROC: 37,
  SET_ROOT: 38,
  RESOLVE: 39,
  MOUNT_AT: 40,
  SYMLINK_AT: 41,
  CHDIR_AT: 42,
  SETDOMAINNAME: 43,
  REPORT: 44,
  AWAIT_START: 45,
  RUN_HOOK: 46,
  CHECK_EXEC: 47,
  MASK_AT: 48,
  MKNOD_AT: 49,
  INIT_IMAGE: 50,
  CHROOT: 52,
  CLOSE_RANGE: 53,
} as const;

/** The kinds of message on the status socket: `enum nook_status_kind` in executor.c (a unit test checks). */
export const Status = {
  STEP_FAILED: 1,
  PTY_MASTER: 2,
  FORKED: 3,
  /** OP_REPORT's kinds (the OCI runtime's sync points): */
  CREATED: 4,
  UNSHARED: 5,
  HOOKS: 6,
} as const;

/** OP_RUN_HOOK reports a hook that failed in the errno slot: base + its exit status, or base + its signal. */
export const HOOK_EXIT_BASE = 100000;
export const HOOK_SIGNAL_BASE = 200000;

/** What RESOLVE does with missing components: the numbers of ffi/in-root.h (a unit test checks). */
export const Resolve = {
  EXISTING: 0,
  CREATE_DIR: 1,
  CREATE_FILE: 2,
  /** Or'ed with the above: a target the executor cannot make is skipped with the mount on it (optional files). */
  OPTIONAL: 4,
} as const;

export type OpName = keyof typeof Op;

/** An argument: a number, a string (NUL-terminated in the string area), a list of strings, or a list of numbers. */
export type PlanArg = number | bigint | string | null | { strings: string[] } | { numbers: number[] } | { bytes: Buffer };

export interface PlanOp {
  op: OpName;
  args: PlanArg[];
  /** What this step does, in words, for error messages ("mount proc on /proc"). */
  what: string;
}

export const PLAN_MAGIC = 0x6e6f6f6b706c616en;
export const OP_WORDS = 8;
const HEADER_WORDS = 3;

/**
 * Writes a 64-bit word from a JS number (exact up to 2^53; negative numbers
 * as two's complement, so -1 is ~0) into the plan's 32-bit view, low half
 * first (x86_64 and aarch64 are little-endian), without BigInt or
 * Buffer.writeUInt32LE: this runs cold on every start, where both cost
 * about a millisecond (argument checks interpreted on every call).
 */
function writeWord(words: Uint32Array, off: number, n: number): void {
  const i = off >>> 2;
  words[i] = n >>> 0;
  words[i + 1] = n < 0 ? 0xffffffff : Math.floor(n / 0x100000000) >>> 0;
}

/** A u64 BigInt as two 32-bit halves, low half first. */
function writeBigWord(words: Uint32Array, off: number, n: bigint): void {
  const v = BigInt.asUintN(64, n);
  words[off >>> 2] = Number(v & 0xffffffffn);
  words[(off >>> 2) + 1] = Number(v >> 32n);
}

const align8 = (n: number) => (n + 7) & ~7;

/** Serialise ops into the buffer nook_exec_plan() reads. `statusFd` is where failures are reported. */
export function encodePlan(ops: readonly PlanOp[], statusFd: number): Buffer {
  // First pass: the size of the variable part (strings and lists), 8-aligned pieces.
  let extra = 0;
  const stringSize = (s: string) => align8(Buffer.byteLength(s) + 1);
  for (const { op, args } of ops) {
    if (args.length > OP_WORDS - 1) throw new Error(`too many arguments for ${op}`);
    for (const a of args) {
      if (typeof a === 'string') extra += stringSize(a);
      else if (a !== null && typeof a === 'object') {
        if ('strings' in a) extra += (a.strings.length + 1) * 8 + a.strings.reduce((sum, x) => sum + stringSize(x), 0);
        else if ('bytes' in a) extra += align8(a.bytes.length);
        else extra += align8(a.numbers.length * 8);
      }
    }
  }
  const fixedBytes = (HEADER_WORDS + ops.length * OP_WORDS) * 8;
  const buf = Buffer.alloc(fixedBytes + extra); // its own zeroed ArrayBuffer, at offset 0
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  let tail = fixedBytes; // where the next variable piece goes

  const placeString = (s: string): number => {
    if (s.includes('\0')) throw new Error(`plan argument contains a NUL byte: ${JSON.stringify(s)}`);
    const off = tail;
    tail += align8(buf.write(s, off, 'utf8') + 1);
    return off;
  };

  writeBigWord(words, 0, PLAN_MAGIC);
  writeWord(words, 8, ops.length);
  writeWord(words, 16, statusFd);
  ops.forEach(({ op, args }, i) => {
    const row = (HEADER_WORDS + i * OP_WORDS) * 8;
    writeWord(words, row, Op[op]);
    args.forEach((a, j) => {
      const at = row + (j + 1) * 8;
      if (a === null) return;
      if (typeof a === 'number') writeWord(words, at, a);
      else if (typeof a === 'bigint') writeBigWord(words, at, a);
      else if (typeof a === 'string') writeWord(words, at, placeString(a));
      else if ('strings' in a) {
        const list = tail;
        tail += (a.strings.length + 1) * 8; // the 0 terminator is already there
        a.strings.forEach((x, k) => writeWord(words, list + k * 8, placeString(x)));
        writeWord(words, at, list);
      } else if ('bytes' in a) {
        // Raw bytes (a seccomp filter, the init program), 8-aligned in the variable part; the argument is their offset.
        a.bytes.copy(buf, tail);
        writeWord(words, at, tail);
        tail += align8(a.bytes.length);
      } else {
        const list = tail;
        tail += align8(a.numbers.length * 8);
        a.numbers.forEach((x, k) => writeWord(words, list + k * 8, x));
        writeWord(words, at, list);
      }
    });
  });
  return buf;
}
