/**
 * Go templates as docker's --format takes them, for scripts written for
 * docker: a tokenizer, a parser and an evaluator for the subset scripts use.
 *
 *   {{.Field}} {{.A.B}} {{.}} {{$}} {{$v}}      fields, dot, variables
 *   {{json .}} {{index .Labels "k"}} {{join .Names ","}} {{lower .X}} {{upper .X}}
 *   {{printf "%s:%d" .A .B}} {{len .X}} {{split .X ","}} {{title .X}}
 *   {{pad .X 1 1}} {{truncate .X 12}} {{print ...}} {{println ...}}
 *   {{eq .A "x"}} ne lt le gt ge and or not       comparisons and logic
 *   {{.X | lower}} {{(index .M "k").Y}}           pipelines and parentheses
 *   {{if .X}}..{{else if .Y}}..{{else}}..{{end}}
 *   {{range .X}}..{{else}}..{{end}} {{range $i, $e := .X}}..{{end}}
 *   {{with .X}}..{{end}} {{$v := .X}} {{/* comment *\/}} {{- trims -}}
 *
 * Values print as Go's fmt %v does ([a b], map[k:v], <nil>). A field that
 * does not exist is an error naming it and listing the fields there are.
 */
import { UsageError } from '../errors';

// ---------------------------------------------------------------- tokens

type Tok =
  | { t: 'field'; names: string[] } // .A.B (names empty: ".")
  | { t: 'var'; name: string; names: string[] } // $x.A
  | { t: 'ident'; name: string }
  | { t: 'string'; value: string }
  | { t: 'number'; value: number }
  | { t: 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma' }
  | { t: 'chain'; names: string[] }; // .A.B right after a ")"

type Piece = { kind: 'text'; text: string } | { kind: 'action'; toks: Tok[]; src: string; pos: number };

class TemplateSyntaxError extends Error {}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const fieldChain = (): string[] => {
    const names: string[] = [];
    while (src[i] === '.') {
      const m = IDENT.exec(src.slice(i + 1));
      if (!m) break;
      names.push(m[0]);
      i += 1 + m[0].length;
    }
    return names;
  };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '.') {
      if (/[0-9]/.test(src[i + 1] ?? '')) {
        const m = /^\.[0-9]+/.exec(src.slice(i))!;
        toks.push({ t: 'number', value: Number(m[0]) });
        i += m[0].length;
        continue;
      }
      const names = fieldChain();
      if (!names.length) i++;
      toks.push({ t: 'field', names });
    } else if (c === '$') {
      const m = /^[A-Za-z0-9_]*/.exec(src.slice(i + 1))!;
      i += 1 + m[0].length;
      toks.push({ t: 'var', name: `$${m[0]}`, names: fieldChain() });
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateSyntaxError('unterminated quoted string');
      try {
        toks.push({ t: 'string', value: JSON.parse(src.slice(i, j + 1)) as string });
      } catch {
        throw new TemplateSyntaxError(`bad quoted string ${src.slice(i, j + 1)}`);
      }
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateSyntaxError('unterminated raw quoted string');
      toks.push({ t: 'string', value: src.slice(i + 1, j) });
      i = j + 1;
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)/.exec(src.slice(i));
      if (!m || !m[0] || Number.isNaN(Number(m[0]))) throw new TemplateSyntaxError(`bad number at "${src.slice(i, i + 10)}"`);
      toks.push({ t: 'number', value: Number(m[0]) });
      i += m[0].length;
    } else if (c === '|') {
      toks.push({ t: 'pipe' });
      i++;
    } else if (c === '(') {
      toks.push({ t: 'lparen' });
      i++;
    } else if (c === ')') {
      toks.push({ t: 'rparen' });
      i++;
      const names = src[i] === '.' ? fieldChain() : [];
      if (names.length) toks.push({ t: 'chain', names });
    } else if (c === ':' && src[i + 1] === '=') {
      toks.push({ t: 'declare' });
      i += 2;
    } else if (c === '=') {
      toks.push({ t: 'assign' });
      i++;
    } else if (c === ',') {
      toks.push({ t: 'comma' });
      i++;
    } else {
      const m = IDENT.exec(src.slice(i));
      if (!m) throw new TemplateSyntaxError(`unexpected "${c}"`);
      toks.push({ t: 'ident', name: m[0] });
      i += m[0].length;
    }
  }
  return toks;
}

