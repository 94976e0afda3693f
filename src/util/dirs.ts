/**
 * Per-user directories, XDG style. nook runs with whatever environment a
 * script gives it (an empty HOME, a foreign XDG_RUNTIME_DIR after plain `su`),
 * so every candidate is checked before use: it must belong to the user and
 * must not be writable by anyone else, since we load native code from it.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';

function uid(): number {
  return process.getuid ? process.getuid() : 0;
}

/** Creates `dir` (0700) if needed and checks that it is ours and private. Returns why not, or null when fine. */
export function ensurePrivateDir(dir: string): string | null {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return `${dir} is not a directory`;
    if (st.uid !== uid()) return `${dir} belongs to uid ${st.uid}, not to you (uid ${uid()})`;
    if (st.mode & 0o022) return `${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)})`;
    return null;
  } catch (e) {
    return `${dir}: ${(e as Error).message}`;
  }
}

/**
 * $XDG_RUNTIME_DIR when it is usable. After plain `su`, it still points at
 * the previous user's directory: say so, since that is a common trap.
 */
export function runtimeDirProblem(): string | null {
  const dir = process.env.XDG_RUNTIME_DIR;
  if (!dir) return null;
  try {
    const st = fs.statSync(dir);
    if (st.uid !== uid())
      return `XDG_RUNTIME_DIR=${dir} belongs to uid ${st.uid}, not to you (uid ${uid()}); this happens after plain \`su\`: log in with \`su -l\`, \`machinectl shell\` or ssh, or unset XDG_RUNTIME_DIR`;
  } catch {
    return `XDG_RUNTIME_DIR=${dir} does not exist; unset it or log in again so that it is created`;
  }
  return null;
}

/** Where nook keeps files it can recreate (the unpacked native parts). */
export function cacheDirCandidates(): string[] {
  const out: string[] = [];
  const env = process.env;
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) out.push(path.join(env.XDG_CACHE_HOME, 'nook'));
  if (env.HOME && path.isAbsolute(env.HOME) && env.HOME !== '/') out.push(path.join(env.HOME, '.cache', 'nook'));
  if (env.XDG_RUNTIME_DIR && runtimeDirProblem() === null) out.push(path.join(env.XDG_RUNTIME_DIR, 'nook', 'cache'));
  out.push(path.join('/tmp', `nook-${uid()}`, 'cache'));
  return out;
}

/** The first cache directory that works; a clear error listing why none did otherwise. */
export function cacheDir(): string {
  const problems: string[] = [];
  const runtimeProblem = runtimeDirProblem();
  if (runtimeProblem) problems.push(runtimeProblem);
  for (const dir of cacheDirCandidates()) {
    // The /tmp fallback's parent must be private too, or another user could plant files in it.
    const parent = path.dirname(dir);
    const parentProblem = parent.startsWith('/tmp/nook-') ? ensurePrivateDir(parent) : null;
    const problem = parentProblem ?? ensurePrivateDir(dir);
    if (problem === null) return dir;
    problems.push(problem);
  }
  throw new NookError(`no usable cache directory for nook's native parts:\n  ${problems.join('\n  ')}`, {
    hint: 'set XDG_CACHE_HOME to a directory of yours, e.g. XDG_CACHE_HOME=$HOME/.cache',
  });
}
