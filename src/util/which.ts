import fs = require('node:fs');
import path = require('node:path');

/** Finds an executable in $PATH, then in the system directories a minimal PATH may leave out. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/sbin', '/bin', '/sbin'];
  for (const dir of dirs) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const p = path.join(dir, name);
    try {
      const st = fs.statSync(p);
      if (st.isFile() && st.mode & 0o111) return p;
    } catch {
      /* not here, or not searchable by us */
    }
  }
  return null;
}
