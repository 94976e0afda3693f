/**
 * .dockerignore matching as docker's builder applies it while copying
 * (moby's fileutils.PatternMatcher): patterns are cleaned and anchored at the
 * context root, `**` spans any number of directories, `!` re-includes, the
 * last matching line wins, and a pattern that matches a directory excludes
 * everything below it. Lines are given as the engine read them (comments and
 * blank lines already dropped, or not: both are ignored here).
 */
import path = require('node:path');
import { NookError } from '../../errors';

interface Pattern {
  text: string;
  exclusion: boolean;
  re: RegExp;
}

/** docker's regexp for one cleaned pattern (`**` any depth, `*` and `?` within a component). */
function patternRegExp(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        // "**/" matches zero or more leading directories; a final "**" anything.
        if (p[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= p.length) throw new NookError(`.dockerignore: invalid pattern "${p}": it ends with \\`, { hint: 'escape the backslash or remove it' });
      re += p[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) throw new NookError(`.dockerignore: invalid pattern "${p}": unterminated character class`, { hint: 'close the [ with ]' });
      const cls = p.slice(i + 1, end).replace(/^\^/, '^').replace(/\\/g, '\\\\');
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[] = [];

  constructor(lines: readonly string[]) {
    for (const raw of lines) {
      let line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const exclusion = line.startsWith('!');
      if (exclusion) line = line.slice(1).trim();
      let clean = path.posix.normalize(line);
      clean = clean.replace(/^\/+/, '').replace(/\/+$/, '');
      if (clean === '' || clean === '.') continue;
      this.patterns.push({ text: clean, exclusion, re: patternRegExp(clean) });
    }
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether `rel` (a path relative to the context root, `/`-separated) is ignored: by itself or by a parent directory. */
  matches(rel: string): boolean {
    const file = path.posix.normalize(rel).replace(/^\/+/, '');
    const parents = path.posix.dirname(file) === '.' ? [] : path.posix.dirname(file).split('/');
    let matched = false;
    for (const p of this.patterns) {
      // An inclusion only matters while not yet matched, an exclusion only once matched.
      if (p.exclusion !== matched) continue;
      let m = p.re.test(file);
      for (let i = 0; !m && i < parents.length; i++) m = p.re.test(parents.slice(0, i + 1).join('/'));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether a walk must skip `rel`: ignored, and (for a directory) no `!`
   * pattern could re-include something below it, as BuildKit decides.
   */
  skips(rel: string, isDir: boolean): boolean {
    if (!this.matches(rel)) return false;
    if (!isDir) return true;
    const dirSlash = `${rel}/`;
    return !this.patterns.some((p) => p.exclusion && `${p.text}/`.startsWith(dirSlash));
  }
}
