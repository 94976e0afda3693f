import fs = require('node:fs');

/** Finds an executable in $PATH, then in the system directories a minimal PATH may leave out. */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/sbin', '/bin', '/sbin'];
  for (const dir of dirs) {
    if (!dir.startsWith('/')) continue; // relative entries would depend on the working directory
    const p = dir.endsWith('/') ? dir + name : `${dir}/${name}`;
    // No exception for a missing file: `nook run` looks up newuidmap and newgidmap on every start, and a
    // thrown ENOENT (an Error with its stack) costs more than the stat.
    try {
      const st = fs.statSync(p, { throwIfNoEntry: false });
      if (st?.isFile() && st.mode & 0o111) return p;
    } catch {
      /* not searchable by us, or not a directory */
    }
  }
  return null;
}
