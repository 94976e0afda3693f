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
  MKDIR_P: 6,
  TOUCH: 7,
  SYMLINK: 8,
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
} as const;

export type OpName = keyof typeof Op;

/** An argument: a number, a string (NUL-terminated in the string area), a list of strings, or a list of numbers. */
export type PlanArg = number | bigint | string | null | { strings: string[] } | { numbers: number[] };

export interface PlanOp {
  op: OpName;
  args: PlanArg[];
  /** What this step does, in words, for error messages ("mount proc on /proc"). */
  what: string;
}

export const PLAN_MAGIC = 0x6e6f6f6b706c616en;
export const OP_WORDS = 8;
const HEADER_WORDS = 3;

/** Serialise ops into the buffer nook_exec_plan() reads. `statusFd` is where failures are reported. */
export function encodePlan(ops: readonly PlanOp[], statusFd: number): Buffer {
  const fixedBytes = (HEADER_WORDS + ops.length * OP_WORDS) * 8;
  const extra: Buffer[] = [];
  let extraLen = 0;
  // Appends bytes after the fixed part, 8-aligned, and returns their offset from the plan start.
  const place = (bytes: Buffer): number => {
    const off = fixedBytes + extraLen;
    const padded = Buffer.alloc((bytes.length + 7) & ~7);
    bytes.copy(padded);
    extra.push(padded);
    extraLen += padded.length;
    return off;
  };
  const placeString = (s: string): number => {
    if (s.includes('\0')) throw new Error(`plan argument contains a NUL byte: ${JSON.stringify(s)}`);
    return place(Buffer.from(s + '\0', 'utf8'));
  };
  const placeWords = (words: bigint[]): number => {
    const b = Buffer.alloc(words.length * 8);
    words.forEach((w, i) => b.writeBigUInt64LE(BigInt.asUintN(64, w), i * 8));
    return place(b);
  };

  const words: bigint[] = [PLAN_MAGIC, BigInt(ops.length), BigInt(statusFd)];
  for (const { op, args } of ops) {
    if (args.length > OP_WORDS - 1) throw new Error(`too many arguments for ${op}`);
    const row: bigint[] = [BigInt(Op[op])];
    for (const a of args) {
      if (a === null) row.push(0n);
      else if (typeof a === 'number') row.push(BigInt.asUintN(64, BigInt(a)));
      else if (typeof a === 'bigint') row.push(BigInt.asUintN(64, a));
      else if (typeof a === 'string') row.push(BigInt(placeString(a)));
      else if ('strings' in a) {
        const offs = a.strings.map((s) => BigInt(placeString(s)));
        row.push(BigInt(placeWords([...offs, 0n])));
      } else row.push(BigInt(placeWords(a.numbers.map((n) => BigInt(n)))));
    }
    while (row.length < OP_WORDS) row.push(0n);
    words.push(...row);
  }
  const fixed = Buffer.alloc(fixedBytes);
  words.forEach((w, i) => fixed.writeBigUInt64LE(w, i * 8));
  return Buffer.concat([fixed, ...extra]);
}
