/**
 * The pure half of an OCI container's cgroup: cgroupsPath's forms, the
 * v1 hierarchies from mountinfo, and linux.resources → the files runc
 * writes on cgroup v1 and v2 (values as runc 1.1 writes them).
 */
import { describe, expect, it } from 'vitest';
import { cgroupPathOf, expandSlice, readResources, resourcesEmpty } from '../../src/oci/cgroups-spec';
import { v1Hierarchies, v1Writes } from '../../src/oci/cgroups-v1';
import { swapV2, v2Controllers, v2Writes } from '../../src/oci/cgroups-v2';
import type { CgroupWrite } from '../../src/oci/cgroups-io';

const files = (ws: CgroupWrite[]) => ws.map((w) => `${w.file}=${w.value}`);

describe('linux.cgroupsPath', () => {
  it('absolute, relative, default', () => {
    expect(cgroupPathOf('/cgrouptest', 'x')).toEqual({ path: '/cgrouptest', relative: false, systemd: false });
    expect(cgroupPathOf('testdir/cgrouptest/container', 'x')).toEqual({ path: 'testdir/cgrouptest/container', relative: true, systemd: false });
    expect(cgroupPathOf(undefined, 'c1')).toEqual({ path: '/nook-oci/c1', relative: false, systemd: false });
    expect(cgroupPathOf('/a//b/', 'x').path).toBe('/a/b');
  });

  it('refuses ".." and the root cgroup', () => {
    expect(() => cgroupPathOf('/a/../../b', 'x')).toThrow(/climbs/);
    expect(() => cgroupPathOf('/', 'x')).toThrow(/root cgroup/);
  });

  it('the systemd form is placed where systemd would put the scope', () => {
    expect(cgroupPathOf('system.slice:cri-containerd:abc', 'x')).toEqual({ path: '/system.slice/cri-containerd-abc.scope', relative: false, systemd: true });
    expect(cgroupPathOf('machine-nook.slice:nook:c1', 'x').path).toBe('/machine.slice/machine-nook.slice/nook-c1.scope');
    expect(cgroupPathOf(':nook:c1', 'x').path).toBe('/system.slice/nook-c1.scope');
    expect(expandSlice('-.slice')).toBe('/');
    expect(() => cgroupPathOf('bad:nook:c1', 'x')).toThrow(/not a systemd slice name/);
  });
});

describe('v1 hierarchies', () => {
  const mountinfo = [
    '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '34 30 0:31 /process_api /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
    '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    '41 30 0:28 / /mnt/cpu\\040again rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  ].join('\n');
  const self = '9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/user.slice\n0::/\n';

  it('one per hierarchy with a controller nook uses, and nook\'s own cgroup in it', () => {
    expect(v1Hierarchies(mountinfo, self)).toEqual([
      { key: 'cpu,cpuacct', controllers: ['cpu', 'cpuacct'], mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', own: '/sys/fs/cgroup/cpu,cpuacct/user.slice' },
      { key: 'memory', controllers: ['memory'], mountPoint: '/sys/fs/cgroup/memory', root: '/process_api', own: '/sys/fs/cgroup/memory/abc' },
    ]);
  });
});

describe('linux.resources on cgroup v1', () => {
  it('memory as runc writes it', () => {
    const r = readResources({ memory: { limit: 50593792, reservation: 1000, swap: 60000000, kernel: 5, kernelTCP: 6, swappiness: 10, disableOOMKiller: true } });
    expect(files(v1Writes(r))).toEqual([
      'memory.limit_in_bytes=50593792',
      'memory.memsw.limit_in_bytes=60000000',
      'memory.soft_limit_in_bytes=1000',
      'memory.kmem.limit_in_bytes=5',
      'memory.kmem.tcp.limit_in_bytes=6',
      'memory.swappiness=10',
      'memory.oom_control=1',
    ]);
    // runc: an unlimited memory limit unlimits memory+swap too.
    expect(files(v1Writes(readResources({ memory: { limit: -1 } })))).toEqual(['memory.limit_in_bytes=-1', 'memory.memsw.limit_in_bytes=-1']);
    expect(() => v1Writes(readResources({ memory: { swappiness: 101 } }))).toThrow(/swappiness 101 is out of range/);
  });

  it('cpu, cpuset, pids, blkio, hugetlb, network', () => {
    const r = readResources({
      cpu: { shares: 1024, quota: 50000, period: 100000, realtimePeriod: 1000000, realtimeRuntime: 950000, cpus: '0-1', mems: '0' },
      pids: { limit: 0 },
      blockIO: { weight: 500, leafWeight: 300, weightDevice: [{ major: 8, minor: 0, weight: 100 }], throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 102400 }] },
      hugepageLimits: [{ pageSize: '2MB', limit: 1048576 }],
      network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 5 }] },
    });
    const ws = v1Writes(r);
    expect(files(ws)).toEqual([
      'cpu.shares=1024',
      'cpu.cfs_period_us=100000',
      'cpu.cfs_quota_us=50000',
      'cpu.rt_period_us=1000000',
      'cpu.rt_runtime_us=950000',
      'cpuset.cpus=0-1',
      'cpuset.mems=0',
      'pids.max=max',
      'blkio.weight=500',
      'blkio.leaf_weight=300',
      'blkio.weight_device=8:0 100',
      'blkio.throttle.read_bps_device=8:0 102400',
      'hugetlb.2MB.limit_in_bytes=1048576',
      'net_cls.classid=1048577',
      'net_prio.ifpriomap=eth0 5',
    ]);
    expect(ws.find((w) => w.file === 'cpu.cfs_quota_us')).toMatchObject({ controller: 'cpu', group: 'cfs', what: 'linux.resources.cpu.quota' });
  });

  it('device rules in order, "a" for all, then the default devices and linux.devices', () => {
    const r = readResources({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }, { allow: true, type: 'b', major: 8 }] });
    const v = files(v1Writes(r, [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }]));
    expect(v.slice(0, 4)).toEqual(['devices.deny=a', 'devices.allow=c 10:229 rwm', 'devices.allow=b 8:* rwm', 'devices.allow=c *:* m']);
    expect(v).toContain('devices.allow=c 1:3 rwm');
    expect(v.at(-1)).toBe('devices.allow=c 10:229 rwm');
    // No rules: the devices cgroup is left as its parent's.
    expect(v1Writes(readResources({ devices: [] }))).toEqual([]);
    expect(() => v1Writes(readResources({ devices: [{ allow: true, type: 'x' }] }))).toThrow(/devices\[0\]\.type/);
  });

  it('a field of the wrong type is named', () => {
    expect(() => v1Writes(readResources({ memory: { limit: '1g' } }))).toThrow('linux.resources.memory.limit must be an integer, not "1g"');
    expect(() => readResources({ memory: [] })).toThrow('linux.resources.memory must be an object');
  });

  it('empty resources ask for nothing', () => {
    expect(resourcesEmpty(readResources(undefined))).toBe(true);
    expect(resourcesEmpty(readResources({ devices: [], memory: {}, cpu: {} }))).toBe(true);
    expect(resourcesEmpty(readResources({ pids: { limit: 5 } }))).toBe(false);
  });
});

