/**
 * Typed errors that carry what the user reads. Everything the CLI prints on
 * failure comes from a NookError: `message` says what went wrong, `hint` says
 * what to do about it, `exitCode` follows docker's convention (125 for a
 * runtime error, 126 for a command that cannot run, 127 for one not found).
 */
export class NookError extends Error {
  readonly exitCode: number;
  readonly hint?: string;

  /** `cause`: the underlying error, kept for NOOK_DEBUG=1 rather than re-described in the message. */
  constructor(message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NookError';
    this.exitCode = opts.exitCode ?? 125;
    this.hint = opts.hint;
  }
}

/** Bad command-line input: same exit code as any runtime error, but worth its own type. */
export class UsageError extends NookError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 125, hint });
    this.name = 'UsageError';
  }
}

/**
 * A flag the command does not take, or one missing its value: docker's CLI
 * exits 125 for these with every command, where its other errors exit 1.
 */
export class FlagError extends UsageError {
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = 'FlagError';
  }
}

/**
 * An error as the user sees it: "Error: MESSAGE", the prefix docker's and
 * podman's CLIs print (scripts and their test suites match it), then the hint.
 */
export function errorText(e: { message: string; hint?: string }): string {
  return `Error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`;
}

/**
 * The exit code a failed command leaves with, as docker's CLI: run, create and
 * exec keep 125 for nook's own failures (their own 126/127/status otherwise),
 * every other command exits 1 on an error except for a bad flag (125).
 */
export function commandExitCode(command: string | undefined, e: unknown, code: number): number {
  if (command === undefined || OWN_STATUS.has(command) || e instanceof FlagError) return code;
  // A container that failed to start (its command missing: 127, not executable: 126) is an error of
  // `start`, `restart`..., which docker's CLI reports with 1; an interrupt keeps its 130.
  return code === 125 || code === 126 || code === 127 ? 1 : code;
}

// unshare (podman's) runs a host command: its status too.
const OWN_STATUS = new Set(['run', 'create', 'exec', 'unshare']);

/** errno number → symbolic name and text, for messages like "mount /proc: EPERM (Operation not permitted)". */
const ERRNO_TEXT: Record<number, [string, string]> = {
  1: ['EPERM', 'Operation not permitted'],
  2: ['ENOENT', 'No such file or directory'],
  3: ['ESRCH', 'No such process'],
  5: ['EIO', 'Input/output error'],
  7: ['E2BIG', 'Argument list too long'],
  8: ['ENOEXEC', 'Exec format error'],
  9: ['EBADF', 'Bad file descriptor'],
  11: ['EAGAIN', 'Resource temporarily unavailable'],
  12: ['ENOMEM', 'Cannot allocate memory'],
  13: ['EACCES', 'Permission denied'],
  16: ['EBUSY', 'Device or resource busy'],
  17: ['EEXIST', 'File exists'],
  19: ['ENODEV', 'No such device'],
  20: ['ENOTDIR', 'Not a directory'],
  21: ['EISDIR', 'Is a directory'],
  22: ['EINVAL', 'Invalid argument'],
  24: ['EMFILE', 'Too many open files'],
  26: ['ETXTBSY', 'Text file busy'],
  28: ['ENOSPC', 'No space left on device'],
  30: ['EROFS', 'Read-only file system'],
  36: ['ENAMETOOLONG', 'File name too long'],
  38: ['ENOSYS', 'Function not implemented'],
  40: ['ELOOP', 'Too many levels of symbolic links'],
  75: ['EOVERFLOW', 'Value too large for defined data type'],
  87: ['EUSERS', 'Too many users'],
  95: ['EOPNOTSUPP', 'Operation not supported'],
};

export function errnoName(errno: number): string {
  return ERRNO_TEXT[errno]?.[0] ?? `errno ${errno}`;
}

export function describeErrno(errno: number): string {
  const e = ERRNO_TEXT[errno];
  return e ? `${e[0]} (${e[1]})` : `errno ${errno}`;
}
