/**
 * mount(2) and umount2(2) for nook's own process: the build helper, root of
 * its own user and mount namespaces, mounts a step's overlay itself (mount
 * works from a multithreaded process, unlike unshare and setns). Bound on
 * first use: nothing else in nook loads them.
 */
import { loadNative } from './native';

export interface MountCalls {
  /** 0, or -1 with the errno from `errno()`. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  errno(): number;
}

let bound: MountCalls | undefined;

export function mountCalls(): MountCalls {
  if (bound) return bound;
  const n = loadNative();
  const libc = n.koffi.load('libc.so.6');
  bound = {
    mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: libc.func('int umount2(const char *target, int flags)'),
    errno: () => n.koffi.errno(),
  };
  return bound;
}
