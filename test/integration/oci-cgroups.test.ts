/**
 * An OCI container's cgroup (src/oci/cgroups.ts) on this host's real
 * cgroups: build/nook-runc as root on cgroup v1 (limits in the files, the
 * init and its children in the cgroup, pause, update, kill --all, removal
 * with delete), rootless on cgroup v1 (a warning, no failure), and the
 * cgroup v2 manager on a cgroup2 mount (the hybrid host's controller-less
 * /sys/fs/cgroup/unified when there is no other): directory, join, freezer,
 * removal, and the delegated-subtree placement.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { rootfs } from '../helpers/nook';
import { NOOK } from '../helpers/paths';
import { skipAllIf } from '../helpers/skip';
import { createOciCgroupOn, freezeOciCgroup, isFrozen, joinOciCgroup, ociCgroupPids, removeOciCgroup, type CgroupHostView } from '../../src/oci/cgroups';
import { detectLayout } from '../../src/sandbox/cgroups/detect';

const RUNC = path.join(path.dirname(NOOK), 'nook-runc');
const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
const layout = detectLayout(mountinfo);
skipAllIf(process.getuid?.() !== 0 && 'the cgroup tests run as root (they make cgroups in the host\'s hierarchies)');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * nook-runc with its output in files: the container's init inherits the
 * output of create and run, and pipes would stay open as long as it lives.
 */