/** Splits the template into text and actions, applying {{- and -}} trimming and dropping comments. */
function lex(src: string): Piece[] {
  const pieces: Piece[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      pieces.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) pieces.push({ kind: 'text', text });
    let close: number;
    if (src.slice(start).trimStart().startsWith('/*')) {
      const end = src.indexOf('*/', start);
      if (end < 0) throw new TemplateSyntaxError('unclosed comment');
      close = src.indexOf('}}', end);
    } else {
      // A "}}" inside a quoted string does not close the action.
      close = -1;
      for (let j = start; j < src.length; j++) {
        if (src[j] === '"') {
          j++;
          while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
        } else if (src[j] === '`') {
          j = src.indexOf('`', j + 1);
          if (j < 0) break;
        } else if (src.startsWith('}}', j)) {
          close = j;
          break;
        }
      }
    }
    if (close < 0) throw new TemplateSyntaxError('unclosed action: a "{{" without its "}}"');
    let body = src.slice(start, close);
    let next = close + 2;
    if (body.endsWith('-') && /\s/.test(body[body.length - 2] ?? '')) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    if (!body.trim().startsWith('/*')) pieces.push({ kind: 'action', toks: lexAction(body), src: `{{${src.slice(open + 2, close)}}}`, pos: open });
    i = next;
  }
  return pieces;
}

// ---------------------------------------------------------------- syntax tree

type Arg =
  | { k: 'field'; names: string[] }
  | { k: 'var'; name: string; names: string[] }
  | { k: 'ident'; name: string }
  | { k: 'lit'; value: unknown }
  | { k: 'pipe'; pipe: Pipeline; names: string[] };

interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Arg[][];
  src: string;
}

type Node =
  | { n: 'text'; text: string }
  | { n: 'action'; pipe: Pipeline }
  | { n: 'if' | 'with'; pipe: Pipeline; body: Node[]; orElse: Node[] }
  | { n: 'range'; pipe: Pipeline; body: Node[]; orElse: Node[] };

class Parser {
  private i = 0;
  constructor(private readonly pieces: Piece[]) {}

  parse(): Node[] {
    const { nodes, end } = this.list();
    if (end) throw new TemplateSyntaxError(`unexpected ${end.src}`);
    return nodes;
  }

  /** Nodes up to an {{else...}} or {{end}} (returned as `end`), or the end of the template. */
  private list(): { nodes: Node[]; end?: { word: 'else' | 'end'; rest: Tok[]; src: string } } {
    const nodes: Node[] = [];
    while (this.i < this.pieces.length) {
      const p = this.pieces[this.i++];
      if (p.kind === 'text') {
        nodes.push({ n: 'text', text: p.text });
        continue;
      }
      const first = p.toks[0];
      const word = first?.t === 'ident' ? first.name : '';
      if (word === 'end' || word === 'else') return { nodes, end: { word, rest: p.toks.slice(1), src: p.src } };
      if (word === 'if' || word === 'with' || word === 'range') nodes.push(this.block(word, p.toks.slice(1), p.src));
      else if (word === 'template' || word === 'define' || word === 'block' || word === 'break' || word === 'continue')
        throw new TemplateSyntaxError(`{{${word}}} is not supported by nook`);
      else nodes.push({ n: 'action', pipe: pipeline(p.toks, p.src) });
    }
    return { nodes };
  }

