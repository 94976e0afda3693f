/**
 * OCI bundles and build/nook-runc in tests: a config.json made from runc's
 * `runc spec --rootless` template (written out here, so that the tests do not
 * depend on nook's own `spec`), a busybox rootfs the test user owns, and
 * nook-runc run as that user with a --root of the test's own. The standard
 * streams of every call are files: a container made by `create` keeps them
 * (as runc's "pass-through" stdio), and its later output is read from there.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { scratchDir, writeFile } from './files';
import { rootfs, show, type NookResult } from './nook';
import { NOOK } from './paths';
import { cleanEnv, isRoot, spawnIdentity, testUsers, type TestUser } from './users';

/** build/nook-runc: the link whose name makes nook behave as runc. */
export const NOOK_RUNC = path.join(path.dirname(NOOK), 'nook-runc');
const CONSOLE_SOCKET_PY = path.join(__dirname, 'console_socket.py');

/** A config.json as plain JSON: tests edit what they test. */
export type Spec = Record<string, any>;

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * What `runc spec --rootless` writes (runc 1.1), with the process not on a
 * terminal, running `args`, root mapped to `user`, and the rootfs `rootPath`.
 */
export function rootlessSpec(user: TestUser, args: string[], rootPath = userRootfs(user)): Spec {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS], ambient: [...CAPS] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootPath, readonly: false },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      uidMappings: [{ containerID: 0, hostID: user.uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: user.gid, size: 1 }],
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

const rootfsCopies = new Map<number, string>();

/**
 * A copy of the busybox test rootfs owned by `user` (one per user and test
 * file): the container's root is that user, so it may write there as a
 * rootless runc container may write to its unpacked image.
 */
export function userRootfs(user: TestUser): string {
  let dir = rootfsCopies.get(user.uid);
  if (!dir) {
    dir = path.join(scratchDir(user, 'oci-rootfs-'), 'rootfs');
    execFileSync('cp', ['-a', rootfs(), dir]);
    if (isRoot) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    rootfsCopies.set(user.uid, dir);
  }
  return dir;
}

/** Writes `rel` (a path in the user's rootfs copy) owned by the user; a trailing / makes a directory. */
export function rootfsFile(user: TestUser, rel: string, content = ''): string {
  const p = path.join(userRootfs(user), rel);
  fs.mkdirSync(rel.endsWith('/') ? p : path.dirname(p), { recursive: true });
  if (!rel.endsWith('/')) writeFile(p, content, user);
  if (isRoot) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, path.join(userRootfs(user), rel.split('/')[0])]);
  return p;
}

export interface RuncOptions {
  /** Descriptors the process gets as 3, 4, ... (for --preserve-fds). */
  extraFds?: number[];
  /** Kill nook-runc and fail after this long (default 20 s). */
  timeoutMs?: number;
  /** Global flags before the command (--log, --log-format). */
  globals?: string[];
  /** Working directory (default: the work directory). */
  cwd?: string;
  /** Called with nook-runc's pid once it runs (to signal it). */
  onSpawn?(pid: number): void;
}

export interface RuncResult extends NookResult {
  /** The files that were nook-runc's stdout and stderr (a created container's stdio). */
  outFile: string;
  errFile: string;
}

export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** One test's nook-runc: its own --root, scratch files owned by the user, and cleanup of its containers. */
export class OciRuntime {
  /** A directory the user owns: bundles, host files for binds, the state root. */
  readonly work: string;
  /** --root. */
  readonly root: string;
  private calls = 0;

  constructor(readonly user: TestUser) {
    this.work = scratchDir(user, 'oci-');
    this.root = path.join(this.work, 'state');
  }

  /** A directory under the work directory, owned by the user. */
  dir(name: string): string {
    const d = path.join(this.work, name);
    fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    if (isRoot) fs.chownSync(d, this.user.uid, this.user.gid);
    return d;
  }

