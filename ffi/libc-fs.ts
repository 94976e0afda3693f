/**
 * libc filesystem calls Node lacks: flock (store locks), mknod (overlay
 * whiteouts are 0/0 character devices, which an unprivileged user namespace
 * may create) and the l*xattr family (opaque directories, and probing
 * whether a filesystem can hold what overlayfs needs) and utimensat (times
 * to the nanosecond, as layers record them). Bound on first use.
 */
import { loadNative } from './native';

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export interface LibcFs {
  /** Returns 0 or -1 (errno via `errno()`). */
  flock(fd: number, op: number): number;
  /** flock() in a worker thread, so a wait for a lock does not block the event loop. */
  flockAsync(fd: number, op: number): Promise<number>;
  /** Paths (and xattr names) may be Buffers of raw bytes, which must end with a NUL. */
  mknod(path: string | Buffer, mode: number, dev: bigint | number): number;
  lsetxattr(path: string | Buffer, name: string | Buffer, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string | Buffer, name: string | Buffer, value: Buffer | null, size: number): number;
  /** The NUL-separated names of a file's xattrs (not following a symlink); returns their total length or -1. */
  llistxattr(path: string | Buffer, list: Buffer | null, size: number): number;
  /** Nanosecond times (Node's utimes rounds to microseconds); `times` holds two struct timespec (atime, mtime). */
  utimensat(dirfd: number, path: string | Buffer, times: Buffer, flags: number): number;
  errno(): number;
}

let bound: LibcFs | undefined;

export function libcFs(): LibcFs {
  if (bound) return bound;
  const n = loadNative();
  const libc = n.koffi.load('libc.so.6');
  const flock = libc.func('int flock(int fd, int op)');
  bound = {
    flock,
    flockAsync: (fd, op) =>
      new Promise((resolve, reject) => flock.async(fd, op, (err: unknown, r: number) => (err ? reject(err) : resolve(r)))),
    mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: libc.func('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)'),
    llistxattr: libc.func('intptr_t llistxattr(const char *path, void *list, size_t size)'),
    utimensat: libc.func('int utimensat(int dirfd, const char *path, const void *times, int flags)'),
    errno: () => n.koffi.errno(),
  };
  return bound;
}