  private block(word: 'if' | 'with' | 'range', toks: Tok[], src: string): Node {
    if (!toks.length) throw new TemplateSyntaxError(`missing value for ${word} in ${src}`);
    const pipe = pipeline(toks, src);
    const { nodes: body, end } = this.list();
    if (!end) throw new TemplateSyntaxError(`${src} has no {{end}}`);
    let orElse: Node[] = [];
    if (end.word === 'else') {
      const chained = end.rest[0]?.t === 'ident' && (end.rest[0].name === 'if' || end.rest[0].name === 'with') ? end.rest[0].name : undefined;
      if (chained) {
        // {{else if X}} ... {{end}}: an if inside the else, sharing the end.
        orElse = [this.block(chained, end.rest.slice(1), end.src)];
      } else {
        if (end.rest.length) throw new TemplateSyntaxError(`unexpected ${end.src}`);
        const tail = this.list();
        if (!tail.end || tail.end.word !== 'end') throw new TemplateSyntaxError(`${src} has no {{end}}`);
        orElse = tail.nodes;
      }
    } else if (end.rest.length) throw new TemplateSyntaxError(`unexpected ${end.src}`);
    return { n: word, pipe, body, orElse };
  }
}

function pipeline(toks: Tok[], src: string): Pipeline {
  let i = 0;
  const decl: string[] = [];
  let assign = false;
  // $x := ..., $i, $e := ... (range), $x = ...
  const declEnd = toks.findIndex((t) => t.t === 'declare' || t.t === 'assign');
  if (declEnd > 0 && toks.slice(0, declEnd).every((t, j) => (j % 2 === 0 ? t.t === 'var' && !t.names.length : t.t === 'comma'))) {
    for (let j = 0; j < declEnd; j += 2) decl.push((toks[j] as { name: string }).name);
    assign = toks[declEnd].t === 'assign';
    i = declEnd + 1;
  }
  const parsePipe = (stopAtParen: boolean): Arg[][] => {
    const cmds: Arg[][] = [[]];
    while (i < toks.length) {
      const t = toks[i++];
      const cmd = cmds[cmds.length - 1];
      switch (t.t) {
        case 'pipe':
          if (!cmd.length) throw new TemplateSyntaxError(`missing command before "|" in ${src}`);
          cmds.push([]);
          break;
        case 'rparen':
          if (!stopAtParen) throw new TemplateSyntaxError(`unexpected ")" in ${src}`);
          if (!cmd.length) throw new TemplateSyntaxError(`empty command in ${src}`);
          return cmds;
        case 'lparen': {
          const inner = parsePipe(true);
          const chain = toks[i]?.t === 'chain' ? (toks[i++] as { names: string[] }).names : [];
          cmd.push({ k: 'pipe', pipe: { decl: [], assign: false, cmds: inner, src }, names: chain });
          break;
        }
        case 'field':
          cmd.push({ k: 'field', names: t.names });
          break;
        case 'chain':
          cmd.push({ k: 'field', names: t.names });
          break;
        case 'var':
          cmd.push({ k: 'var', name: t.name, names: t.names });
          break;
        case 'string':
        case 'number':
          cmd.push({ k: 'lit', value: t.value });
          break;
        case 'ident':
          if (t.name === 'true' || t.name === 'false') cmd.push({ k: 'lit', value: t.name === 'true' });
          else if (t.name === 'nil') cmd.push({ k: 'lit', value: null });
          else cmd.push({ k: 'ident', name: t.name });
          break;
        default:
          throw new TemplateSyntaxError(`unexpected "${t.t === 'comma' ? ',' : t.t === 'declare' ? ':=' : '='}" in ${src}`);
      }
    }
    if (stopAtParen) throw new TemplateSyntaxError(`unclosed "(" in ${src}`);
    if (!cmds[cmds.length - 1].length) throw new TemplateSyntaxError(`missing command in ${src}`);
    return cmds;
  };
  const cmds = parsePipe(false);
  return { decl, assign, cmds, src };
}

// ---------------------------------------------------------------- values

/** The header row of a `table` format: each field is its column's title. */
class HeaderRow {
  constructor(readonly headers: Record<string, string>) {}
  title(field: string): string {
    return this.headers[field] ?? field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
  }
}

