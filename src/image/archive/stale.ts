/**
 * Leftovers of loads and imports that were killed (a spool directory, a
 * half-written blob): their names carry the pid of the nook that made
 * them, and they go once that process is gone. Garbage collection does not
 * look into these directories.
 */
import fs = require('node:fs');
import path = require('node:path');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the entries of `dir` named `<prefix><pid><. or ->…` whose process no longer runs. */
export function removeStale(dir: string, prefix: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)[.-]/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}
