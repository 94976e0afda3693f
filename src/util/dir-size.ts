/**
 * The bytes a directory tree holds, as docker counts a container's writable
 * layer for `ps -s`: regular files and symlinks, each inode once (hard links
 * are not counted twice), directories themselves not at all. Nothing is
 * followed out of the tree, and what cannot be read (a directory only a
 * container's subordinate uid may enter) is skipped rather than failing.
 */
import fs = require('node:fs');
import path = require('node:path');

export function dirSize(root: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(p, { bigint: true });
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() || st.isSymbolicLink()) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        total += Number(st.size);
      }
    }
  };
  walk(root);
  return total;
}
