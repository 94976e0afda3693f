/**
 * Extended attributes recorded in a layer (PAX SCHILY.xattr.* records).
 * user.* attributes are the image's own data and must survive; others
 * (security.capability, security.selinux, trusted.*) may be refused inside a
 * user namespace or by the file system, which costs a debug note only.
 * Attributes overlayfs itself reads (user.overlay.*, trusted.overlay.*) are
 * never taken from a layer: they would change how the layers are merged.
 */
import { libcFs } from '../../../ffi/libc-fs';
import { describeErrno } from '../../errors';
import type { EntryKind } from './tar-reader';
import { xattrsUnsupported } from './whiteouts';

const ENOTSUP = 95;

export class XattrWriter {
  private userFailures = 0;
  private example?: string;

  constructor(
    private readonly layer: string,
    private readonly dest: string,
    private readonly debug: (message: string) => void,
  ) {}

  /** Sets `xattrs` on the file at `cPath` (NUL-terminated bytes) without following a symlink. */
  apply(cPath: Buffer, kind: EntryKind, xattrs: [string, Buffer][], shown: string): void {
    const lib = libcFs();
    for (const [name, value] of xattrs) {
      const text = Buffer.from(name, 'latin1').toString('utf8');
      if (name.startsWith('user.overlay.') || name.startsWith('trusted.overlay.')) {
        this.debug(`${shown}: not setting ${text} from the layer (overlayfs reads it)`);
        continue;
      }
      const user = name.startsWith('user.');
      if (user && kind !== 'file' && kind !== 'dir') {
        // The kernel allows user.* attributes on regular files and directories only.
        this.debug(`${shown}: not setting ${text} (user attributes exist on files and directories only)`);
        continue;
      }
      if (lib.lsetxattr(cPath, Buffer.from(`${name}\0`, 'latin1'), value, value.length, 0) === 0) continue;
      const errno = lib.errno();
      if (user && errno === ENOTSUP) throw xattrsUnsupported(this.layer, this.dest);
      if (user) {
        this.userFailures++;
        this.example ??= `${text} on ${shown}: ${describeErrno(errno)}`;
      } else {
        this.debug(`${shown}: cannot set ${text}: ${describeErrno(errno)}`);
      }
    }
  }

  /** The one warning per layer about user attributes that could not be set, if any. */
  warning(): string | undefined {
    if (this.userFailures === 0) return undefined;
    return `${this.layer}: ${this.userFailures} extended attribute(s) could not be set, e.g. ${this.example}`;
  }
}
