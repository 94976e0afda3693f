import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodePlan, HOOK_EXIT_BASE, HOOK_SIGNAL_BASE, Op, OP_WORDS, PLAN_MAGIC, Resolve, Status } from '../../ffi/plan-format';

const word = (b: Buffer, i: number) => b.readBigUInt64LE(i * 8);
const cstring = (b: Buffer, off: number) => b.subarray(off, b.indexOf(0, off)).toString('utf8');

describe('plan encoding', () => {
  it('lays out header, fixed-size op rows and NUL-terminated strings', () => {
    const buf = encodePlan(
      [
        { op: 'SETHOSTNAME', args: ['box'], what: 'x' },
        { op: 'PRCTL', args: [1, 9, 0, 0, 0], what: 'y' },
      ],
      7,
    );
    expect(word(buf, 0)).toBe(PLAN_MAGIC);
    expect(word(buf, 1)).toBe(2n);
    expect(word(buf, 2)).toBe(7n);
    expect(word(buf, 3)).toBe(BigInt(Op.SETHOSTNAME));
    expect(cstring(buf, Number(word(buf, 4)))).toBe('box');
    const second = 3 + OP_WORDS;
    expect(word(buf, second)).toBe(BigInt(Op.PRCTL));
    expect([1, 2, 3].map((i) => word(buf, second + i))).toEqual([1n, 9n, 0n]);
  });

  it('encodes string lists as 0-terminated offset arrays and null as 0', () => {
    const buf = encodePlan([{ op: 'EXEC', args: ['sh', { strings: ['sh', '-c', 'x y'] }, null, '/bin'], what: 'e' }], 3);
    const list = Number(word(buf, 5));
    const offs = [0, 1, 2, 3].map((i) => buf.readBigUInt64LE(list + i * 8));
    expect(offs[3]).toBe(0n);
    expect(offs.slice(0, 3).map((o) => cstring(buf, Number(o)))).toEqual(['sh', '-c', 'x y']);
    expect(word(buf, 6)).toBe(0n);
    expect(cstring(buf, Number(word(buf, 7)))).toBe('/bin');
  });

  it('encodes negative numbers as two-complement words (uid -1 keeps a value unchanged)', () => {
    const buf = encodePlan([{ op: 'PTY', args: ['/dev/ptmx', 0, -1], what: 'p' }], 3);
    expect(word(buf, 6)).toBe(0xffffffffffffffffn);
  });

  it('refuses strings with NUL bytes and too many arguments', () => {
    expect(() => encodePlan([{ op: 'CHDIR', args: ['a\0b'], what: 'c' }], 3)).toThrow(/NUL/);
    expect(() => encodePlan([{ op: 'PRCTL', args: [1, 2, 3, 4, 5, 6, 7, 8], what: 'c' }], 3)).toThrow(/too many/);
  });

  it('uses the same opcode numbers as ffi/executor.c', () => {
    const c = fs.readFileSync(path.join(__dirname, '../../ffi/executor.c'), 'utf8');
    const enumBody = c.slice(c.indexOf('enum nook_op {'), c.indexOf('};', c.indexOf('enum nook_op {')));
    const fromC = Object.fromEntries([...enumBody.matchAll(/OP_(\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(fromC).toEqual({ ...Op });
    expect(c).toContain(`#define NOOK_OP_WORDS ${OP_WORDS}`);
  });

  it('uses the same status kinds and hook failure bases as ffi/executor.c', () => {
    const c = fs.readFileSync(path.join(__dirname, '../../ffi/executor.c'), 'utf8');
    const enumBody = c.slice(c.indexOf('enum nook_status_kind {'), c.indexOf('};', c.indexOf('enum nook_status_kind {')));
    const fromC = Object.fromEntries([...enumBody.matchAll(/STATUS_(\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(fromC).toEqual({ ...Status });
    expect(c).toContain(`#define NOOK_HOOK_EXIT_BASE ${HOOK_EXIT_BASE}`);
    expect(c).toContain(`#define NOOK_HOOK_SIGNAL_BASE ${HOOK_SIGNAL_BASE}`);
  });

  it('uses the same RESOLVE modes as ffi/in-root.h', () => {
    const h = fs.readFileSync(path.join(__dirname, '../../ffi/in-root.h'), 'utf8');
    const fromC = Object.fromEntries([...h.matchAll(/NOOK_RESOLVE_(\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(fromC).toEqual({ ...Resolve });
  });
});
