import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultProfile, loadProfile, parseProfile } from '../../src/sandbox/seccomp';
import { NookError } from '../../src/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-seccomp-profile-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
function write(content: string): string {
  const file = path.join(dir, `p${n++}.json`);
  fs.writeFileSync(file, content);
  return file;
}

/** The NookError that loading `content` from a file throws. */
function loadError(content: unknown): NookError {
  const file = write(typeof content === 'string' ? content : JSON.stringify(content));
  try {
    loadProfile(file);
  } catch (e) {
    expect(e).toBeInstanceOf(NookError);
    expect((e as NookError).message).toContain(file);
    expect((e as NookError).hint).toBeTruthy();
    return e as NookError;
  }
  throw new Error('no error');
}

const rule = (r: object) => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', ...r }] });

describe('seccomp profile parser', () => {
  it('reads the docker format, with nulls and unknown fields', () => {
    const p = loadProfile(
      write(
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ERRNO',
          defaultErrnoRet: 1,
          archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }, { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null }],
          flags: null,
          somethingNew: { x: 1 },
          syscalls: [
            { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: null, comment: '', includes: {}, excludes: { caps: null } },
            { name: 'personality', action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
            { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'], minKernel: '5.3' } },
          ],
        }),
      ),
    );
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.archMap).toEqual([{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }, { architecture: 'SCMP_ARCH_RISCV64' }]);
    expect(p.syscalls).toEqual([
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: '', includes: {}, excludes: {} },
      { name: 'personality', action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'], minKernel: '5.3' } },
    ]);
  });

  it('keeps 64-bit values above 2^53 exact', () => {
    const p = parseProfile(
      '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":18446744073709551615,"valueTwo":9007199254740993,"op":"SCMP_CMP_MASKED_EQ"}]}]}',
      'inline',
    );
    const arg = p.syscalls![0].args![0];
    expect(arg.value).toBe(18446744073709551615n);
    expect(arg.valueTwo).toBe(9007199254740993n);
  });

  it('round-trips docker\'s default profile through JSON', () => {
    expect(loadProfile(write(JSON.stringify(defaultProfile())))).toEqual(defaultProfile());
  });

  it('names a file that cannot be read', () => {
    const missing = path.join(dir, 'missing.json');
    expect(() => loadProfile(missing)).toThrow(NookError);
    expect(() => loadProfile(missing)).toThrow(`cannot read seccomp profile ${missing}: no such file`);
  });

  it('says when the file is not JSON', () => {
    expect(loadError('{"defaultAction": "SCMP_ACT_ERRNO",').message).toMatch(/is not valid JSON/);
    expect(loadError('[]').message).toMatch(/the profile: expected an object, found a list/);
  });

  it('names the bad field', () => {
    const cases: [unknown, RegExp][] = [
      [{ syscalls: [] }, /defaultAction: missing/],
      [{ defaultAction: 'SCMP_ACT_DENY' }, /defaultAction: unknown action the string "SCMP_ACT_DENY"/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }, /defaultErrnoRet: expected an errno number from 0 to 4095/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', syscalls: {} }, /syscalls: expected a list, found an object/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ action: 'SCMP_ACT_ALLOW' }] }, /syscalls\[0\]\.names: missing/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: 'read', action: 'SCMP_ACT_ALLOW' }] }, /syscalls\[0\]\.names: expected a list of strings, found the string "read"/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 3], action: 'SCMP_ACT_ALLOW' }] }, /syscalls\[0\]\.names\[1\]: expected a string, found the number 3/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'read', names: ['write'], action: 'SCMP_ACT_ALLOW' }] }, /syscalls\[0\]: has both "name" and "names"/],
      [rule({ action: 'SCMP_ACT_NOTIFY' }), /syscalls\[0\]\.action: SCMP_ACT_NOTIFY needs a seccomp agent/],
      [rule({ action: undefined }), /syscalls\[0\]\.action: missing/],
      [rule({ errnoRet: 13 }), /syscalls\[0\]\.errnoRet: only goes with SCMP_ACT_ERRNO/],
      [rule({ action: 'SCMP_ACT_ERRNO', errnoRet: 5000 }), /syscalls\[0\]\.errnoRet: expected an errno number from 0 to 4095, found the number 5000/],
      [rule({ args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }), /syscalls\[0\]\.args\[0\]\.index: expected 0 to 5, found the number 6/],
      [rule({ args: [{ value: 0, op: 'SCMP_CMP_EQ' }] }), /syscalls\[0\]\.args\[0\]\.index: missing/],
      [rule({ args: [{ index: 0, op: 'SCMP_CMP_EQ' }] }), /syscalls\[0\]\.args\[0\]\.value: missing/],
      [rule({ args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }), /syscalls\[0\]\.args\[0\]\.value: expected an unsigned integer, found the number -1/],
      [rule({ args: [{ index: 0, value: '1', op: 'SCMP_CMP_EQ' }] }), /syscalls\[0\]\.args\[0\]\.value: expected an unsigned integer, found the string "1"/],
      [rule({ args: [{ index: 0, value: 1.5, op: 'SCMP_CMP_EQ' }] }), /value: expected an unsigned integer, found the number 1.5/],
      [rule({ args: [{ index: 0, value: 1, op: 'SCMP_CMP_BETWEEN' }] }), /syscalls\[0\]\.args\[0\]\.op: unknown operator the string "SCMP_CMP_BETWEEN"/],
      [rule({ args: [{ index: 0, value: 1, valueTwo: 18446744073709551616n, op: 'SCMP_CMP_MASKED_EQ' }] }), /valueTwo: 18446744073709551616 does not fit an unsigned 64-bit value/],
      [rule({ args: {} }), /syscalls\[0\]\.args: expected a list, found an object/],
      [rule({ includes: { caps: 'CAP_SYS_ADMIN' } }), /syscalls\[0\]\.includes\.caps: expected a list of strings/],
      [rule({ excludes: { minKernel: '4' } }), /syscalls\[0\]\.excludes\.minKernel: expected "major.minor", found the string "4"/],
      [rule({ includes: [] }), /syscalls\[0\]\.includes: expected an object, found a list/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] }, /archMap: the profile has both "architectures" and "archMap"/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', archMap: [{ subArchitectures: [] }] }, /archMap\[0\]\.architecture: expected a string, found null/],
      [{ defaultAction: 'SCMP_ACT_ERRNO', listenerPath: '/run/agent.sock' }, /listenerPath: seccomp agents \(SCMP_ACT_NOTIFY\) are not supported/],
    ];
    for (const [content, message] of cases) {
      const text = JSON.stringify(content, (_k, v) => (typeof v === 'bigint' ? `@@${v}@@` : v)).replace(/"@@(\d+)@@"/g, '$1');
      expect(loadError(text).message, text).toMatch(message);
    }
  });
});
