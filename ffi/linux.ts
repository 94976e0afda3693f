/**
 * The Linux constants nook passes to the kernel from TypeScript (plan
 * arguments, libc calls through koffi), in one place. test/unit/linux.test.ts
 * checks every one against the C headers.
 */

/** clone(2) / unshare(2) namespace flags. */
export const CLONE = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

/** mount(2) flags. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  POSIXACL: 0x10000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** mount_setattr(2) attributes (struct mount_attr attr_set / attr_clr). */
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  /** The atime mode field: setting one of RELATIME, NOATIME, STRICTATIME needs it in attr_clr. */
  _ATIME: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  IDMAP: 0x100000,
  NOSYMFOLLOW: 0x200000,
} as const;

/** *at(2) flags. */
export const AT = { RECURSIVE: 0x8000 } as const;

/** prctl(2) options. */
export const PR = {
  SET_PDEATHSIG: 1,
  SET_DUMPABLE: 4,
  SET_KEEPCAPS: 8,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
} as const;

/** Signal numbers the plan or a libc call needs as plain numbers (x86_64 and aarch64 agree). */
export const SIGNAL = { SIGKILL: 9, SIGTERM: 15, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19 } as const;

/** open(2) flags. */
export const O = { RDONLY: 0, RDWR: 2, NONBLOCK: 0x800, CLOEXEC: 0x80000, PATH: 0x200000 } as const;

/** umount2(2) flags. */
export const MNT = { DETACH: 0x2 } as const;

/** socket(2) and socketpair(2). */
export const SOCKET = { AF_UNIX: 1, SOCK_SEQPACKET: 5, SOCK_CLOEXEC: 0x80000 } as const;

/** errno values nook's native calls return negated (-errno) and callers compare against. */
export const ERRNO = { ESRCH: 3, EAGAIN: 11, ENOSYS: 38 } as const;
