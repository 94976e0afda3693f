import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args';
import { RUN_FLAGS } from '../../src/cli/run-flags';
import { parseTmpfs } from '../../src/cli/run-request';
import { mergeEnv } from '../../src/container/compose';
import { MS } from '../../ffi/linux';
import { FlagError, UsageError } from '../../src/errors';

const run = (argv: string[]) => parseArgs(argv, RUN_FLAGS, 'run');

describe('run flags', () => {
  it('stops at the first positional: the rest belongs to the command', () => {
    const { flags, positionals } = run(['--rootfs', '/r', '-it', 'sh', '-c', 'echo --rootfs x', '-e']);
    expect(flags.rootfs).toBe('/r');
    expect(flags.interactive).toBe(true);
    expect(flags.tty).toBe(true);
    expect(positionals).toEqual(['sh', '-c', 'echo --rootfs x', '-e']);
  });

  it('drops a leading -- and keeps numeric-looking arguments as typed', () => {
    expect(run(['--rootfs', '/r', '--', 'echo', '0x10', '1e3']).positionals).toEqual(['echo', '0x10', '1e3']);
  });

  it('collects repeatable flags and short aliases', () => {
    const { flags } = run(['-e', 'A=1', '--env', 'B=2', '-v', '/a:/b', '-u', '1000', 'true']);
    expect(flags.env).toEqual(['A=1', 'B=2']);
    expect(flags.volume).toEqual(['/a:/b']);
    expect(flags.user).toBe('1000');
  });

  it('names an unknown flag', () => {
    expect(() => run(['--rootfs', '/r', '--frobnicate', 'sh'])).toThrow(UsageError);
    expect(() => run(['-Z', 'sh'])).toThrow(/unknown flag: -Z/);
    expect(() => run(['--frobnicate=3', 'sh'])).toThrow(/unknown flag: --frobnicate$/);
  });

  it("rejects a missing value as a flag error (docker's 125 with any command)", () => {
    expect(() => run(['--rootfs'])).toThrow(/needs a value/);
    expect(() => run(['--rootfs'])).toThrow(FlagError);
    expect(() => run(['--frobnicate', 'sh'])).toThrow(FlagError);
  });

  it('takes the last value of a single-value flag given twice, as docker does', () => {
    expect(run(['--rootfs', 'a', '--rootfs', 'b', 'sh']).flags.rootfs).toBe('b');
  });
});

describe('tmpfs options', () => {
  it("defaults to docker's noexec,nosuid,nodev and mode 1777", () => {
    const t = parseTmpfs('/tmp');
    expect(t.flags).toBe(MS.NOEXEC | MS.NOSUID | MS.NODEV);
    expect(t.options).toBe('mode=1777');
  });

  it('accepts flag words and size/mode data, and refuses the rest', () => {
    const t = parseTmpfs('/run:exec,size=10m,mode=755,ro');
    expect(t.flags & MS.NOEXEC).toBe(0);
    expect(t.flags & MS.RDONLY).toBe(MS.RDONLY);
    expect(t.options).toBe('size=10m,mode=755');
    expect(() => parseTmpfs('/run:bogus')).toThrow(/unknown tmpfs option "bogus"/);
    expect(() => parseTmpfs('run')).toThrow(/absolute/);
  });
});

describe('environment', () => {
  it('lets later lists override earlier ones, keeping first positions', () => {
    expect(mergeEnv(['PATH=/bin', 'HOME=/root'], ['HOME=/x', 'A=1'])).toEqual(['PATH=/bin', 'HOME=/x', 'A=1']);
  });
});
