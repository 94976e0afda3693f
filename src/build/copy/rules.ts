/**
 * Docker's rules for COPY and ADD paths, without touching a file: where
 * sources are looked up, where they land, and the errors docker gives
 * (worded as docker's, so that users can search for them).
 */
import path = require('node:path');
import { NookError } from '../../errors';
import { hasWildcards } from './match';

/** The instruction a write is for, as messages name it (WORKDIR: its directory). */
export type Instruction = 'COPY' | 'ADD' | 'WORKDIR' | 'cp' | 'VOLUME';

/**
 * A source as written, made absolute inside its root and cleaned: `../x`
 * stays inside (docker cleans it the same way), `.` is the root itself.
 */
export function cleanSource(pattern: string): string {
  return stripSlash(path.posix.join('/', pattern));
}

/** `/a/b/` → `/a/b` (`/` stays). */
function stripSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** The components before the first with a wildcard, and the rest (matched as one pattern), as BuildKit splits them. */
export function splitWildcards(inner: string): { base: string; rest: string } {
  const parts = inner.split('/').filter(Boolean);
  const i = parts.findIndex(hasWildcards);
  if (i < 0) return { base: inner, rest: '' };
  return { base: `/${parts.slice(0, i).join('/')}`, rest: parts.slice(i).join('/') };
}

export interface Destination {
  /** Absolute, cleaned, inside the image's root. */
  path: string;
  /** Written as a directory (`dir/`, `.`, `dir/.`): sources go inside it, and it is created if missing. */
  isDir: boolean;
}

/** The destination as written, relative to the working directory unless absolute. */
export function destination(dest: string, workdir = '/'): Destination {
  if (dest === '') throw new NookError('COPY needs a destination', { hint: 'write COPY SRC... DEST' });
  const isDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = dest.startsWith('/') ? dest : path.posix.join(workdir.startsWith('/') ? workdir : `/${workdir}`, dest);
  return { path: stripSlash(path.posix.normalize(abs)), isDir };
}

/** Several sources (or a wildcard matching several) need a destination written as a directory. */
export function checkSourceCount(instruction: Instruction, count: number, dest: Destination): void {
  if (count > 1 && !dest.isDir)
    throw new NookError(`When using ${instruction} with more than one source file, the destination must be a directory and end with a /`, {
      hint: `add a / at the end of the destination (${dest.path}/)`,
    });
}

/** Where a single file (or symlink) source lands: inside the destination when it is a directory, else at it. */
export function fileTarget(dest: Destination, destIsExistingDir: boolean, sourceName: string): string {
  return dest.isDir || destIsExistingDir ? path.posix.join(dest.path, sourceName) : dest.path;
}

export function notFound(instruction: Instruction, pattern: string, inContext: boolean): NookError {
  const where = inContext ? 'build context or excluded by .dockerignore' : 'the source image or stage';
  return new NookError(`${instruction} failed: file not found in ${where}: stat ${pattern}: file does not exist`, {
    hint: inContext
      ? `paths are relative to the build context; check the name, and that .dockerignore does not exclude ${pattern}`
      : `check the path in the stage or image the files come from (--from)`,
  });
}
