/** podman's --conmon-pidfile: the pid of what keeps the container (nook in the foreground, the supervisor of a detached one). */
import fs = require('node:fs');
import { NookError } from '../errors';

export function writePidFile(file: string, pid: number): void {
  try {
    fs.writeFileSync(file, `${pid}`, { mode: 0o644 });
  } catch (e) {
    throw new NookError(`writing the pid file ${file}: ${(e as Error).message}`, { hint: 'give --conmon-pidfile a path in a directory you can write' });
  }
}
