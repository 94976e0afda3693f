import { describe, expect, it } from 'vitest';
import { parseChmod } from '../../src/build/chmod';

const apply = (spec: string, mode: number, isDir = false) => {
  const p = parseChmod(spec);
  if ('error' in p) throw new Error(p.error);
  return p.change(mode, isDir);
};

describe('COPY --chmod', () => {
  it('octal modes replace the permission bits, up to 07777', () => {
    expect(apply('755', 0o600)).toBe(0o755);
    expect(apply('04755', 0o600)).toBe(0o4755);
    expect(parseChmod('17777')).toEqual({ error: "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777" });
    expect('error' in parseChmod('9')).toBe(true);
  });
  it('symbolic modes apply to each file as chmod(1) does', () => {
    expect(apply('u+x', 0o644)).toBe(0o744);
    expect(apply('go-w', 0o666)).toBe(0o644);
    expect(apply('a=r', 0o777)).toBe(0o444);
    expect(apply('u=rwx,g=rx,o=', 0o000)).toBe(0o750);
    expect(apply('+x', 0o644)).toBe(0o755);
    expect(apply('a+X', 0o644)).toBe(0o644);
    expect(apply('a+X', 0o744)).toBe(0o755);
    expect(apply('a+X', 0o644, true)).toBe(0o755);
    expect(apply('u+s,o+t', 0o755)).toBe(0o5755);
    expect(apply('g=u', 0o740)).toBe(0o770);
  });
  it('refuses what is neither', () => {
    expect('error' in parseChmod('rwx')).toBe(true);
    expect('error' in parseChmod('u+q')).toBe(true);
  });
});
