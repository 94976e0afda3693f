/**
 * Loads nook's native parts and binds the few libc calls the runtime needs.
 *
 * In the single executable (Node SEA), koffi's .node module and the plan
 * executor (libnook-exec.so) are SEA assets. dlopen() needs a file, so they
 * are unpacked once into the user's cache directory, under a name that
 * includes their build hash, each written to a temporary file and renamed
 * into place: concurrent first starts never see a half-written library.
 * Outside the executable (tests, development), they are taken from
 * node_modules and build/out.
 */
import fs = require('node:fs');
import path = require('node:path');
import type * as Koffi from 'koffi';
import { cacheDir } from '../src/util/dirs';
import { NookError } from '../src/errors';
import { randomHex } from '../src/util/random';

declare const NOOK_NATIVE_ID: string | undefined;

const ASSETS = ['koffi.node', 'libnook-exec.so'] as const;
/** Unpacked (or read) only when used: `nook run` never needs the supervisor, nor the init without --init. */
const ON_DEMAND = ['nook-supervisor', 'nook-init'] as const;
type AssetName = (typeof ASSETS)[number] | (typeof ON_DEMAND)[number];

function isSea(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node:sea').isSea();
  } catch {
    return false;
  }
}

/** The repository root when running from source or from build/out. */
function devRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'ffi', 'executor.c'))) return dir;
    dir = path.dirname(dir);
  }
  throw new NookError(`cannot find nook's native parts near ${__dirname}`, { hint: 'run `make` first' });
}

function devAssetPath(name: AssetName): string {
  const root = devRoot();
  const p =
    name === 'koffi.node'
      ? path.join(root, 'node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node')
      : path.join(root, 'build/out', name);
  if (!fs.existsSync(p)) throw new NookError(`missing ${p}`, { hint: 'run `make` to build the native executor' });
  return p;
}