describe('linux.resources on cgroup v2 (runc\'s conversions)', () => {
  it('memory: swap is memory+swap in the config, swap alone in memory.swap.max', () => {
    const { writes, ignored } = v2Writes(readResources({ memory: { limit: 1000, swap: 3000, reservation: 500, swappiness: 10, kernel: 7 } }));
    expect(files(writes)).toEqual(['memory.swap.max=2000', 'memory.max=1000', 'memory.low=500']);
    expect(ignored).toEqual(['linux.resources.memory.kernel (cgroup v1 only)', 'linux.resources.memory.swappiness (cgroup v1 only)']);
    expect(swapV2(-1, 1000)).toBe(-1);
    expect(swapV2(0, -1)).toBe(-1);
    expect(() => swapV2(500, 1000)).toThrow(/below/);
    expect(() => swapV2(500, 0)).toThrow(/without/);
  });

  it('cpu: shares → weight, quota and period → cpu.max', () => {
    expect(files(v2Writes(readResources({ cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0', mems: '0' } })).writes)).toEqual([
      'cpu.weight=39', 'cpu.max=50000 100000', 'cpuset.cpus=0', 'cpuset.mems=0',
    ]);
    expect(files(v2Writes(readResources({ cpu: { period: 200000 } })).writes)).toEqual(['cpu.max=max 200000']);
    expect(files(v2Writes(readResources({ cpu: { quota: -1 } })).writes)).toEqual(['cpu.max=max']);
  });

  it('pids, io, hugetlb, unified; and the controllers they need', () => {
    const { writes } = v2Writes(readResources({
      pids: { limit: 10 },
      blockIO: { weight: 500, throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }] },
      hugepageLimits: [{ pageSize: '1GB', limit: 0 }],
      unified: { 'memory.high': '1000000' },
    }));
    expect(files(writes)).toEqual(['pids.max=10', 'io.bfq.weight=500', 'io.max=8:0 wiops=100', 'hugetlb.1GB.max=0', 'memory.high=1000000']);
    expect(writes[1].alternatives).toEqual([{ file: 'io.weight', value: 'default 4950' }]);
    expect(v2Controllers(writes)).toEqual(['pids', 'io', 'hugetlb', 'memory']);
    expect(() => v2Writes(readResources({ unified: { 'cgroup.procs': '1' } }))).toThrow(/not a cgroup v2 interface file/);
  });

  it('what v2 has no place for is listed, not an error', () => {
    const { ignored } = v2Writes(readResources({ devices: [{ allow: false }], network: { classID: 1 }, cpu: { realtimeRuntime: 5 } }));
    expect(ignored).toHaveLength(3);
  });
});
