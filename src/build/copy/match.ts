/**
 * Go's filepath.Match, which COPY and ADD sources use (docker and BuildKit
 * both resolve wildcards with it): `*` any run of characters but `/`, `?`
 * one such character, `[...]` a class (`^` negates, `a-z` ranges), `\`
 * escapes the next character. A pattern is compiled once to a RegExp.
 */
import { NookError } from '../../errors';

const cache = new Map<string, RegExp>();

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

function badPattern(pattern: string, why: string): NookError {
  return new NookError(`invalid pattern "${pattern}": ${why}`, {
    hint: 'patterns follow Go filepath.Match: * ? [a-z] [^a-z], with \\ to escape a special character',
  });
}

/** The RegExp equivalent to `pattern` under filepath.Match (anchored at both ends). */
export function compileGlob(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (++i >= pattern.length) throw badPattern(pattern, 'it ends with \\');
      re += escapeRegExp(pattern[i]);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      let first = true;
      for (; j < pattern.length && (first || pattern[j] !== ']'); j++, first = false) {
        let lo = pattern[j];
        if (lo === '\\') lo = pattern[++j] ?? '';
        if (lo === '') throw badPattern(pattern, 'unterminated character class');
        cls += escapeRegExp(lo);
        if (pattern[j + 1] === '-' && pattern[j + 2] !== undefined && pattern[j + 2] !== ']') {
          j += 2;
          let hi = pattern[j];
          if (hi === '\\') hi = pattern[++j] ?? '';
          if (hi === '' || hi < lo) throw badPattern(pattern, `bad range ${lo}-${hi}`);
          cls += `-${escapeRegExp(hi)}`;
        }
      }
      if (j >= pattern.length || cls === '' || cls === '^') throw badPattern(pattern, 'unterminated character class');
      // A class never matches the separator, as in Go.
      re += cls.startsWith('^') ? `(?!/)[${cls}]` : `(?!/)[${cls}]`;
      i = j;
    } else re += escapeRegExp(c);
  }
  const compiled = new RegExp(`^${re}$`, 's');
  cache.set(pattern, compiled);
  return compiled;
}

/** filepath.Match(pattern, name). */
export function globMatch(pattern: string, name: string): boolean {
  return compileGlob(pattern).test(name);
}

/** Whether a path component holds a wildcard (an escaped character does not count). */
export function hasWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** `\x` → `x`: a pattern without wildcards names a file whose name may hold escaped special characters. */
export function unescapeGlob(p: string): string {
  return p.replace(/\\(.)/g, '$1');
}
