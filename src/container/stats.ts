/**
 * A running container's resource counters for `nook stats`, from its own
 * cgroup v2 (cpu.stat, memory.current/max/stat, io.stat, pids.current) and
 * its network namespace (/proc/PID/net/dev), the figures docker shows.
 * Parsing is pure and takes the files' text, for tests.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');

export interface Sample {
  /** cpu.stat usage_usec, in ns. */
  cpuNs: number;
  /** The host's CPU time (/proc/stat), in ns: docker's system_cpu_usage. */
  systemNs: number;
  onlineCpus: number;
  memUsage: number;
  memLimit: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** "key value" lines (cpu.stat, memory.stat) as numbers. */
export function keyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** io.stat: rbytes and wbytes summed over the devices. */
export function ioBytes(text: string): { read: number; write: number } {
  let r = 0;
  let w = 0;
  for (const m of text.matchAll(/\brbytes=(\d+)/g)) r += Number(m[1]);
  for (const m of text.matchAll(/\bwbytes=(\d+)/g)) w += Number(m[1]);
  return { read: r, write: w };
}

/** /proc/PID/net/dev: received and sent bytes over every interface but loopback. */
export function netBytes(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    rx += f[0] || 0;
    tx += f[8] || 0;
  }
  return { rx, tx };
}

/** /proc/stat's first line: the host's CPU time in ns (user … steal, at 100 ticks a second, as docker reads it). */
export function systemCpuNs(text: string): number {
  const f = (text.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  return (f.reduce((a, b) => a + (b || 0), 0) * 1e9) / 100;
}

/** docker's memory usage on cgroup v2: memory.current less the inactive page cache (inactive_file). */
export function memoryUsage(current: number, stat: Record<string, number>): number {
  const inactive = stat.inactive_file ?? 0;
  return inactive < current ? current - inactive : current;
}

export function sample(cgroup: string, pid: number): Sample {
  const max = read(path.join(cgroup, 'memory.max')).trim();
  const pidsText = read(path.join(cgroup, 'pids.current')).trim();
  const io = ioBytes(read(path.join(cgroup, 'io.stat')));
  const net = netBytes(read(`/proc/${pid}/net/dev`));
  return {
    cpuNs: (keyValues(read(path.join(cgroup, 'cpu.stat'))).usage_usec ?? 0) * 1000,
    systemNs: systemCpuNs(read('/proc/stat')),
    onlineCpus: os.cpus().length || 1,
    memUsage: memoryUsage(Number(read(path.join(cgroup, 'memory.current')).trim()) || 0, keyValues(read(path.join(cgroup, 'memory.stat')))),
    memLimit: /^\d+$/.test(max) ? Number(max) : os.totalmem(),
    netRx: net.rx,
    netTx: net.tx,
    blkRead: io.read,
    blkWrite: io.write,
    pids: /^\d+$/.test(pidsText) ? Number(pidsText) : read(path.join(cgroup, 'cgroup.procs')).split('\n').filter(Boolean).length,
  };
}

/** docker's CPU %: the container's share of the host's CPU time between two samples, times the CPUs. */
export function cpuPercent(prev: Sample | undefined, cur: Sample): number {
  if (!prev) return 0;
  const cpu = cur.cpuNs - prev.cpuNs;
  const sys = cur.systemNs - prev.systemNs;
  return sys > 0 && cpu > 0 ? (cpu / sys) * cur.onlineCpus * 100 : 0;
}
