/**
 * Entry names of a layer, checked and turned into paths under the
 * destination.
 *
 * Names are kept as "byte strings": each char is one byte of the name as the
 * archive has it (latin1), because Linux file names are bytes and a layer
 * may hold names that are not UTF-8; decoding them would rename the files.
 * They become Buffers for the file system calls (Node and koffi accept
 * those) and are decoded as UTF-8 only for messages.
 */

/** Why a name cannot be extracted; the caller adds the layer and entry. */
export class UnsafeName extends Error {}

/**
 * The components of an entry name, relative to the layer's root ([] for the
 * root itself). A leading "./" and empty or "." components are dropped, as
 * tar does; absolute names, ".." components and NUL bytes are refused: the
 * first two would reach outside the layer, the last would be cut short by the
 * kernel and name another file.
 */
export function nameComponents(name: string): string[] {
  if (name.includes('\0')) throw new UnsafeName('contains a NUL byte');
  if (name === '') throw new UnsafeName('is empty');
  if (name.startsWith('/')) throw new UnsafeName('is an absolute path');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UnsafeName('contains a ".." component');
    parts.push(part);
  }
  return parts;
}

/** A byte-string name as the user should read it, quoted (control bytes visible). */
export function showName(name: string): string {
  return JSON.stringify(Buffer.from(name, 'latin1').toString('utf8'));
}

/** Byte-string paths under one destination directory. */
export class DestPaths {
  /** The destination as a byte string, without a trailing slash. */
  private readonly root: string;

  constructor(dest: string) {
    this.root = Buffer.from(dest.replace(/\/+$/, '') || '/', 'utf8').toString('latin1');
  }

  /** For Node's fs calls. `rel` '' is the destination itself. */
  abs(rel: string): Buffer {
    return Buffer.from(rel === '' ? this.root : `${this.root}/${rel}`, 'latin1');
  }

  /** For libc calls through koffi: NUL-terminated. */
  cAbs(rel: string): Buffer {
    return Buffer.from(rel === '' ? `${this.root}\0` : `${this.root}/${rel}\0`, 'latin1');
  }
}

/** `a/b/c` → `a/b`; a top-level name → ''. */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}
