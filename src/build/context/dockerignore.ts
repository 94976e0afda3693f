/**
 * `.dockerignore` with docker's semantics (a port of moby/patternmatcher:
 * ReadAll and MatchesOrParentMatches): Go filepath.Match patterns plus `**`,
 * cleaned and anchored at the context root (`/a` is `a`), `!` exceptions,
 * the last matching line wins, and a pattern that matches a parent directory
 * matches everything under it. Written here rather than taken from
 * @balena/dockerignore so the rules are exactly docker's current ones and
 * nook gains no dependency.
 */
import fs from 'node:fs';
import path from 'node:path';
import { NookError } from '../../errors';
import { goPatternRegex } from './gomatch';

/** Go's filepath.Clean for slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? '/' + joined : joined || '.';
}

/** The patterns of a .dockerignore file, as docker reads them (comments, blanks, cleaning, leading / dropped). */
export function readDockerignore(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (const raw of lines) {
    if (raw.startsWith('#')) continue;
    let p = raw.trim();
    if (p === '') continue;
    const invert = p.startsWith('!');
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    patterns.push(invert ? '!' + p : p);
  }
  return patterns;
}

interface Pattern {
  exclusion: boolean;
  regex: RegExp;
  text: string;
}

/** Matches paths (relative to the context root, `/`-separated) against .dockerignore patterns. */
export class IgnoreMatcher {
  private readonly patterns: Pattern[];
  /** Some pattern is an exception (`!...`): an excluded directory may still hold included files. */
  readonly hasExceptions: boolean;

  constructor(patterns: string[], what = '.dockerignore') {
    this.patterns = [];
    for (let p of patterns) {
      p = p.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new NookError(`${what}: illegal exclusion pattern "!"`, { hint: 'write a pattern after the !' });
        exclusion = true;
        p = p.slice(1);
      }
      let regex: RegExp;
      try {
        regex = goPatternRegex(p, { doubleStar: true });
      } catch {
        throw new NookError(`${what}: bad pattern ${JSON.stringify(p)}: syntax error in pattern`, {
          hint: 'patterns use Go filepath.Match syntax (* ? [a-z] [^a-z] and \\ escapes) plus **',
        });
      }
      this.patterns.push({ exclusion, regex, text: p });
    }
    this.hasExceptions = this.patterns.some((p) => p.exclusion);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether the path is excluded: the last pattern matching it, or one of its parent directories, decides. */
  excludes(file: string): boolean {
    file = cleanPath(file);
    const parent = path.posix.dirname(file);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = p.regex.test(file);
      for (let i = 0; !match && i < parentDirs.length; i++) match = p.regex.test(parentDirs.slice(0, i + 1).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }
}

/**
 * The ignore file of a build, as BuildKit picks it: `<Dockerfile name>.dockerignore`
 * next to the Dockerfile first (e.g. `app.Dockerfile.dockerignore`), else
 * `.dockerignore` at the context root. Undefined when neither exists.
 */
export function findDockerignore(contextDir: string, dockerfilePath?: string): string | undefined {
  const candidates = [...(dockerfilePath ? [`${dockerfilePath}.dockerignore`] : []), path.join(contextDir, '.dockerignore')];
  return candidates.find((c) => {
    try {
      return fs.statSync(c).isFile();
    } catch {
      return false;
    }
  });
}

/** The matcher for a build context (an empty one when there is no ignore file). */
export function loadDockerignore(contextDir: string, dockerfilePath?: string): IgnoreMatcher {
  const file = findDockerignore(contextDir, dockerfilePath);
  if (!file) return new IgnoreMatcher([]);
  return new IgnoreMatcher(readDockerignore(fs.readFileSync(file, 'utf8')), path.basename(file));
}
