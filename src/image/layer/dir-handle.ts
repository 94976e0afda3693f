/**
 * Reading a container's files without ever following a symlink out of the
 * tree: every directory is opened with O_NOFOLLOW relative to its parent's
 * open descriptor (through /proc/self/fd/N/NAME, Node's stand-in for
 * openat), so a component swapped for a symlink while we read is refused,
 * not followed. Names are byte strings (latin1), as in unpack/paths.ts.
 */
import fs = require('node:fs');
import { libcFs } from '../../../ffi/libc-fs';
import { describeErrno } from '../../errors';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const ENODATA = 61;
const ENOTSUP = 95;
const ERANGE = 34;

export class DirHandle {
  private constructor(
    private readonly fd: number,
    /** The directory's path for messages. */
    readonly shown: string,
  ) {}

  /** Opens the tree's root, itself not a symlink. */
  static open(dir: string | Buffer): DirHandle {
    return new DirHandle(fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), dir.toString());
  }

  /** The child's path through this descriptor: safe for l* calls and O_NOFOLLOW opens. */
  path(name: string): Buffer {
    return Buffer.concat([Buffer.from(`/proc/self/fd/${this.fd}/`), Buffer.from(name, 'latin1')]);
  }

  private cPath(name: string): Buffer {
    return Buffer.concat([this.path(name), Buffer.from([0])]);
  }

  /** Entry names, sorted by bytes. */
  names(): string[] {
    const raw = fs.readdirSync(Buffer.from(`/proc/self/fd/${this.fd}`), { encoding: 'buffer' });
    return raw.map((b) => b.toString('latin1')).sort(byBytes);
  }

  lstat(name: string): fs.BigIntStats {
    return fs.lstatSync(this.path(name), { bigint: true });
  }

  /** The child directory (refused if it is a symlink now). */
  openDir(name: string): DirHandle {
    return new DirHandle(fs.openSync(this.path(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW), `${this.shown}/${name}`);
  }

  /** The child file for reading; O_NONBLOCK so a FIFO swapped in does not hang us. */
  openFile(name: string): number {
    return fs.openSync(this.path(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  }

  readlink(name: string): string {
    return fs.readlinkSync(this.path(name), { encoding: 'buffer' }).toString('latin1');
  }

  /** The child's extended attributes, sorted by name (byte strings), those `keep` accepts. */
  xattrs(name: string, keep: (xattr: string) => boolean): [string, Buffer][] {
    const lib = libcFs();
    const c = this.cPath(name);
    let list: Buffer | undefined;
    for (let size = 1024; ; size *= 4) {
      list = Buffer.alloc(size);
      const n = lib.llistxattr(c, list, size);
      if (n >= 0) {
        list = list.subarray(0, n);
        break;
      }
      const errno = lib.errno();
      if (errno === ENOTSUP) return [];
      if (errno !== ERANGE || size > 1 << 20) throw new Error(`listing the xattrs of ${this.shown}/${name}: ${describeErrno(errno)}`);
    }
    const out: [string, Buffer][] = [];
    for (const raw of list.toString('latin1').split('\0')) {
      if (!raw || !keep(raw)) continue;
      const value = this.xattr(name, raw);
      if (value) out.push([raw, value]);
    }
    return out.sort((a, b) => byBytes(a[0], b[0]));
  }

  /** One xattr's value, undefined when absent or unreadable (trusted.* outside the initial namespace). */
  xattr(name: string, xattr: string): Buffer | undefined {
    const lib = libcFs();
    const c = this.cPath(name);
    const key = Buffer.from(`${xattr}\0`, 'latin1');
    for (let size = 256; size <= 1 << 20; size *= 4) {
      const value = Buffer.alloc(size);
      const n = lib.lgetxattr(c, key, value, size);
      if (n >= 0) return value.subarray(0, n);
      const errno = lib.errno();
      if (errno !== ERANGE) {
        if (errno === ENODATA || errno === ENOTSUP || errno === 1 /* EPERM */) return undefined;
        throw new Error(`reading ${xattr} of ${this.shown}/${name}: ${describeErrno(errno)}`);
      }
    }
    return undefined;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Byte order of byte strings (each char one byte, so code unit order is byte order). */
export function byBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
