/**
 * The pure parts of nook's lifecycle commands: stats' figures and docker's
 * number formats (Go's %g), top's filtering of ps output, and the cgroup v2
 * freezer's file writes and errors (the real freezer runs in test/vm).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { binarySize, decimalSize, goG, statsRow } from '../../src/cli/stats';
import { filterPsOutput } from '../../src/cli/top';
import { cpuPercent, ioBytes, keyValues, memoryUsage, netBytes, systemCpuNs, type Sample } from '../../src/container/stats';
import { isFrozen, ownCgroup, setFrozen } from '../../src/container/own-cgroup';

describe('stats formats, as docker prints them', () => {
  it("Go's %g", () => {
    expect(goG(1.953125, 4)).toBe('1.953');
    expect(goG(2, 4)).toBe('2');
    expect(goG(1023.5, 4)).toBe('1024');
    expect(goG(999.999, 3)).toBe('1e+03');
    expect(goG(0.5, 3)).toBe('0.5');
    expect(goG(0.00001234, 3)).toBe('1.23e-05');
    expect(goG(0, 3)).toBe('0');
  });

  it('units.BytesSize and HumanSizeWithPrecision(3)', () => {
    expect(binarySize(0)).toBe('0B');
    expect(binarySize(1024)).toBe('1KiB');
    expect(binarySize(2_048_000)).toBe('1.953MiB');
    expect(binarySize(8 * 1024 ** 3)).toBe('8GiB');
    expect(decimalSize(648)).toBe('648B');
    expect(decimalSize(1234)).toBe('1.23kB');
    expect(decimalSize(15_500_000)).toBe('15.5MB');
  });

  it('a row from two samples: CPU % over the host time between them, memory less inactive_file', () => {
    const s = (cpuNs: number, systemNs: number): Sample => ({
      cpuNs, systemNs, onlineCpus: 2, memUsage: memoryUsage(3 * 1024 ** 2, { inactive_file: 1024 ** 2 }), memLimit: 64 * 1024 ** 2,
      netRx: 1234, netTx: 648, blkRead: 0, blkWrite: 4096, pids: 3,
    });
    const prev = s(1e9, 100e9);
    const cur = s(1.5e9, 102e9);
    expect(cpuPercent(prev, cur)).toBeCloseTo(50);
    expect(cpuPercent(undefined, cur)).toBe(0);
    expect(statsRow('web', 'a'.repeat(64), 'web', cur, prev)).toEqual({
      Container: 'web', ID: 'aaaaaaaaaaaa', Name: 'web', CPUPerc: '50.00%', MemUsage: '2MiB / 64MiB', MemPerc: '3.13%',
      NetIO: '1.23kB / 648B', BlockIO: '0B / 4.1kB', PIDs: '3',
    });
  });

  it('the cgroup and /proc files', () => {
    expect(keyValues('usage_usec 1500\nuser_usec 1000\nnr_periods 0\n')).toEqual({ usage_usec: 1500, user_usec: 1000, nr_periods: 0 });
    expect(ioBytes('8:0 rbytes=100 wbytes=20 rios=1 wios=1\n8:16 rbytes=5 wbytes=1 rios=1 wios=1\n')).toEqual({ read: 105, write: 21 });
    const dev =
      'Inter-|   Receive                                                |  Transmit\n' +
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
      '    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n' +
      '  eth0:    1234      10    0    0    0     0          0         0      648       8    0    0    0     0       0          0\n';
    expect(netBytes(dev)).toEqual({ rx: 1234, tx: 648 });
    expect(systemCpuNs('cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 1 2 3\n')).toBe(1000 * 1e7);
    expect(memoryUsage(100, { inactive_file: 200 })).toBe(100);
  });
});

describe('top', () => {
  const ps =
    'UID          PID    PPID  C STIME TTY          TIME CMD\n' +
    'root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n' +
    '200000      4242    4240  0 10:01 ?        00:00:00 sh -c sleep 1 & wait\n' +
    '200000      4243    4242  0 10:01 ?        00:00:00 sleep 1\n';
  it("keeps the title and the container's rows, the command with its spaces", () => {
    expect(filterPsOutput(ps, new Set([4242, 4243]))).toEqual([
      ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
      ['200000', '4242', '4240', '0', '10:01', '?', '00:00:00', 'sh -c sleep 1 & wait'],
      ['200000', '4243', '4242', '0', '10:01', '?', '00:00:00', 'sleep 1'],
    ]);
  });
  it('fails without a PID column', () => {
    expect(() => filterPsOutput('USER COMMAND\nroot init\n', new Set([1]))).toThrow("couldn't find PID field in ps output");
  });
});

describe('the freezer', () => {
  function fakeCgroup(events: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cg-'));
    fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
    fs.writeFileSync(path.join(dir, 'cgroup.events'), events);
    return dir;
  }

  it('writes cgroup.freeze and waits for cgroup.events to agree', async () => {
    const dir = fakeCgroup('populated 1\nfrozen 1\n');
    expect(isFrozen(dir)).toBe(false);
    await setFrozen(dir, true);
    expect(fs.readFileSync(path.join(dir, 'cgroup.freeze'), 'utf8')).toBe('1');
    expect(isFrozen(dir)).toBe(true);
    fs.writeFileSync(path.join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    await setFrozen(dir, false);
    expect(isFrozen(dir)).toBe(false);
    expect(isFrozen(undefined)).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });

  it('says why a container has no cgroup v2 of its own, with exit 1', () => {
    const dir = fakeCgroup('frozen 0\n');
    expect(ownCgroup({ status: 'running', restartCount: 0, cgroup: dir }, 'pause container x', 'v2')).toBe(dir);
    const err = (mode: string) => {
      try {
        ownCgroup({ status: 'running', restartCount: 0 }, 'pause container x', mode);
      } catch (e) {
        return e as { message: string; exitCode: number };
      }
      throw new Error('no error');
    };
    expect(err('v2')).toMatchObject({ exitCode: 1, message: 'cannot pause container x: it has no cgroup of its own (it was started without resource limits), and nook needs its own cgroup v2 for this' });
    expect(err('hybrid').message).toBe(
      "cannot pause container x: this host mounts cgroup v1 (a hybrid layout: its cgroup v2 has no controllers), and nook needs the container's own cgroup v2 for this",
    );
    expect(err('v1').message).toContain('this host mounts cgroup v1 (no cgroup v2 at all)');
    fs.rmSync(dir, { recursive: true });
  });
});
