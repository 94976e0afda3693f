/**
 * A classic BPF interpreter for seccomp programs (struct sock_filter[], 8
 * bytes an instruction, little-endian), to run compiled filters against
 * `struct seccomp_data` inputs in tests. It checks programs the way the
 * kernel's bpf_check_classic()/seccomp_check_filter() do for the instructions
 * it knows: length 1..4096, jumps inside the program, absolute loads of
 * aligned words inside seccomp_data, a `ret` at the end.
 */

export interface SeccompData {
  nr: number;
  arch: number;
  ip?: bigint;
  /** Up to six 64-bit arguments; missing ones are 0. */
  args?: readonly (number | bigint)[];
}

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const SECCOMP_DATA_SIZE = 64;

export function decode(prog: Buffer): Insn[] {
  if (prog.length % 8 !== 0) throw new Error(`program length ${prog.length} is not a multiple of 8`);
  const out: Insn[] = [];
  for (let off = 0; off < prog.length; off += 8)
    out.push({ code: prog.readUInt16LE(off), jt: prog.readUInt8(off + 2), jf: prog.readUInt8(off + 3), k: prog.readUInt32LE(off + 4) });
  return out;
}

/** Throws if the kernel would refuse the program (for the instructions this interpreter knows). */
export function check(insns: Insn[]): void {
  if (insns.length === 0 || insns.length > 4096) throw new Error(`program has ${insns.length} instructions`);
  insns.forEach((ins, pc) => {
    const cls = ins.code & 0x07;
    const target = (off: number) => {
      if (pc + 1 + off >= insns.length) throw new Error(`pc ${pc}: jump past the end`);
    };
    switch (ins.code) {
      case 0x20: // ld [k]
        if (ins.k % 4 !== 0 || ins.k >= SECCOMP_DATA_SIZE) throw new Error(`pc ${pc}: bad load offset ${ins.k}`);
        break;
      case 0x00: // ld #k
      case 0x54: // and #k
      case 0x44: // or #k
      case 0x06: // ret #k
        break;
      case 0x05: // ja
        target(ins.k);
        break;
      case 0x15: // jeq
      case 0x25: // jgt
      case 0x35: // jge
      case 0x45: // jset
        target(ins.jt);
        target(ins.jf);
        break;
      default:
        throw new Error(`pc ${pc}: instruction 0x${ins.code.toString(16)} (class ${cls}) not supported here`);
    }
  });
  const last = insns[insns.length - 1].code;
  if (last !== 0x06) throw new Error('program does not end with ret');
}

function dataBuffer(d: SeccompData): Buffer {
  const b = Buffer.alloc(SECCOMP_DATA_SIZE);
  b.writeInt32LE(d.nr | 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.ip ?? 0n, 8);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  return b;
}

export interface RunResult {
  /** The seccomp return value (SECCOMP_RET_*, with data). */
  ret: number;
  /** Instructions executed. */
  steps: number;
}

/** Runs a (decoded, checked) program on one input. */
export function runInsns(insns: Insn[], d: SeccompData): RunResult {
  const data = dataBuffer(d);
  let a = 0;
  let pc = 0;
  let steps = 0;
  for (;;) {
    const ins = insns[pc++];
    steps++;
    switch (ins.code) {
      case 0x20:
        a = data.readUInt32LE(ins.k);
        break;
      case 0x00:
        a = ins.k;
        break;
      case 0x54:
        a = (a & ins.k) >>> 0;
        break;
      case 0x44:
        a = (a | ins.k) >>> 0;
        break;
      case 0x06:
        return { ret: ins.k >>> 0, steps };
      case 0x05:
        pc += ins.k;
        break;
      case 0x15:
        pc += a === ins.k ? ins.jt : ins.jf;
        break;
      case 0x25:
        pc += a > ins.k ? ins.jt : ins.jf;
        break;
      case 0x35:
        pc += a >= ins.k ? ins.jt : ins.jf;
        break;
      case 0x45:
        pc += (a & ins.k) !== 0 ? ins.jt : ins.jf;
        break;
      default:
        throw new Error(`pc ${pc - 1}: unknown instruction 0x${ins.code.toString(16)}`);
    }
  }
}

/** Checks and runs a program on one input. */
export function runFilter(prog: Buffer, d: SeccompData): RunResult {
  const insns = decode(prog);
  check(insns);
  return runInsns(insns, d);
}

/** A readable listing, for failing tests. */
export function disassemble(prog: Buffer): string {
  const names: Record<number, string> = { 0x20: 'ld', 0x00: 'ldi', 0x54: 'and', 0x44: 'or', 0x06: 'ret', 0x05: 'ja', 0x15: 'jeq', 0x25: 'jgt', 0x35: 'jge', 0x45: 'jset' };
  return decode(prog)
    .map((i, pc) => {
      const n = names[i.code] ?? `op${i.code.toString(16)}`;
      const k = `0x${i.k.toString(16)}`;
      if (i.code === 0x05) return `${pc}: ja ${pc + 1 + i.k}`;
      if ((i.code & 0x07) === 0x05) return `${pc}: ${n} ${k} ? ${pc + 1 + i.jt} : ${pc + 1 + i.jf}`;
      return `${pc}: ${n} ${i.code === 0x20 ? `[${i.k}]` : k}`;
    })
    .join('\n');
}
