#!/usr/bin/env node
// Import boundaries, checked without a dependency: reads the import, export-from,
// require() and import() specifiers of every .ts file under src/ and ffi/,
// resolves the relative ones, and fails (exit 1) when
//   - a module outside src/cli/ imports one in src/cli/ (the CLI parses and
//     prints; the domain never depends on it), or
//   - modules import each other in a cycle (type-only imports are erased by the
//     compiler and don't count; lazy import() does).
// Usage: node build/lint-imports.mjs [--root DIR]   (DIR defaults to the repository)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Cycles that are known and being fixed elsewhere, each as its exact set of
 * files. Delete an entry when its cycle is gone (the linter then says so).
 */
/** Cycles accepted for now, each with why; the lint says when one is gone and its entry can go. */
const ALLOWED_CYCLES = [];

const SCANNED = ['src', 'ffi'];
const CLI = 'src/cli/';

function parseArgv(argv) {
  let root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root' && argv[i + 1]) root = path.resolve(argv[++i]);
    else if (argv[i].startsWith('--root=')) root = path.resolve(argv[i].slice(7));
    else {
      process.stderr.write(`lint-imports: unknown argument ${argv[i]}\nusage: node build/lint-imports.mjs [--root DIR]\n`);
      process.exit(2);
    }
  }
  return root;
}

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The source with comments replaced by spaces (strings and template literals kept, so `'//'` in a string survives). */
export function stripComments(src) {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      out += ' ';
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') j++;
        else if (c !== '`' && src[j] === '\n') break;
        j++;
      }
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Every module specifier in `src`: { spec, typeOnly, line }. */
export function specifiers(src) {
  const code = stripComments(src);
  const found = [];
  const add = (spec, typeOnly, index) => found.push({ spec, typeOnly, line: code.slice(0, index).split('\n').length });
  // import ... from 'x' / export ... from 'x' (statements start a line; `type` marks an erased import;
  // no = or ( in between, so that `export type T = ...` or `export function` never swallows the next import)
  const fromRe = /(^|[;\n])(\s*)(?:import|export)\s+(type\s+)?([^'"`;=()]*?)\s+from\s+(['"])([^'"]+)\5/g;
  for (const m of code.matchAll(fromRe)) {
    // `import { type A, type B } from` is erased too when every name is a type.
    const names = m[4].trim();
    const allTypes = /^\{\s*(type\s+[\w$]+(\s+as\s+[\w$]+)?\s*,?\s*)+\}$/.test(names);
    add(m[6], Boolean(m[3]) || allTypes, m.index + m[1].length + m[2].length);
  }
  // import 'x' (for its effects)
  for (const m of code.matchAll(/(^|[;\n])(\s*)import\s+(['"])([^'"]+)\3/g)) add(m[4], false, m.index + m[1].length + m[2].length);
  // require('x'), import x = require('x'), import('x')
  for (const m of code.matchAll(/\b(require|import)\s*\(\s*(['"])([^'"]+)\2\s*\)/g)) add(m[3], false, m.index);
  return found;
}

function resolve(fromFile, spec) {
  if (!spec.startsWith('.')) return undefined; // node:, packages
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Strongly connected components of the graph (Tarjan), each with more than one file or a self-import. */
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? new Set()).has(v)) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One concrete path around a cycle inside `scc`, for the message: a -> b -> a. */
function cyclePath(graph, scc) {
  const inside = new Set(scc);
  const start = scc[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const trail = [start];
        for (let x = v; x !== start; x = prev.get(x)) trail.splice(1, 0, x);
        return [...trail, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return scc;
}

/** Lints the tree at `root`; `allowedCycles` defaults to ALLOWED_CYCLES (tests give their own). */
export function lint(root, allowedCycles = ALLOWED_CYCLES) {
  const rel = (p) => path.relative(root, p).split(path.sep).join('/');
  const files = SCANNED.flatMap((d) => walk(path.join(root, d), [])).sort();
  const graph = new Map();
  const problems = [];
  for (const file of files) {
    const from = rel(file);
    const edges = new Set();
    graph.set(from, edges);
    for (const { spec, typeOnly, line } of specifiers(fs.readFileSync(file, 'utf8'))) {
      const target = resolve(file, spec);
      if (!target) {
        if (spec.startsWith('.')) problems.push(`${from}:${line}: imports "${spec}", which does not exist`);
        continue;
      }
      const to = rel(target);
      if (!from.startsWith(CLI) && to.startsWith(CLI))
        problems.push(`${from}:${line}: imports ${to}: only src/cli/ may import src/cli/ (move what both need out of the CLI, e.g. into src/container or src/util)`);
      if (!typeOnly) edges.add(to);
    }
  }
  const allowed = allowedCycles.map((c) => [...c].sort().join(' '));
  const seen = new Set();
  for (const scc of cycles(graph)) {
    const key = scc.join(' ');
    seen.add(key);
    if (allowed.includes(key)) continue;
    problems.push(`import cycle: ${cyclePath(graph, scc).join(' -> ')}${scc.length > 3 ? ` (${scc.length} files: ${scc.join(', ')})` : ''}`);
  }
  const stale = allowedCycles.filter((c) => !seen.has([...c].sort().join(' ')) && c.every((f) => graph.has(f)));
  for (const c of stale) problems.push(`build/lint-imports.mjs: the allowed cycle ${c.join(' <-> ')} is gone: delete its ALLOWED_CYCLES entry`);
  return { files: files.length, problems };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = parseArgv(process.argv.slice(2));
  const { files, problems } = lint(root);
  if (problems.length) {
    process.stderr.write(`lint-imports: ${problems.length} problem${problems.length > 1 ? 's' : ''} in ${files} files:\n${problems.map((p) => `  ${p}\n`).join('')}`);
    process.exit(1);
  }
  process.stdout.write(`lint-imports: ${files} files, no boundary violations, no cycles\n`);
}
