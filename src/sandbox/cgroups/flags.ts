/**
 * `nook run`'s resource flags → ResourceLimits, with docker's spellings,
 * ranges and defaults, so that a command line that works with `docker run`
 * means the same here. Only parsing: whether the host can apply the limits is
 * decided later, by createCgroup.
 */
import os = require('node:os');
import { UsageError } from '../../errors';
import type { ResourceLimits } from '../spec';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** docker's smallest --memory: below it a container cannot even start its runtime. */
const MIN_MEMORY = 6 * 2 ** 20;

/**
 * A size as docker reads one (go-units' RAMInBytes): a number, optionally
 * fractional, then an optional binary unit k/m/g/t/p, optionally followed by
 * "i" and/or "b" ("32m", "32MiB", "1.5g", "512k", "1073741824").
 */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`invalid size "${text}" for --${flag}`, `give bytes or a number with a unit, e.g. --${flag} 512m, 1g, 1073741824`);
  const bytes = Math.floor(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`size "${text}" for --${flag} is too large`);
  return bytes;
}

/** The flag's value as a string, or undefined when it was not given. */
function value(flags: Record<string, unknown>, name: string): string | undefined {
  const v = flags[name];
  if (v === undefined || v === null || v === false) return undefined;
  if (Array.isArray(v)) throw new UsageError(`flag --${name} was given ${v.length} times`, 'give it once');
  if (v === true || v === '') throw new UsageError(`flag --${name} needs a value`);
  return String(v).trim();
}

function integer(text: string, flag: string, example: string): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`invalid value "${text}" for --${flag}: not a whole number`, `e.g. --${flag} ${example}`);
  return Number(text);
}

/** docker: 0 or less means "no limit"; the kernel's pids.max takes any positive number. */
function pidsLimit(text: string): number | undefined {
  const n = integer(text, 'pids-limit', '100');
  return n > 0 ? n : undefined;
}

function cpus(text: string): number {
  const n = Number(text);
  const available = os.availableParallelism();
  if (!/^\d*\.?\d+$/.test(text) || !(n >= 0.01) || n > available)
    throw new UsageError(
      `invalid value "${text}" for --cpus`,
      `the range is 0.01 to ${available}, as there ${available === 1 ? 'is 1 CPU' : `are ${available} CPUs`} here (e.g. --cpus 0.5 for half of one)`,
    );
  return n;
}

/**
 * --cpu-shares (cgroup v1's cpu.shares, 2..262144, default 1024) → cgroup v2's
 * cpu.weight (1..10000, default 100), with the linear conversion runc and crun
 * use, so that docker users get the same weight: 1024 → 39, 2 → 1, 262144 → 10000.
 */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** --blkio-weight (10..1000) → io.weight (1..10000), as crun converts it. */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

function cpuWeight(flags: Record<string, unknown>): number | undefined {
  const sharesText = value(flags, 'cpu-shares');
  const weightText = value(flags, 'cpu-weight');
  if (sharesText !== undefined && weightText !== undefined)
    throw new UsageError('--cpu-shares and --cpu-weight set the same thing', 'give one of them (--cpu-weight is the cgroup v2 value, 1..10000)');
  if (sharesText !== undefined) {
    const shares = integer(sharesText, 'cpu-shares', '512');
    if (shares === 0) return undefined; // docker: 0 is the default weight
    if (shares < 2 || shares > 262144) throw new UsageError(`--cpu-shares ${shares} is out of range`, 'the range is 2..262144 (1024 is the default weight)');
    return sharesToWeight(shares);
  }
  if (weightText === undefined) return undefined;
  const weight = integer(weightText, 'cpu-weight', '100');
  if (weight < 1 || weight > 10000) throw new UsageError(`--cpu-weight ${weight} is out of range`, 'the range is 1..10000 (100 is the default)');
  return weight;
}

function ioWeight(flags: Record<string, unknown>): number | undefined {
  const text = value(flags, 'blkio-weight');
  if (text === undefined) return undefined;
  const weight = integer(text, 'blkio-weight', '500');
  if (weight === 0) return undefined; // docker: 0 leaves the default
  if (weight < 10 || weight > 1000) throw new UsageError(`--blkio-weight ${weight} is out of range`, 'the range is 10..1000 (0: the default)');
  return blkioWeightToIoWeight(weight);
}

/** --memory and --memory-swap, checked against each other as docker does. */
function memory(flags: Record<string, unknown>): Pick<ResourceLimits, 'memoryBytes' | 'memorySwapBytes'> {
  const memText = value(flags, 'memory');
  const swapText = value(flags, 'memory-swap');
  const memoryBytes = memText === undefined ? undefined : parseSize(memText, 'memory');
  if (memoryBytes !== undefined && memoryBytes !== 0 && memoryBytes < MIN_MEMORY)
    throw new UsageError(`--memory ${memText} is too small`, 'the smallest memory limit is 6m');
  const limit = memoryBytes || undefined; // docker: 0 is "no limit"
  if (swapText === undefined) return { memoryBytes: limit };
  if (limit === undefined)
    throw new UsageError('--memory-swap needs --memory', 'it is the total of memory and swap, e.g. --memory 256m --memory-swap 1g (-1: unlimited swap)');
  const memorySwapBytes = swapText === '-1' ? -1 : parseSize(swapText, 'memory-swap');
  if (memorySwapBytes !== -1 && memorySwapBytes < limit)
    throw new UsageError(`--memory-swap ${swapText} is smaller than --memory ${memText}`, '--memory-swap is memory plus swap: give at least the --memory value (equal: no swap), or -1 for unlimited swap');
  return { memoryBytes: limit, memorySwapBytes };
}

/** The run flags as limits; undefined when none was given (or all were docker's "no limit" values). */
export function resourceLimitsFromFlags(flags: Record<string, unknown>): ResourceLimits | undefined {
  const limits: ResourceLimits = { ...memory(flags) };
  const cpusText = value(flags, 'cpus');
  if (cpusText !== undefined) limits.cpus = cpus(cpusText);
  limits.cpuWeight = cpuWeight(flags);
  const pidsText = value(flags, 'pids-limit');
  if (pidsText !== undefined) limits.pidsLimit = pidsLimit(pidsText);
  limits.ioWeight = ioWeight(flags);
  for (const k of Object.keys(limits) as (keyof ResourceLimits)[]) if (limits[k] === undefined) delete limits[k];
  return Object.keys(limits).length ? limits : undefined;
}