function runc(root: string, args: string[], opts: { uid?: number } = {}): Run {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cg-out-'));
  const fds = [fs.openSync(path.join(out, 'o'), 'w+'), fs.openSync(path.join(out, 'e'), 'w+')];
  try {
    const r = spawnSync(RUNC, ['--root', root, ...args], {
      stdio: ['ignore', fds[0], fds[1]], timeout: 20_000, cwd: '/tmp',
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid, env: { PATH: process.env.PATH ?? '', HOME: '/tmp', XDG_RUNTIME_DIR: root } } : {}),
    });
    return { code: r.status, stdout: fs.readFileSync(path.join(out, 'o'), 'utf8'), stderr: fs.readFileSync(path.join(out, 'e'), 'utf8') };
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function ok(root: string, args: string[]): string {
  const r = runc(root, args);
  expect(r.code, `nook-runc ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A bundle from `nook-runc spec` over the test rootfs, edited; and a state root. Removed (containers too) after the test. */
function bundle(edit: (s: Spec) => void, opts: { rootless?: boolean; owner?: number } = {}): { dir: string; root: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cg-'));
  fs.chmodSync(dir, 0o755);
  const root = path.join(dir, 'state');
  if (opts.owner !== undefined) fs.chownSync(dir, opts.owner, opts.owner);
  const made = spawnSync(RUNC, ['spec', ...(opts.rootless ? ['--rootless'] : [])], { cwd: dir, encoding: 'utf8', ...(opts.owner !== undefined ? { uid: opts.owner, gid: opts.owner } : {}) });
  expect(made.status, made.stderr).toBe(0);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Spec;
  spec.root = { path: rootfs(), readonly: true };
  spec.process.terminal = false;
  edit(spec);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  onTestFinished(() => {
    if (fs.existsSync(root)) for (const id of fs.readdirSync(root)) runc(root, ['delete', '--force', id], { uid: opts.owner });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, root };
}

function statePid(root: string, id: string): number {
  return (JSON.parse(ok(root, ['state', id])) as { pid: number }).pid;
}

/** The cgroup of `pid` in the v1 hierarchy holding `controller`. */
function v1CgroupOf(pid: number, controller: string): string {
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  return line!.split(':').slice(2).join(':');
}

/** Gone, or a zombie (the init's parent is this test process, through nook's CLONE_PARENT, and nobody reaps it). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

const v1Dir = (controller: string, cg: string) => path.join('/sys/fs/cgroup', controller, cg);
const read = (f: string) => fs.readFileSync(f, 'utf8').trim();

/** Until `f` holds, polled (processes take a moment to start, leave, or freeze). */
async function until(what: string, f: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(layout.mode !== 'v1' && layout.mode !== 'hybrid')('cgroup v1, as root', () => {
  // Swap accounting (swapaccount=1) gives the memory controller its memsw files.
  const memsw = fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  it('the limits are in the files, the init and its children in the cgroup; pause, update, kill --all; delete removes it', async () => {
    const { dir, root } = bundle((s) => {
      s.process.args = ['sh', '-c', 'sleep 1000 & exec sleep 1001'];
      s.linux.resources = { memory: { limit: 67108864, ...(memsw ? { swap: 67108864 } : {}), reservation: 33554432, swappiness: 10 }, cpu: { shares: 512, quota: 20000, period: 100000 }, pids: { limit: 40 } };
    });
    ok(root, ['create', '-b', dir, 'cg1']);
    const init = statePid(root, 'cg1');
    expect(v1CgroupOf(init, 'memory')).toBe('/nook-oci/cg1');
    expect(v1CgroupOf(init, 'pids')).toBe('/nook-oci/cg1');
    expect(v1CgroupOf(init, 'freezer')).toBe('/nook-oci/cg1');
    expect(read(v1Dir('memory', 'nook-oci/cg1/memory.limit_in_bytes'))).toBe('67108864');
    expect(read(v1Dir('memory', 'nook-oci/cg1/memory.soft_limit_in_bytes'))).toBe('33554432');
    expect(read(v1Dir('memory', 'nook-oci/cg1/memory.swappiness'))).toBe('10');
    expect(read(v1Dir('cpu', 'nook-oci/cg1/cpu.shares'))).toBe('512');
    expect(read(v1Dir('cpu', 'nook-oci/cg1/cpu.cfs_quota_us'))).toBe('20000');
    expect(read(v1Dir('pids', 'nook-oci/cg1/pids.max'))).toBe('40');

    ok(root, ['start', 'cg1']);
    const procs = () => read(v1Dir('pids', 'nook-oci/cg1/cgroup.procs')).split('\n').filter(Boolean).map(Number);
    await until('the background sleep to start', () => procs().length === 2);
    const child = procs().find((p) => p !== init)!;
    expect(v1CgroupOf(child, 'memory')).toBe('/nook-oci/cg1');

    ok(root, ['pause', 'cg1']);
    expect(read(v1Dir('freezer', 'nook-oci/cg1/freezer.state'))).toBe('FROZEN');
    expect(JSON.parse(ok(root, ['state', 'cg1'])).status).toBe('paused');
    ok(root, ['resume', 'cg1']);
    expect(read(v1Dir('freezer', 'nook-oci/cg1/freezer.state'))).toBe('THAWED');
    expect(JSON.parse(ok(root, ['state', 'cg1'])).status).toBe('running');

    const res = path.join(dir, 'res.json');
    // memory.limit_in_bytes above the old memsw limit is refused: written again in the other order.
    fs.writeFileSync(res, JSON.stringify({ memory: { limit: 134217728, ...(memsw ? { swap: 134217728 } : {}) }, pids: { limit: -1 }, cpu: { quota: -1 } }));
    ok(root, ['update', '--resources', res, 'cg1']);
    expect(read(v1Dir('memory', 'nook-oci/cg1/memory.limit_in_bytes'))).toBe('134217728');
    if (memsw) expect(read(v1Dir('memory', 'nook-oci/cg1/memory.memsw.limit_in_bytes'))).toBe('134217728');
    expect(read(v1Dir('pids', 'nook-oci/cg1/pids.max'))).toBe('max');
    expect(read(v1Dir('cpu', 'nook-oci/cg1/cpu.cfs_quota_us'))).toBe('-1');

    ok(root, ['kill', '--all', 'cg1', 'KILL']);
    await until('both sleeps to end', () => ended(child) && ended(init));
    ok(root, ['delete', 'cg1']);
    for (const c of ['memory', 'pids', 'cpu', 'freezer', 'devices', 'cpuset', 'blkio']) {
      if (!fs.existsSync(path.join('/sys/fs/cgroup', c))) continue;
      expect(fs.existsSync(v1Dir(c, 'nook-oci/cg1')), `${c} cgroup removed`).toBe(false);
    }
  });

  it('without a pid namespace, what outlives the init is killed by delete, and the cgroup goes', async () => {
    const { dir, root } = bundle((s) => {
      s.process.args = ['sh', '-c', 'sleep 1000 & exit 0'];
      s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
      s.linux.cgroupsPath = '/nook-it-left';
    });
    ok(root, ['create', '-b', dir, 'cg7']);
    const init = statePid(root, 'cg7');
    ok(root, ['start', 'cg7']);
    await until('the init to end', () => ended(init));
    const procs = read(v1Dir('pids', 'nook-it-left/cgroup.procs')).split('\n').filter(Boolean).map(Number);
    expect(procs).toHaveLength(1);
    expect(JSON.parse(ok(root, ['state', 'cg7'])).status).toBe('stopped');
    ok(root, ['delete', 'cg7']);
    await until('the leftover sleep to end', () => ended(procs[0]));
    expect(fs.existsSync(v1Dir('pids', 'nook-it-left'))).toBe(false);
  });

  it('a relative cgroupsPath is under nook\'s own cgroup; the parents nook made go with the container', () => {
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.split(':')[1] === 'memory')!.split(':')[2];
    const { dir, root } = bundle((s) => {
      s.process.args = ['sleep', '1000'];
      s.linux.cgroupsPath = 'nook-it/rel/c';
      s.linux.resources = { memory: { limit: 50593792 } };
    });
    ok(root, ['create', '-b', dir, 'cg2']);
    const init = statePid(root, 'cg2');
    expect(v1CgroupOf(init, 'memory')).toBe(path.posix.join(own, 'nook-it/rel/c'));
    expect(read(v1Dir('memory', path.posix.join(own, 'nook-it/rel/c/memory.limit_in_bytes')))).toBe('50593792');
    ok(root, ['delete', '--force', 'cg2']);
    expect(fs.existsSync(v1Dir('memory', path.posix.join(own, 'nook-it')))).toBe(false);
  });

  it('device rules are written in order, with the default devices after them', () => {
    const { dir, root } = bundle((s) => {
      s.process.args = ['sh', '-c', 'echo x > /dev/null && cat /dev/zero | head -c 3 | wc -c'];
      s.linux.cgroupsPath = '/nook-it-devices';
      s.linux.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 20, access: 'r' }] };
    });
    ok(root, ['create', '-b', dir, 'cg3']);
    const list = read(v1Dir('devices', 'nook-it-devices/devices.list')).split('\n');
    expect(list.slice(0, 3)).toEqual(['c 10:229 rwm', 'b 8:20 r', 'c *:* m']);
    expect(list).toContain('c 1:3 rwm');
    ok(root, ['start', 'cg3']);
    const init = statePid(root, 'cg3');
    return until('the container to end', () => ended(init)).then(() => {
      ok(root, ['delete', 'cg3']);
      expect(fs.existsSync(v1Dir('devices', 'nook-it-devices'))).toBe(false);
    });
  });

  it('a value the kernel refuses fails create with the resource and the file named, and leaves no cgroup', () => {
    const { dir, root } = bundle((s) => {
      s.linux.cgroupsPath = '/nook-it-bad';
      s.linux.resources = { cpu: { cpus: '4095' } };
    });
    const r = runc(root, ['create', '-b', dir, 'cg4']);
    expect(r.code).not.toBe(0);
    // EINVAL before Linux 6.x, ERANGE since.
    expect(r.stderr).toMatch(/linux\.resources\.cpu\.cpus: writing "4095" to \/sys\/fs\/cgroup\/cpuset\/nook-it-bad\/cpuset\.cpus: (EINVAL|ERANGE)/);
    expect(r.stderr).toContain('hint: the kernel refused "4095"');
    for (const c of ['memory', 'cpuset', 'freezer']) expect(fs.existsSync(v1Dir(c, 'nook-it-bad'))).toBe(false);
  });

  it('a kernel memory limit the kernel ignores (Linux 6.1+) is a warning, not a failure', () => {
    const { dir, root } = bundle((s) => {
      s.process.args = ['true'];
      s.linux.cgroupsPath = '/nook-it-kmem';
      s.linux.resources = { memory: { limit: 50593792, kernel: 50593792, kernelTCP: 50593792 } };
    });
    const r = runc(root, ['create', '-b', dir, 'cg8']);
    expect(r.code, r.stderr).toBe(0);
    expect(read(v1Dir('memory', 'nook-it-kmem/memory.kmem.tcp.limit_in_bytes'))).toBe('50593792');
    const kept = read(v1Dir('memory', 'nook-it-kmem/memory.kmem.limit_in_bytes')) === '50593792';
    if (kept) expect(r.stderr).not.toContain('memory.kernel');
    else expect(r.stderr).toContain('linux.resources.memory.kernel is not applied: the kernel accepts memory.kmem.limit_in_bytes but ignores it');
    ok(root, ['delete', '--force', 'cg8']);
    expect(fs.existsSync(v1Dir('memory', 'nook-it-kmem'))).toBe(false);
  });

  it('the systemd form "slice:prefix:name" is the scope\'s path, made by nook', () => {
    const { dir, root } = bundle((s) => {
      s.process.args = ['sleep', '1000'];
      s.linux.cgroupsPath = 'nookit-test.slice:nook:cg5';
    });
    ok(root, ['create', '-b', dir, 'cg5']);
    expect(v1CgroupOf(statePid(root, 'cg5'), 'pids')).toBe('/nookit.slice/nookit-test.slice/nook-cg5.scope');
    ok(root, ['delete', '--force', 'cg5']);
    expect(fs.existsSync(v1Dir('pids', 'nookit.slice'))).toBe(false);
  });

  it('rootless: the container runs without a cgroup, after one warning', () => {
    const uid = Number(spawnSync('id', ['-u', 'nooktest'], { encoding: 'utf8' }).stdout.trim());
    const { dir, root } = bundle((s) => {
      s.process.args = ['sh', '-c', 'echo ran'];
      s.linux.resources = { memory: { limit: 67108864 }, pids: { limit: 10 } };
    }, { rootless: true, owner: uid });
    const r = runc(root, ['run', '-b', dir, 'cg6'], { uid });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr.match(/linux\.resources are not applied/g)).toHaveLength(1);
    expect(r.stderr).toContain(`nook runs as uid ${uid}, and this host uses cgroup v1`);
  });
});

/** A cgroup2 mount to try the v2 manager on: /sys/fs/cgroup itself, or a hybrid host's unified tree. */
const v2Mount = layout.mode === 'v2' ? '/sys/fs/cgroup' : layout.mode === 'hybrid' ? '/sys/fs/cgroup/unified' : undefined;

describe.skipIf(v2Mount === undefined)('cgroup v2 manager', () => {
  const view = (over: Partial<CgroupHostView>): CgroupHostView => ({
    mountinfo, selfCgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'), realRoot: true, euid: 0, cgroupMount: v2Mount, ...over,
  });

  it('as root: the directory, join, pids, freezer, removal', async () => {
    const warnings: string[] = [];
    const cg = createOciCgroupOn({ ociVersion: '1.0.2', linux: { cgroupsPath: '/nook-it-v2/c1' } }, 'c1', (m) => warnings.push(m), view({}))!;
    expect(cg.v2).toBe(path.join(v2Mount!, 'nook-it-v2/c1'));
    expect(cg.made).toEqual([path.join(v2Mount!, 'nook-it-v2'), path.join(v2Mount!, 'nook-it-v2/c1')]);
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    joinOciCgroup(cg, child.pid!, (m) => warnings.push(m));
    expect(ociCgroupPids(cg)).toEqual([child.pid]);
    freezeOciCgroup(cg, true);
    expect(isFrozen(cg)).toBe(true);
    freezeOciCgroup(cg, false);
    expect(isFrozen(cg)).toBe(false);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    removeOciCgroup(cg, (m) => warnings.push(m));
    expect(fs.existsSync(path.join(v2Mount!, 'nook-it-v2'))).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('rootless in a delegated subtree: under the top of the delegation; a controller it cannot have is a warning, not a failure', () => {
    const uid = 1001;
    const top = path.join(v2Mount!, 'nook-it-deleg');
    fs.mkdirSync(path.join(top, 'inner'), { recursive: true });
    onTestFinished(() => {
      for (const d of [path.join(top, 'nook-oci', 'c2'), path.join(top, 'nook-oci'), path.join(top, 'inner'), top]) if (fs.existsSync(d)) fs.rmdirSync(d);
    });
    for (const d of [top, path.join(top, 'inner')]) for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control']) fs.chownSync(path.join(d, f), uid, uid);
    const rel = `/${path.relative(v2Mount!, path.join(top, 'inner'))}`;
    const host = view({ realRoot: false, euid: uid, selfCgroup: `0::${rel}\n` });

    const cg = createOciCgroupOn({ ociVersion: '1.0.2' }, 'c2', () => {}, host)!;
    expect(cg).toEqual({ v2: path.join(top, 'nook-oci', 'c2'), made: [path.join(top, 'nook-oci'), path.join(top, 'nook-oci', 'c2')], rootless: true });
    removeOciCgroup(cg, () => {});
    expect(fs.existsSync(path.join(top, 'nook-oci'))).toBe(false);

    // Which controllers the tree offers decides it: a hybrid host's unified tree has none, a v2 host may lack hugetlb.
    const offered = read(path.join(v2Mount!, 'cgroup.controllers')).split(/\s+/);
    if (!offered.includes('hugetlb')) {
      const warnings: string[] = [];
      const none = createOciCgroupOn({ ociVersion: '1.0.2', linux: { resources: { hugepageLimits: [{ pageSize: '2MB', limit: 0 }] } } }, 'c2', (m) => warnings.push(m), host);
      expect(none).toBeUndefined();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^linux\.resources are not applied: linux\.resources need the cgroup v2 hugetlb controller/);
      expect(fs.existsSync(path.join(top, 'nook-oci'))).toBe(false);
    }

    // Outside the delegation (and not delegated at all): the same, with the reason.
    const warnings: string[] = [];
    expect(createOciCgroupOn({ ociVersion: '1.0.2', linux: { cgroupsPath: '/elsewhere', resources: { pids: { limit: 5 } } } }, 'c3', (m) => warnings.push(m), host)).toBeUndefined();
    expect(warnings).toEqual([`linux.resources are not applied: the cgroup ${path.join(v2Mount!, 'elsewhere')} is outside the subtree delegated to this user (${top})`]);
  });
});