  /** A bundle directory with `spec` as its config.json (and `files`, relative to the bundle). */
  bundle(spec: Spec, files: Record<string, string> = {}): string {
    const b = fs.mkdtempSync(path.join(this.work, 'bundle-'));
    fs.chmodSync(b, 0o755);
    if (isRoot) fs.chownSync(b, this.user.uid, this.user.gid);
    for (const [rel, content] of Object.entries(files)) {
      const p = path.join(b, rel);
      fs.mkdirSync(rel.endsWith('/') ? p : path.dirname(p), { recursive: true });
      if (!rel.endsWith('/')) writeFile(p, content, this.user);
      if (isRoot) execFileSync('chown', ['-R', `${this.user.uid}:${this.user.gid}`, path.join(b, rel.split('/')[0])]);
    }
    writeFile(path.join(b, 'config.json'), JSON.stringify(spec, null, 2), this.user);
    return b;
  }

  /** `nook-runc --root ROOT [GLOBALS] ARGS` as the user, to its exit. */
  runc(args: string[], opts: RuncOptions = {}): Promise<RuncResult> {
    const n = ++this.calls;
    const outFile = path.join(this.work, `out-${n}`);
    const errFile = path.join(this.work, `err-${n}`);
    const out = fs.openSync(outFile, 'w+', 0o644);
    const err = fs.openSync(errFile, 'w+', 0o644);
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const argv = ['--root', this.root, ...(opts.globals ?? []), ...args];
    return new Promise<RuncResult>((resolve, reject) => {
      const child = spawn(NOOK_RUNC, argv, {
        ...spawnIdentity(this.user),
        cwd: opts.cwd ?? this.work,
        env: cleanEnv(this.user),
        stdio: ['ignore', out, err, ...(opts.extraFds ?? [])],
      });
      fs.closeSync(out);
      fs.closeSync(err);
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`nook-runc ${argv.join(' ')}: no end after ${timeoutMs} ms; stderr: ${fs.readFileSync(errFile, 'utf8')}`));
      }, timeoutMs);
      child.on('error', reject);
      // 'exit', not 'close': a created container keeps the streams, which are files anyway.
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        const stdoutBytes = fs.readFileSync(outFile);
        resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: fs.readFileSync(errFile, 'utf8'), stdoutBytes, outFile, errFile });
      });
    });
  }

  /** A call that must succeed; its stdout. */
  async ok(args: string[], opts: RuncOptions = {}): Promise<string> {
    const r = await this.runc(args, opts);
    expect(r.code, `nook-runc ${args.join(' ')}\n${show(r)}`).toBe(0);
    return r.stdout;
  }

  async state(id: string): Promise<OciState> {
    return JSON.parse(await this.ok(['state', id])) as OciState;
  }

  /** `create --bundle B ID` of a bundle made from `spec`; returns the call's result (its files are the container's stdio). */
  async create(id: string, spec: Spec, extra: string[] = [], opts: RuncOptions = {}): Promise<RuncResult> {
    const r = await this.runc(['create', '--bundle', this.bundle(spec), ...extra, id], opts);
    expect(r.code, `create ${id}\n${show(r)}`).toBe(0);
    return r;
  }

  /** `run --bundle B ID` in the foreground: the container's exit code and output. */
  run(id: string, spec: Spec, opts: RuncOptions = {}): Promise<RuncResult> {
    return this.runc(['run', '--bundle', this.bundle(spec), id], opts);
  }

  /** delete --force of every container under this --root. */
  async cleanup(): Promise<void> {
    if (!fs.existsSync(this.root)) return;
    for (const id of fs.readdirSync(this.root)) await this.runc(['delete', '--force', id]);
  }
}

/** Waits until `check` returns a value other than undefined/false (polled every 10 ms), or fails after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The file's contents once it exists and is non-empty. */
export function fileText(file: string): string | undefined {
  try {
    const t = fs.readFileSync(file, 'utf8');
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

/** Whether a host pid is a live process (not gone, not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** A line of /proc/PID/status ("Uid", "CapEff", ...), its value with whitespace squeezed. */
export function statusField(status: string, name: string): string | undefined {
  const line = status.split('\n').find((l) => l.startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim().split(/\s+/).join(' ');
}

export interface ConsoleResult {
  name: string;
  isatty: boolean;
  output: string;
  timedOut: boolean;
}

/**
 * A --console-socket listener (test/helpers/console_socket.py) run as `user`:
 * `path` is listening once this resolves; `result` is what it received.
 */
export async function consoleSocket(user: TestUser, socketPath: string, opts: { send?: string; timeoutSec?: number } = {}): Promise<{ result: Promise<ConsoleResult> }> {
  const args = [CONSOLE_SOCKET_PY, socketPath, ...(opts.send !== undefined ? ['--send', opts.send] : []), '--timeout', String(opts.timeoutSec ?? 15)];
  const child = spawn('python3', args, { ...spawnIdentity(user), cwd: '/tmp', env: cleanEnv(user), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const result = new Promise<ConsoleResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const json = out.slice(out.indexOf('\n') + 1);
      if (code !== 0 || !json) return reject(new Error(`console_socket.py exited ${code}: ${err}${out}`));
      const r = JSON.parse(json) as { name: string; isatty: boolean; output: string; timed_out: boolean; error?: string };
      if (r.error) return reject(new Error(`console_socket.py: ${r.error}`));
      resolve({ name: r.name, isatty: r.isatty, output: Buffer.from(r.output, 'base64').toString('utf8').replace(/\r\n/g, '\n'), timedOut: r.timed_out });
    });
  });
  result.catch(() => {});
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('listening\n')) resolve();
    });
    child.on('close', () => reject(new Error(`console_socket.py ended before listening: ${err}`)));
  });
  return { result };
}

