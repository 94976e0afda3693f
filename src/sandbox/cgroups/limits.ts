/**
 * ResourceLimits → the cgroup v2 interface files that enforce them, and the
 * controllers those files belong to. Pure: cgroup.ts does the writing.
 */
import type { ResourceLimits } from '../spec';

export type Controller = 'cpu' | 'io' | 'memory' | 'pids';

/** cpu.max's period, 100 ms, the kernel's and docker's default: --cpus N gives N × 100 ms of CPU time per period. */
export const CPU_PERIOD_US = 100_000;

export interface LimitWrite {
  /** The interface file, relative to the cgroup's directory. */
  file: string;
  value: string;
  /** The flag the value comes from, for messages. */
  flag: string;
  /**
   * A write that only refines docker's default and is skipped where the
   * kernel lacks the file (memory.swap.max without swap accounting).
   */
  optional?: boolean;
  /** Other files that do the same job, tried in order when `file` does not exist. */
  alternatives?: { file: string; value: string }[];
}

/** The controllers the limits need, in the order cgroup.subtree_control lists them. */
export function neededControllers(limits: ResourceLimits): Controller[] {
  const out: Controller[] = [];
  if (limits.cpus !== undefined || limits.cpuWeight !== undefined) out.push('cpu');
  if (limits.ioWeight !== undefined) out.push('io');
  if (limits.memoryBytes !== undefined || limits.memorySwapBytes !== undefined) out.push('memory');
  if (limits.pidsLimit !== undefined) out.push('pids');
  return out;
}

/** The flags behind a controller, for messages ("--cpus/--cpu-shares"). */
export function flagsFor(controller: Controller, limits: ResourceLimits): string {
  const flags: Record<Controller, [keyof ResourceLimits, string][]> = {
    cpu: [['cpus', '--cpus'], ['cpuWeight', '--cpu-shares/--cpu-weight']],
    io: [['ioWeight', '--blkio-weight']],
    memory: [['memoryBytes', '--memory'], ['memorySwapBytes', '--memory-swap']],
    pids: [['pidsLimit', '--pids-limit']],
  };
  return flags[controller].filter(([k]) => limits[k] !== undefined).map(([, f]) => f).join(' and ');
}

/** io.weight (1..10000) back to BFQ's scale (io.bfq.weight, 1..1000, like --blkio-weight). */
function bfqWeight(ioWeight: number): number {
  return 10 + Math.floor(((ioWeight - 1) * 990) / 9999);
}

export function limitWrites(limits: ResourceLimits): LimitWrite[] {
  const w: LimitWrite[] = [];
  const { memoryBytes, memorySwapBytes } = limits;
  if (memoryBytes !== undefined) w.push({ file: 'memory.max', value: String(memoryBytes), flag: '--memory' });
  // docker's --memory-swap is memory + swap; cgroup v2's memory.swap.max is the swap alone.
  if (memorySwapBytes !== undefined)
    w.push({
      file: 'memory.swap.max',
      value: memorySwapBytes === -1 ? 'max' : String(memorySwapBytes - (memoryBytes ?? 0)),
      flag: '--memory-swap',
    });
  // docker without --memory-swap: as much swap as memory (where the kernel accounts swap).
  else if (memoryBytes !== undefined) w.push({ file: 'memory.swap.max', value: String(memoryBytes), flag: '--memory', optional: true });
  if (limits.cpus !== undefined)
    w.push({ file: 'cpu.max', value: `${Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))} ${CPU_PERIOD_US}`, flag: '--cpus' });
  if (limits.cpuWeight !== undefined) w.push({ file: 'cpu.weight', value: String(limits.cpuWeight), flag: '--cpu-shares/--cpu-weight' });
  if (limits.pidsLimit !== undefined) w.push({ file: 'pids.max', value: String(limits.pidsLimit), flag: '--pids-limit' });
  if (limits.ioWeight !== undefined)
    w.push({
      // io.weight is the io cost controller's; with the BFQ scheduler the weight is BFQ's own file.
      file: 'io.weight',
      value: `default ${limits.ioWeight}`,
      flag: '--blkio-weight',
      alternatives: [{ file: 'io.bfq.weight', value: String(bfqWeight(limits.ioWeight)) }],
    });
  return w;
}

/** The limit flags given, for "run without …" hints. */
export function limitFlagNames(limits: ResourceLimits): string {
  return (['cpu', 'io', 'memory', 'pids'] as Controller[])
    .map((c) => flagsFor(c, limits))
    .filter(Boolean)
    .join(', ');
}
