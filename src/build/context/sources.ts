/**
 * The build context as COPY and ADD see it: a sorted walk that leaves out
 * what .dockerignore excludes, the resolution of COPY sources (globs with Go
 * filepath.Match, directories copied as their contents, `..` and absolute
 * paths kept inside the context, symlinks in a source path resolved inside
 * the context), and the content checksum of a COPY's sources for the cache
 * key (mtime ignored).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { NookError } from '../../errors';
import type { ModeChange } from '../chmod';
import { cleanPath, IgnoreMatcher } from './dockerignore';
import { goPatternRegex } from './gomatch';

export interface ContextEntry {
  /** Relative to the context root, `/`-separated, no leading `./` (`.` for the root itself). */
  path: string;
  stat: fs.Stats;
}

const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every entry under `dir` (relative to the context root; `.` for all of
 * it), depth first, each directory's entries sorted by name, the excluded
 * ones left out. An excluded directory is still entered when some `!`
 * exception could bring back something inside it.
 */
export function* walkContext(root: string, ignore: IgnoreMatcher, dir = '.'): Generator<ContextEntry> {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(root, dir));
  } catch (e) {
    throw new NookError(`cannot read ${path.join(root, dir)} in the build context`, { cause: e, hint: 'check the permissions of the build context' });
  }
  names.sort(byPath);
  for (const name of names) {
    const rel = dir === '.' ? name : `${dir}/${name}`;
    const stat = fs.lstatSync(path.join(root, rel));
    const excluded = ignore.excludes(rel);
    if (!excluded) yield { path: rel, stat };
    if (stat.isDirectory() && (!excluded || ignore.hasExceptions)) yield* walkContext(root, ignore, rel);
  }
}

const hasGlob = (s: string) => /[*?[\\]/.test(s);

/**
 * Resolves a path inside the context root the way a chroot would: `..`
 * stops at the root, absolute symlink targets start at the root. Returns
 * the relative path of what it names (the last component followed too when
 * `followLast`), or undefined when something on the way does not exist.
 */
export function resolveInContext(root: string, rel: string, followLast = true): string | undefined {
  const todo = cleanPath('/' + rel).split('/').filter(Boolean);
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = [...done, part].join('/');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path.join(root, candidate));
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink() && (todo.length > 0 || followLast)) {
      if (++hops > 40) return undefined;
      const target = fs.readlinkSync(path.join(root, candidate));
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return done.length === 0 ? '.' : done.join('/');
}

export interface ResolvedSource {
  /** The source as written in the instruction. */
  source: string;
  /** What it resolved to, relative to the context root. */
  path: string;
  stat: fs.Stats;
  /**
   * What is copied, with paths relative to the destination: a file is
   * itself (its base name); a directory is its contents (not itself), as
   * docker copies it.
   */
  entries: { rel: string; entry: ContextEntry }[];
}

/** ADD sources that are not in the context: http(s) URLs and git repositories. */
export function isRemoteSource(source: string): boolean {
  return /^(https?:\/\/|git@|git:\/\/|ssh:\/\/)/i.test(source);
}

export interface ResolveOptions {
  /** For messages: COPY or ADD. */
  kind?: 'COPY' | 'ADD';
  /** `--parents`: keep each file's path from the context root (or from a `/./` pivot in the source) under the destination. */
  parents?: boolean;
  /** `--exclude` patterns (.dockerignore syntax), matched against the paths as they land under the destination. */
  exclude?: string[];
}

/**
 * The files a COPY/ADD takes from the context for each source. A missing
 * or excluded source is an error, as docker says it; a glob that matches
 * nothing gives nothing (BuildKit allows empty wildcards). Remote ADD
 * sources (isRemoteSource) are not for this function.
 */