export function headerContext(headers: Record<string, string>): unknown {
  return new HeaderRow(headers);
}

type Fn = (...args: unknown[]) => unknown;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'map';
  return typeof v;
}

/** Go's fmt %v. */
export function show(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (v instanceof HeaderRow) return '';
  if (isObject(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${show(v[k])}`).join(' ')}]`;
  return String(v);
}

/** Go's truth: false, 0, nil, "" and empty lists and maps are false. */
function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v) && !(v instanceof HeaderRow)) return Object.keys(v).length > 0;
  return true;
}

function str(v: unknown, fn: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateRunError(`${fn} wants a string, not a ${kind(v)}`);
}

function num(v: unknown, fn: string): number {
  if (typeof v === 'number') return v;
  throw new TemplateRunError(`${fn} wants a number, not a ${kind(v)}`);
}

class TemplateRunError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Go's fmt verbs that scripts use: %s %v %d %q %x %f %t %%, with a width and "-". */
function sprintf(format: string, args: unknown[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqxXfgt%])/g, (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    switch (verb) {
      case 'd':
        s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${kind(a)}=${show(a)})`;
        break;
      case 'q':
        s = JSON.stringify(typeof a === 'string' ? a : show(a));
        break;
      case 'x':
      case 'X':
        s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(show(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 'f':
      case 'g':
        s = typeof a === 'number' ? (verb === 'f' ? a.toFixed(prec === undefined ? 6 : Number(prec)) : String(a)) : `%!${verb}(${kind(a)}=${show(a)})`;
        break;
      case 's':
        s = show(a);
        if (prec !== undefined) s = s.slice(0, Number(prec));
        break;
      default:
        s = show(a);
    }
    const w = Number(width || 0);
    if (s.length < w) s = flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
    return s;
  }) + (n < args.length ? `%!(EXTRA ${args.slice(n).map(show).join(', ')})` : '');
}

function compare(a: unknown, b: unknown, fn: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateRunError(`${fn}: cannot compare a ${kind(a)} with a ${kind(b)}`);
}

function equal(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if ((typeof a === 'object' && a !== null) || (typeof b === 'object' && b !== null)) throw new TemplateRunError('eq: cannot compare lists or maps');
  return a === b;
}

const FUNCTIONS: Record<string, Fn> = {
  json: (v) => (v instanceof HeaderRow ? '' : JSON.stringify(v ?? null)),
  join: (list, sep) => {
    if (typeof list === 'string') return list;
    if (!Array.isArray(list)) throw new TemplateRunError(`join wants a list, not a ${kind(list)}`);
    return list.map(show).join(str(sep, 'join'));
  },
  split: (s, sep) => str(s, 'split').split(str(sep, 'split')),
  lower: (s) => str(s, 'lower').toLowerCase(),
  upper: (s) => str(s, 'upper').toUpperCase(),
  title: (s) => str(s, 'title').replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
  pad: (s, left, right) => `${' '.repeat(num(left, 'pad'))}${show(s)}${' '.repeat(num(right, 'pad'))}`,
  truncate: (s, n) => [...str(s, 'truncate')].slice(0, num(n, 'truncate')).join(''),
  index: (v, ...keys) => {
    let cur = v;
    for (const k of keys) {
      if (Array.isArray(cur) || typeof cur === 'string') {
        const i = num(k, 'index');
        if (i < 0 || i >= cur.length) throw new TemplateRunError(`index out of range: ${i}`);
        cur = Array.isArray(cur) ? cur[i] : cur.charCodeAt(i);
      } else if (isObject(cur)) {
        const key = str(k, 'index');
        // A missing key gives the map's zero value: "" in a map of strings, as docker's Labels.
        cur = Object.hasOwn(cur, key) ? cur[key] : Object.values(cur).every((x) => typeof x === 'string') ? '' : undefined;
      } else if (cur === null || cur === undefined) {
        cur = undefined; // a nil map: its zero value, as Go's index gives
      } else throw new TemplateRunError(`cannot index a ${kind(cur)}`);
    }
    return cur;
  },
  len: (v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isObject(v)) return Object.keys(v).length;
    throw new TemplateRunError(`len of a ${kind(v)}`);
  },
  slice: (v, ...idx) => {
    if (typeof v !== 'string' && !Array.isArray(v)) throw new TemplateRunError(`cannot slice a ${kind(v)}`);
    const [a, b] = idx.map((x) => num(x, 'slice'));
    return v.slice(a ?? 0, b ?? v.length);
  },
  print: (...a) => a.map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + show(x)).join(''),
  println: (...a) => `${a.map(show).join(' ')}\n`,
  printf: (f, ...a) => sprintf(str(f, 'printf'), a),
  not: (v) => !truthy(v),
  and: (...a) => a.find((v) => !truthy(v)) ?? a[a.length - 1],
  or: (...a) => a.find((v) => truthy(v)) ?? a[a.length - 1],
  eq: (a, ...bs) => {
    if (!bs.length) throw new TemplateRunError('eq needs at least two values');
    return bs.some((b) => equal(a, b));
  },
  ne: (a, b) => !equal(a, b),
  lt: (a, b) => compare(a, b, 'lt') < 0,
  le: (a, b) => compare(a, b, 'le') <= 0,
  gt: (a, b) => compare(a, b, 'gt') > 0,
  ge: (a, b) => compare(a, b, 'ge') >= 0,
};

// ---------------------------------------------------------------- evaluation

type Scope = Map<string, unknown>[];

function lookup(scope: Scope, name: string): unknown {
  for (let i = scope.length - 1; i >= 0; i--) if (scope[i].has(name)) return scope[i].get(name);
  throw new TemplateRunError(`undefined variable ${name}`);
}

class Evaluator {
  private out = '';
  constructor(private readonly root: unknown) {}

  run(nodes: Node[]): string {
    this.nodes(nodes, this.root, [new Map([['$', this.root]])]);
    return this.out;
  }

  private nodes(nodes: Node[], dot: unknown, scope: Scope): void {
    for (const node of nodes) {
      switch (node.n) {
        case 'text':
          this.out += node.text;
          break;
        case 'action': {
          const v = this.pipe(node.pipe, dot, scope);
          if (!node.pipe.decl.length) this.out += show(v);
          break;
        }
        case 'if':
        case 'with': {
          const inner: Scope = [...scope, new Map()];
          const v = this.pipe(node.pipe, dot, inner);
          if (truthy(v)) this.nodes(node.body, node.n === 'with' ? v : dot, inner);
          else this.nodes(node.orElse, dot, scope);
          break;
        }
        case 'range': {
          const inner: Scope = [...scope, new Map()];
          const v = this.pipe({ ...node.pipe, decl: [] }, dot, inner);
          const entries: [unknown, unknown][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : isObject(v) && !(v instanceof HeaderRow)
              ? Object.keys(v).sort().map((k) => [k, v[k]])
              : typeof v === 'number' && Number.isInteger(v)
                ? Array.from({ length: Math.max(0, v) }, (_, i) => [i, i])
                : v === null || v === undefined
                  ? []
                  : (() => {
                      throw new TemplateRunError(`range can't iterate over ${show(v)}`);
                    })();
          if (!entries.length) this.nodes(node.orElse, dot, scope);
          for (const [k, x] of entries) {
            const vars = new Map<string, unknown>();
            const d = node.pipe.decl;
            if (d.length === 1) vars.set(d[0], x);
            else if (d.length === 2) {
              vars.set(d[0], k);
              vars.set(d[1], x);
            }
            this.nodes(node.body, x, [...inner, vars]);
          }
          break;
        }
      }
    }
  }

  private pipe(p: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    let piped = false;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, scope, piped ? [value] : []);
      piped = true;
    }
    if (p.decl.length) {
      if (p.assign) {
        const name = p.decl[0];
        const holder = [...scope].reverse().find((m) => m.has(name));
        if (!holder) throw new TemplateRunError(`undefined variable ${name}`);
        holder.set(name, value);
      } else scope[scope.length - 1].set(p.decl[0], value);
    }
    return value;
  }

  private command(cmd: Arg[], dot: unknown, scope: Scope, piped: unknown[]): unknown {
    const [head, ...rest] = cmd;
    const args = () => [...rest.map((a) => this.arg(a, dot, scope)), ...piped];
    if (head.k === 'ident') {
      const fn = FUNCTIONS[head.name];
      if (!fn) throw new TemplateRunError(`function "${head.name}" not defined`, `the functions: ${Object.keys(FUNCTIONS).join(', ')}`);
      return fn(...args());
    }
    // A field whose value is a function is a method: docker's {{.Label "key"}}.
    if (head.k === 'field' && head.names.length) {
      const v = this.fieldOf(dot, head.names);
      if (typeof v === 'function') return (v as Fn)(...args());
      if (rest.length || piped.length) {
        if (dot instanceof HeaderRow) return v;
        throw new TemplateRunError(`.${head.names.join('.')} is not a method but has arguments`);
      }
      return v;
    }
    if (rest.length || piped.length) throw new TemplateRunError(`can't give an argument to a non-function ${show(this.arg(head, dot, scope))}`);
    return this.arg(head, dot, scope);
  }

  private arg(a: Arg, dot: unknown, scope: Scope): unknown {
    switch (a.k) {
      case 'lit':
        return a.value;
      case 'field':
        return this.fieldOf(dot, a.names, true);
      case 'var':
        return this.fieldOf(lookup(scope, a.name), a.names, true, a.name);
      case 'pipe':
        return this.fieldOf(this.pipe(a.pipe, dot, scope), a.names, true);
      case 'ident': {
        if (!FUNCTIONS[a.name]) throw new TemplateRunError(`function "${a.name}" not defined`, `the functions: ${Object.keys(FUNCTIONS).join(', ')}`);
        return FUNCTIONS[a.name]();
      }
    }
  }

  /** `.A.B` of `v`; a method (function) at the end is called without arguments when `call`. */
  private fieldOf(v: unknown, names: string[], call = false, base = ''): unknown {
    let cur = v;
    let path = base;
    for (const name of names) {
      if (cur instanceof HeaderRow) return cur.title(name);
      if (typeof cur === 'function') cur = (cur as Fn)();
      const here = path || '.';
      path += `.${name}`;
      if (isObject(cur) && Object.hasOwn(cur, name)) {
        cur = cur[name];
        continue;
      }
      if (isObject(cur)) {
        const keys = Object.keys(cur);
        throw new TemplateRunError(`no field "${name}" in ${here === '.' ? 'the data' : here}`, keys.length ? `${here === '.' ? 'the fields are' : `the fields of ${here} are`}: ${keys.join(', ')}` : undefined);
      }
      throw new TemplateRunError(`cannot read field "${name}" of ${here === '.' ? 'the data' : here}, which is ${cur === null || cur === undefined ? 'nil' : `a ${kind(cur)}, not a map`}`);
    }
    return call && typeof cur === 'function' ? (cur as Fn)() : cur;
  }
}

export interface Template {
  render(data: unknown): string;
}

/** Parses `text`; errors (a UsageError naming `flag`) come now for syntax, at render for unknown fields. */
export function compileTemplate(text: string, flag = '--format'): Template {
  let nodes: Node[];
  try {
    nodes = new Parser(lex(text)).parse();
  } catch (e) {
    if (!(e instanceof TemplateSyntaxError)) throw e;
    throw new UsageError(`invalid template in ${flag}: ${e.message}`, `${flag} takes a Go template as docker does, e.g. ${flag} '{{.ID}}' or ${flag} '{{json .}}'`);
  }
  return {
    render(data: unknown): string {
      try {
        return new Evaluator(data).run(nodes);
      } catch (e) {
        if (!(e instanceof TemplateRunError)) throw e;
        throw new UsageError(`template ${flag} '${text}': ${e.message}`, e.hint);
      }
    },
  };
}
