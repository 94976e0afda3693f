import os = require('node:os');
import { describe, expect, it } from 'vitest';
import { blkioWeightToIoWeight, parseSize, resourceLimitsFromFlags, sharesToWeight } from '../../src/sandbox/cgroups/flags';
import { limitFlagNames, limitWrites, neededControllers } from '../../src/sandbox/cgroups/limits';
import { UsageError } from '../../src/errors';

const MiB = 2 ** 20;

function usageError(flags: Record<string, unknown>): UsageError {
  try {
    resourceLimitsFromFlags(flags);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(125);
    return e as UsageError;
  }
  throw new Error(`no error for ${JSON.stringify(flags)}`);
}

describe('sizes, as docker reads them', () => {
  it.each([
    ['1073741824', 2 ** 30],
    ['512k', 512 * 1024],
    ['32m', 32 * MiB],
    ['32M', 32 * MiB],
    ['32mb', 32 * MiB],
    ['32MiB', 32 * MiB],
    ['1g', 2 ** 30],
    ['1.5g', 1.5 * 2 ** 30],
    ['2t', 2 * 2 ** 40],
    ['100b', 100],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text, 'memory')).toBe(bytes);
  });

  it.each(['', 'm', '-5m', '32x', '1e6', '32 mm', '0x10'])('rejects %j, naming the flag', (text) => {
    expect(() => parseSize(text, 'memory')).toThrow(/invalid size .* for --memory/);
  });
});

describe('resource flags → limits', () => {
  it('is undefined without limit flags, or with docker\'s "no limit" values', () => {
    expect(resourceLimitsFromFlags({})).toBeUndefined();
    expect(resourceLimitsFromFlags({ rootfs: '/x', tty: false })).toBeUndefined();
    expect(resourceLimitsFromFlags({ 'pids-limit': '-1' })).toBeUndefined();
    expect(resourceLimitsFromFlags({ 'pids-limit': '0', memory: '0', 'cpu-shares': '0', 'blkio-weight': '0' })).toBeUndefined();
  });

  it('reads every flag', () => {
    expect(
      resourceLimitsFromFlags({ memory: '32m', 'memory-swap': '64m', cpus: '0.5', 'cpu-weight': '200', 'pids-limit': '10', 'blkio-weight': '500' }),
    ).toEqual({ memoryBytes: 32 * MiB, memorySwapBytes: 64 * MiB, cpus: 0.5, cpuWeight: 200, pidsLimit: 10, ioWeight: blkioWeightToIoWeight(500) });
  });

  it('converts --cpu-shares to cpu.weight as runc and crun do', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(resourceLimitsFromFlags({ 'cpu-shares': '512' })).toEqual({ cpuWeight: sharesToWeight(512) });
  });

  it('converts --blkio-weight to io.weight over the whole range', () => {
    expect(blkioWeightToIoWeight(10)).toBe(1);
    expect(blkioWeightToIoWeight(1000)).toBe(10000);
    expect(blkioWeightToIoWeight(500)).toBe(4950);
  });

  it('takes --memory-swap -1 as unlimited swap', () => {
    expect(resourceLimitsFromFlags({ memory: '1g', 'memory-swap': '-1' })).toEqual({ memoryBytes: 2 ** 30, memorySwapBytes: -1 });
  });

  it('rejects bad values with what the range is', () => {
    expect(usageError({ memory: '1m' }).message).toMatch(/--memory 1m is too small/);
    expect(usageError({ 'memory-swap': '1g' }).message).toMatch(/--memory-swap needs --memory/);
    expect(usageError({ memory: '1g', 'memory-swap': '512m' }).message).toMatch(/smaller than --memory/);
    expect(usageError({ cpus: '0' }).hint).toMatch(/0\.01 to/);
    expect(usageError({ cpus: 'half' }).message).toMatch(/invalid value "half" for --cpus/);
    expect(usageError({ cpus: String(os.availableParallelism() + 1) }).hint).toMatch(new RegExp(`0\\.01 to ${os.availableParallelism()}`));
    expect(usageError({ 'cpu-shares': '1' }).message).toMatch(/out of range/);
    expect(usageError({ 'cpu-shares': '512', 'cpu-weight': '10' }).message).toMatch(/set the same thing/);
    expect(usageError({ 'cpu-weight': '10001' }).hint).toMatch(/1\.\.10000/);
    expect(usageError({ 'pids-limit': '1.5' }).message).toMatch(/not a whole number/);
    expect(usageError({ 'blkio-weight': '5' }).hint).toMatch(/10\.\.1000/);
    expect(usageError({ memory: ['1g', '2g'] }).message).toMatch(/given 2 times/);
  });
});

describe('limits → cgroup v2 files', () => {
  it('writes docker\'s semantics: swap.max is --memory-swap minus --memory', () => {
    expect(limitWrites({ memoryBytes: 32 * MiB, memorySwapBytes: 96 * MiB }).map((w) => [w.file, w.value])).toEqual([
      ['memory.max', String(32 * MiB)],
      ['memory.swap.max', String(64 * MiB)],
    ]);
    expect(limitWrites({ memoryBytes: 32 * MiB, memorySwapBytes: -1 })[1].value).toBe('max');
  });

  it('gives as much swap as memory when --memory-swap is left out, where the kernel accounts swap', () => {
    const swap = limitWrites({ memoryBytes: 32 * MiB })[1];
    expect(swap).toMatchObject({ file: 'memory.swap.max', value: String(32 * MiB), optional: true });
  });

  it('writes cpu.max as quota and period, weights and pids as they are', () => {
    const w = limitWrites({ cpus: 0.5, cpuWeight: 39, pidsLimit: 10, ioWeight: 4950 });
    expect(w.map((x) => [x.file, x.value])).toEqual([
      ['cpu.max', '50000 100000'],
      ['cpu.weight', '39'],
      ['pids.max', '10'],
      ['io.weight', 'default 4950'],
    ]);
    expect(w[3].alternatives).toEqual([{ file: 'io.bfq.weight', value: '500' }]);
    expect(limitWrites({ cpus: 2 })[0].value).toBe('200000 100000');
  });

  it('asks for the controllers the limits use, and names their flags', () => {
    expect(neededControllers({ pidsLimit: 5 })).toEqual(['pids']);
    expect(neededControllers({ memoryBytes: 1, cpus: 1, ioWeight: 5, pidsLimit: 1 })).toEqual(['cpu', 'io', 'memory', 'pids']);
    expect(limitFlagNames({ memoryBytes: 1, pidsLimit: 2 })).toBe('--memory, --pids-limit');
  });
});