export function resolveCopySources(root: string, sources: string[], ignore: IgnoreMatcher, opts: ResolveOptions = {}): ResolvedSource[] {
  const kind = opts.kind ?? 'COPY';
  const exclude = opts.exclude?.length ? new IgnoreMatcher(opts.exclude, `${kind} --exclude`) : undefined;
  const out: ResolvedSource[] = [];
  let all: ContextEntry[] | undefined;
  const add = (source: string, rel: string, stat: fs.Stats) => {
    const r = expand(root, ignore, source, rel, stat);
    if (opts.parents) {
      // keep the path from the context root, or from the /./ pivot
      const pivot = source.indexOf('/./');
      const base = pivot < 0 ? '' : cleanPath('/' + source.slice(0, pivot)).slice(1);
      const from = (p: string) => (base && p.startsWith(base + '/') ? p.slice(base.length + 1) : p);
      r.entries = r.entries.map(({ entry }) => ({ rel: from(entry.path), entry }));
      if (stat.isDirectory() && rel !== '.' && rel !== base) r.entries.unshift({ rel: from(rel), entry: { path: rel, stat } });
    }
    if (exclude) r.entries = r.entries.filter((e) => !exclude.excludes(e.rel));
    out.push(r);
  };
  for (const source of sources) {
    const rel = cleanPath('/' + source).slice(1) || '.';
    if (hasGlob(rel)) {
      all ??= [...walkContext(root, ignore)];
      const re = globRegex(rel, source, kind);
      for (const entry of all) if (re.test(entry.path)) add(source, entry.path, entry.stat);
      continue;
    }
    const notFound = () =>
      new NookError(`${kind} failed: file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`, {
        hint: `check that ${source} exists under the build context and that no .dockerignore pattern excludes it`,
      });
    const resolved = resolveInContext(root, rel);
    if (resolved === undefined) throw notFound();
    const stat = fs.statSync(path.join(root, resolved));
    // An excluded directory still counts when `!` exceptions bring back something inside it, as the context BuildKit receives holds it.
    const excluded = (p: string) => p !== '.' && ignore.excludes(p) && !(stat.isDirectory() && ignore.hasExceptions && !walkContext(root, ignore, resolved).next().done);
    if (excluded(rel) || excluded(resolved)) throw notFound();
    add(source, resolved, stat);
  }
  return out;
}

function expand(root: string, ignore: IgnoreMatcher, source: string, rel: string, stat: fs.Stats): ResolvedSource {
  if (!stat.isDirectory())
    return { source, path: rel, stat, entries: [{ rel: path.posix.basename(rel), entry: { path: rel, stat } }] };
  const prefix = rel === '.' ? '' : rel + '/';
  const entries = [...walkContext(root, ignore, rel)].map((entry) => ({ rel: entry.path.slice(prefix.length), entry }));
  return { source, path: rel, stat, entries };
}

/** Go filepath.Match on whole relative paths (`*` does not cross `/`). */
function globRegex(pattern: string, source: string, kind: string): RegExp {
  try {
    return goPatternRegex(pattern);
  } catch {
    throw new NookError(`${kind} ${source}: syntax error in pattern`, { hint: 'sources use Go filepath.Match syntax: * ? [a-z] [^a-z] and \\ escapes' });
  }
}

export interface ChecksumOptions {
  /** Owner the files will have in the image (COPY writes 0:0 unless --chown). */
  uid: number;
  gid: number;
  /** --chmod: the permission bits each copied file and directory gets (see chmod.ts). */
  chmod?: ModeChange;
  /**
   * The sha256 (hex) of a file's content. Defaults to reading the file; the
   * engine may pass a memo keyed by (dev, ino, size, mtime, ctime) so a cached
   * rebuild does not read the whole context again.
   */
  fileDigest?: (file: string, stat: fs.Stats) => Promise<string>;
}

/**
 * The checksum of what a COPY/ADD takes from the context, for the cache key:
 * sha256 over each entry in order (its path relative to the destination,
 * type and mode as written, owner as written, size and content hash for
 * files, target for symlinks). Timestamps are not part of it, so touching a
 * file without changing it keeps the cache.
 */
export async function checksumSources(root: string, sources: ResolvedSource[], opts: ChecksumOptions): Promise<string> {
  const h = createHash('sha256');
  for (const src of sources) {
    h.update(`source ${src.source}\0`);
    const entries = [...src.entries].sort((a, b) => byPath(a.rel, b.rel));
    for (const { rel, entry } of entries) {
      const st = entry.stat;
      const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
      const perm = opts.chmod && type !== 'l' ? opts.chmod(st.mode, type === 'd') : st.mode & 0o7777;
      h.update(`${type} ${rel} ${perm.toString(8)} ${opts.uid}:${opts.gid}`);
      if (type === 'f') h.update(` ${st.size} ${await (opts.fileDigest ?? fileDigest)(path.join(root, entry.path), st)}`);
      if (type === 'l') h.update(` -> ${fs.readlinkSync(path.join(root, entry.path))}`);
      h.update('\0');
    }
  }
  return 'sha256:' + h.digest('hex');
}

/** sha256 (hex) of a file's content, streamed. */
export async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
