/**
 * Advisory file locks (flock). The kernel drops a lock when its holder dies,
 * so a nook killed with SIGKILL can never leave a stale lock behind: that is
 * why the store uses them instead of lock files with pids in them.
 */
import fs = require('node:fs');
import path = require('node:path');
import { libcFs, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN } from '../../ffi/libc-fs';
import { describeErrno, NookError } from '../errors';

export class FileLock {
  private constructor(
    readonly path: string,
    private fd: number,
  ) {}

  /** Waits (without blocking the event loop) until the lock on `file` is ours. */
  static async acquire(file: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<FileLock> {
    // Usually free: take it at once, without starting a worker thread to wait in.
    const free = FileLock.tryAcquire(file, mode);
    if (free) return free;
    const fd = FileLock.open(file);
    const r = await libcFs().flockAsync(fd, mode === 'shared' ? LOCK_SH : LOCK_EX);
    if (r !== 0) {
      fs.closeSync(fd);
      throw new NookError(`locking ${file} failed`);
    }
    return new FileLock(file, fd);
  }

  /** The lock if nobody else holds it, else undefined. */
  static tryAcquire(file: string, mode: 'exclusive' | 'shared' = 'exclusive', opts: { createDir?: boolean } = {}): FileLock | undefined {
    const fd = FileLock.open(file, opts.createDir ?? true);
    const lib = libcFs();
    if (lib.flock(fd, (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB) === 0) return new FileLock(file, fd);
    const errno = lib.errno();
    fs.closeSync(fd);
    if (errno === 11) return undefined; // EWOULDBLOCK: held by someone else
    throw new NookError(`locking ${file}: ${describeErrno(errno)}`);
  }

  /** `createDir` false: a lock in a directory that is gone (a removed container) fails with ENOENT, never recreates it. */
  private static open(file: string, createDir = true): number {
    if (createDir) fs.mkdirSync(path.dirname(file), { recursive: true });
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | 0o2000000 /* O_CLOEXEC */, 0o600);
  }

  /** The open descriptor holding the lock: a process that inherits it holds the lock too. */
  descriptor(): number {
    return this.fd;
  }

  /**
   * Closes this process's descriptor without unlocking: flock belongs to the
   * open file, so a process that inherited a copy (a supervisor) keeps
   * holding the lock. release() would unlock it for every copy.
   */
  handOver(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  release(): void {
    if (this.fd < 0) return;
    libcFs().flock(this.fd, LOCK_UN);
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Runs `fn` holding the exclusive lock on `file`. */
export async function withLock<T>(file: string, fn: () => T | Promise<T>): Promise<T> {
  const lock = await FileLock.acquire(file);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