/** Unpacks a SEA asset into the cache (once per build) and returns its path. */
function seaAssetPath(name: AssetName): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sea = require('node:sea') as typeof import('node:sea');
  const id = typeof NOOK_NATIVE_ID === 'string' ? NOOK_NATIVE_ID : 'dev';
  const dir = path.join(cacheDir(), `native-${id}`);
  const file = path.join(dir, name);
  const raw = sea.getRawAsset(name);
  try {
    if (fs.statSync(file).size === raw.byteLength) return file;
  } catch {
    /* not unpacked yet */
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${randomHex(4)}`;
  fs.writeFileSync(tmp, new Uint8Array(raw), { mode: 0o500 });
  fs.renameSync(tmp, file);
  return file;
}

function assetPath(name: AssetName): string {
  return isSea() ? seaAssetPath(name) : devAssetPath(name);
}

function assetPaths(): Record<(typeof ASSETS)[number], string> {
  return { 'koffi.node': assetPath('koffi.node'), 'libnook-exec.so': assetPath('libnook-exec.so') };
}

/** The detached-container supervisor executable (ffi/supervisor.c), unpacked on first use. */
export function supervisorPath(): string {
  return assetPath('nook-supervisor');
}

/**
 * The --init program (ffi/init.c). Its bytes go into the plan, and the
 * executor runs it from a sealed memfd: never unpacked to a file.
 */
export function initProgram(): Buffer {
  if (!isSea()) return fs.readFileSync(devAssetPath('nook-init'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sea = require('node:sea') as typeof import('node:sea');
  return Buffer.from(sea.getRawAsset('nook-init'));
}

export interface Native {
  koffi: typeof Koffi;
  /** Address of nook_exec_plan, the clone() child function. */
  execPlanAddress: bigint;
  childStackTop: bigint;
  clone(fn: bigint, stack: bigint, flags: number, arg: Buffer): number;
  socketpair(domain: number, type: number, protocol: number, sv: Int32Array): number;
  pipe2(fds: Int32Array, flags: number): number;
  ioctl(fd: number, request: number, arg: Buffer): number;
  tcgetattr(fd: number, termios: Buffer): number;
  tcsetattr(fd: number, when: number, termios: Buffer): number;
  cfmakeraw(termios: Buffer): void;
  dup(fd: number): number;
  /** Ends the process at once, skipping Node's teardown (a few ms) once all output is written. */
  exitNow(code: number): never;
  readStatus(fd: number, out4: Int32Array, passedFd: Int32Array): number;
  /** Blocking wait; returns the raw wait status or -errno. */
  waitChild(pid: number): number;
  /** Reaps pid if it has ended: the raw wait status, -EAGAIN while it runs, or -errno. */
  tryWaitChild(pid: number): number;
  /** posix_spawn() with stdout and stderr into outFd; returns the pid or -errno. */
  spawn(path: string, argv: (string | null)[], outFd: number): number;
  /** A regular file inside the directory `root`, resolved as if it were / (ffi/in-root.c), open for reading; -EINVAL if not regular, or -errno. */
  openFileInRoot(root: string, path: string): number;
  /** `path` inside the directory fd `rootFd`, resolved as if it were / (ffi/in-root.c; `create`: a Resolve value of plan-format.ts): an O_PATH|O_CLOEXEC fd, or -1 with errno(). */
  resolveInRoot(rootFd: number, path: string, create: number, mode: number): number;
  /** pidfd_open(pid, 0): a close-on-exec pidfd, or -errno (-ENOSYS before Linux 5.3). */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(pidfd, sig, NULL, 0): 0 or -errno. */
  pidfdSendSignal(pidfd: number, sig: number): number;
  /** mkfifo(3): 0 or -1 (errno()). */
  mkfifo(path: string, mode: number): number;
  /** Sends `fd` by SCM_RIGHTS to the unix socket at `path` (runc's --console-socket), `name` as the message: 0 or -errno. */
  sendFdToSocket(path: string, fd: number, name: string): number;
  errno(): number;
}

let native: Native | undefined;

export function loadNative(): Native {
  if (native) return native;
  const paths = assetPaths();
  const mod = { exports: {} as typeof Koffi };
  process.dlopen(mod, paths['koffi.node']);
  const koffi = mod.exports;
  const libc = koffi.load('libc.so.6');
  const exec = koffi.load(paths['libnook-exec.so']);
  const childStackTop = exec.func('void *nook_child_stack_top(void)');
  native = {
    koffi,
    execPlanAddress: BigInt(exec.symbol('nook_exec_plan')),
    childStackTop: BigInt(childStackTop()),
    clone: libc.func('int clone(void *fn, void *stack, int flags, void *arg)'),
    socketpair: libc.func('int socketpair(int domain, int type, int protocol, int *sv)'),
    pipe2: libc.func('int pipe2(int *fds, int flags)'),
    ioctl: libc.func('int ioctl(int fd, unsigned long request, void *arg)'),
    tcgetattr: libc.func('int tcgetattr(int fd, void *termios)'),
    tcsetattr: libc.func('int tcsetattr(int fd, int when, void *termios)'),
    cfmakeraw: libc.func('void cfmakeraw(void *termios)'),
    dup: libc.func('int dup(int fd)'),
    exitNow: libc.func('void _exit(int status)') as unknown as (code: number) => never,
    readStatus: exec.func('int nook_read_status(int fd, int32_t *out4, int *passed_fd)'),
    waitChild: exec.func('int nook_wait_child(int pid)'),
    tryWaitChild: exec.func('int nook_try_wait_child(int pid)'),
    spawn: exec.func('int nook_spawn(const char *path, const char **argv, int outfd)'),
    openFileInRoot: exec.func('int nook_open_file_in_root(const char *root, const char *path)'),
    resolveInRoot: exec.func('int nook_resolve_in_root(int root, const char *path, int create, uint32_t mode)'),
    pidfdOpen: exec.func('int nook_pidfd_open(int pid)'),
    pidfdSendSignal: exec.func('int nook_pidfd_send_signal(int pidfd, int sig)'),
    mkfifo: libc.func('int mkfifo(const char *path, uint32_t mode)'),
    sendFdToSocket: exec.func('int nook_send_fd_to_socket(const char *path, int fd, const char *name)'),
    errno: () => koffi.errno(),
  };
  return native;
}

/** The native layer if something already loaded it (never loads it). */
export function nativeIfLoaded(): Native | undefined {
  return native;
}
