/**
 * Descriptors with one owner each: close() (or leaving a `using` block)
 * closes it once, and later calls do nothing. A number closed twice may be
 * a file that another open() was given in between.
 */
import fs = require('node:fs');
import type { Native } from '../../ffi/native';
import { NookError } from '../errors';
import { O } from '../../ffi/linux';


/** A descriptor with one owner: close() (or leaving a `using` block) closes it once; later calls do nothing. */
export class Fd implements Disposable {
  #fd: number;

  constructor(
    fd: number,
    readonly what: string,
  ) {
    this.#fd = fd;
  }

  /** The number, while open; using a closed Fd is a bug in nook, never a double close. */
  get fd(): number {
    if (this.#fd < 0) throw new Error(`${this.what}: descriptor used after it was closed`);
    return this.#fd;
  }

  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    try {
      fs.closeSync(fd);
    } catch {
      /* EBADF cannot happen with one owner; EIO on close is nothing to act on */
    }
  }

  /** Gives the descriptor to a new owner (a socket, the terminal session): this object will not close it. */
  take(): number {
    const fd = this.fd;
    this.#fd = -1;
    return fd;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Several Fds closed together (each still once). */
export class FdGroup implements Disposable {
  private readonly fds: Fd[] = [];

  add<T extends Fd>(fd: T): T {
    this.fds.push(fd);
    return fd;
  }

  close(): void {
    for (const fd of this.fds) fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A close-on-exec pipe: [read end, write end]. */
export function pipe(n: Native, what: string): [Fd, Fd] {
  const fds = new Int32Array(2);
  if (n.pipe2(fds, O.CLOEXEC) < 0) throw new NookError(`creating a pipe (${what}): errno ${n.errno()}`);
  return [new Fd(fds[0], `${what} (read end)`), new Fd(fds[1], `${what} (write end)`)];
}