// Shared by the oci-runtime test files.

/** This test's nook-runc as `user`; its containers are deleted (--force) when the test ends. */
export function runtime(user: TestUser = testUsers().any): OciRuntime {
  const rt = new OciRuntime(user);
  onTestFinished(() => rt.cleanup());
  return rt;
}

/** A bind of a host directory the test user owns on /mnt/data. */
export function withData(rt: OciRuntime, spec: Spec): string {
  const data = rt.dir(`data-${Math.random().toString(36).slice(2, 8)}`);
  spec.mounts.push({ destination: '/mnt/data', type: 'bind', source: data, options: ['rbind'] });
  return data;
}

/** `run` of `args` in a container from the rootless template, edited by `edit`; must exit 0; its stdout. */
export async function inside(rt: OciRuntime, args: string[], edit: (s: Spec) => void = () => {}): Promise<string> {
  const spec = rootlessSpec(rt.user, args);
  edit(spec);
  const r = await rt.run(`c${Math.random().toString(36).slice(2, 8)}`, spec);
  expect(r.code, show(r)).toBe(0);
  return r.stdout;
}

export const shIn = (rt: OciRuntime, script: string, edit?: (s: Spec) => void) => inside(rt, ['sh', '-c', script], edit);

/** Waits until the init (`pid`) has ended; then its state must say stopped. */
export async function waitStopped(rt: OciRuntime, id: string, pid: number): Promise<void> {
  await until(`container ${id} (pid ${pid}) to end`, () => !alive(pid));
  expect((await rt.state(id)).status).toBe('stopped');
}

/** linux.uidMappings/gidMappings as podman's rootless ones: root is the user, 1.. its subordinate range. */
export function subordinateMaps(user: TestUser, s: Spec): void {
  const { subUids, subGids } = user;
  if (!subUids || !subGids) throw new Error(`${user.name} has no subordinate ids`);
  s.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: subUids.start, size: subUids.count }];
  s.linux.gidMappings = [{ containerID: 0, hostID: user.gid, size: 1 }, { containerID: 1, hostID: subGids.start, size: subGids.count }];
}

export interface MountInfo {
  mountPoint: string;
  options: string[];
  optional: string[];
  fsType: string;
}

/** /proc/self/mountinfo lines (proc(5)). */
export function mountInfo(text: string): MountInfo[] {
  return text.trim().split('\n').filter((l) => / - /.test(l)).map((l) => {
    const [pre, post] = l.split(' - ');
    const f = pre.split(' ');
    return { mountPoint: f[4], options: f[5].split(','), optional: f.slice(6), fsType: post.split(' ')[0] };
  });
}

/** The last mount on `at`: the one a process sees there. */
export const mountAt = (text: string, at: string): MountInfo | undefined => mountInfo(text).filter((m) => m.mountPoint === at).pop();

/**
 * No pid namespace: the processes are the host's pids. A proc filesystem can be mounted only by
 * the owner of a pid namespace, so /proc is the host's, bound (as crun does for rootless --pid=host).
 */
export function hostPidNamespace(s: Spec): void {
  s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
  s.mounts = s.mounts.map((m: { destination: string }) => (m.destination === '/proc' ? { destination: '/proc', type: 'bind', source: '/proc', options: ['rbind'] } : m));
}
