/**
 * Go's filepath.Match pattern syntax as a JavaScript regular expression, with
 * Go's rules for what is malformed (a lone trailing `\`, an unclosed or empty
 * class, a `-` that is not part of a range): `*` and `?` stop at `/`, classes
 * are `[a-z]` or `[^a-z]` (no `!`), `\` escapes. With `doubleStar`, `**` is
 * docker's .dockerignore extension (any number of directories), compiled as
 * moby/patternmatcher does.
 */

export class BadPattern extends Error {
  constructor(pattern: string) {
    super(`syntax error in pattern ${JSON.stringify(pattern)}`);
  }
}

const escapeRegex = (ch: string) => ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
const escapeInClass = (ch: string) => ch.replace(/[\\^\]\[-]/g, '\\$&');

/** The regular expression source (anchored ^...$) for a Go filepath.Match pattern. */
export function goPatternSource(pattern: string, opts: { doubleStar?: boolean } = {}): string {
  const chars = Array.from(pattern);
  const bad = () => new BadPattern(pattern);
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '*') {
      if (opts.doubleStar && chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\') {
      if (i + 1 >= chars.length) throw bad();
      re += escapeRegex(chars[++i]);
    } else if (ch === '[') {
      // A class as Go's matchChunk reads it: [^]? then ranges lo[-hi], each char possibly \-escaped, non-empty.
      let j = i + 1;
      let negated = false;
      if (chars[j] === '^') {
        negated = true;
        j++;
      }
      const getEsc = (): string => {
        if (j >= chars.length || chars[j] === '-' || chars[j] === ']') throw bad();
        if (chars[j] === '\\') {
          j++;
          if (j >= chars.length) throw bad();
        }
        const r = chars[j++];
        if (j >= chars.length) throw bad();
        return r;
      };
      let ranges = '';
      for (let n = 0; ; n++) {
        if (chars[j] === ']' && n > 0) break;
        const lo = getEsc();
        let hi = lo;
        if (chars[j] === '-') {
          j++;
          hi = getEsc();
        }
        // lo > hi matches nothing in Go; a JS class would refuse it
        if (lo.codePointAt(0)! <= hi.codePointAt(0)!) ranges += lo === hi ? escapeInClass(lo) : `${escapeInClass(lo)}-${escapeInClass(hi)}`;
      }
      re += ranges === '' ? (negated ? '[^]' : '[]') : `[${negated ? '^' : ''}${ranges}]`;
      i = j;
    } else re += escapeRegex(ch);
  }
  return re + '$';
}

export function goPatternRegex(pattern: string, opts: { doubleStar?: boolean } = {}): RegExp {
  return new RegExp(goPatternSource(pattern, opts), 'su');
}
