/**
 * File times as layers record them: whole seconds in tar headers, up to
 * nanoseconds in PAX records. Kept as integer seconds and nanoseconds (a
 * double holds only about a quarter of a microsecond at today's dates), and
 * set with utimensat: Node's utimes family rounds to microseconds and turns
 * times before 1970 into "now".
 */
import { libcFs } from '../../../ffi/libc-fs';
import { describeErrno, errnoName } from '../../errors';

export interface Timestamp {
  sec: number;
  /** 0 ≤ nsec < 1e9, also for times before 1970. */
  nsec: number;
}

const TIME = /^(-?)(\d+)(?:\.(\d*))?$/;

/** A PAX time ("1700000000", "1700000000.123456789", "-1.5"), or undefined if malformed. */
export function parseTime(text: string): Timestamp | undefined {
  const m = TIME.exec(text);
  if (!m) return undefined;
  let sec = Number(m[2]);
  let nsec = Number((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (!Number.isSafeInteger(sec)) return undefined;
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1e9 - nsec;
    }
  }
  return { sec, nsec };
}

/** A stat's nanosecond time (`mtimeNs`) as seconds and nanoseconds, nsec ≥ 0 also before 1970. */
export function timestampOf(ns: bigint): Timestamp {
  const sec = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  return { sec: Number(sec), nsec: Number(ns - sec * 1_000_000_000n) };
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** Sets the times of the file at `cPath` (NUL-terminated bytes), of a symlink itself rather than its target. */
export function setTimes(cPath: Buffer, atime: Timestamp, mtime: Timestamp): void {
  const times = Buffer.alloc(32);
  times.writeBigInt64LE(BigInt(atime.sec), 0);
  times.writeBigInt64LE(BigInt(atime.nsec), 8);
  times.writeBigInt64LE(BigInt(mtime.sec), 16);
  times.writeBigInt64LE(BigInt(mtime.nsec), 24);
  const lib = libcFs();
  if (lib.utimensat(AT_FDCWD, cPath, times, AT_SYMLINK_NOFOLLOW) === 0) return;
  const errno = lib.errno();
  throw Object.assign(new Error(`setting times: ${describeErrno(errno)}`), { errno: -errno, code: errnoName(errno) });
}
