/**
 * `COPY --chmod=`: an octal mode (0 to 07777) or, as BuildKit accepts, a
 * symbolic one in chmod(1) syntax (`u+x`, `go-w`, `a=rX,u+s`), applied to
 * each copied file's own mode.
 */

/** Computes a copied entry's permission bits (0o7777) from its mode in the context. */
export type ModeChange = (mode: number, isDir: boolean) => number;

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/** Parses a --chmod value: what it does to a mode, or why it is neither octal nor symbolic. */
export function parseChmod(spec: string): { change: ModeChange } | { error: string } {
  if (/^[0-7]+$/.test(spec)) {
    const mode = parseInt(spec, 8);
    if (mode > 0o7777) return { error: `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777` };
    return { change: () => mode };
  }
  if (/^\d+$/.test(spec)) return { error: `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777` };
  const clauses: { who: number; ops: { op: string; perms: string }[] }[] = [];
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(clause);
    if (!m) return { error: `invalid chmod parameter: '${spec}' (use an octal mode like 755 or a symbolic one like u+x,go-w)` };
    const who = m[1] === '' ? 0o7777 : [...m[1]].reduce((w, c) => w | WHO[c], 0);
    const ops = [...m[2].matchAll(/([-+=])([rwxXstugo]*)/g)].map((o) => ({ op: o[1], perms: o[2] }));
    clauses.push({ who, ops });
  }
  return {
    change: (start, isDir) => {
      let mode = start & 0o7777;
      for (const { who, ops } of clauses)
        for (const { op, perms } of ops) {
          let bits = 0;
          for (const p of perms) {
            if (p === 'r') bits |= 0o444;
            else if (p === 'w') bits |= 0o222;
            else if (p === 'x') bits |= 0o111;
            else if (p === 'X') bits |= isDir || mode & 0o111 ? 0o111 : 0;
            else if (p === 's') bits |= 0o6000;
            else if (p === 't') bits |= 0o1000;
            else {
              // copy another class's bits: u, g or o
              const shift = { u: 6, g: 3, o: 0 }[p as 'u' | 'g' | 'o'];
              const rwx = (mode >> shift) & 7;
              bits |= (rwx << 6) | (rwx << 3) | rwx;
            }
          }
          bits &= who;
          if (op === '+') mode |= bits;
          else if (op === '-') mode &= ~bits;
          else mode = (mode & ~(who & 0o7777)) | bits;
        }
      return mode & 0o7777;
    },
  };
}
