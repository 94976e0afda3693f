/**
 * Docker's variable substitution in Dockerfile instructions (a port of
 * BuildKit's frontend/dockerfile/shell lexer): `$V ${V} ${V:-w} ${V-w}
 * ${V:+w} ${V+w} ${V:?msg} ${V?msg} ${V#pat} ${V##pat} ${V%pat} ${V%%pat}
 * ${V/pat/repl} ${V//pat/repl}`, quotes removed, `\` (or the escape
 * directive's character) escaping. The builder applies it to ADD COPY ENV
 * EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR ARG (and ONBUILD not at
 * all); RUN, CMD and ENTRYPOINT are left to the shell.
 */
import { NookError } from '../errors';

export type Env = ReadonlyMap<string, string> | Record<string, string>;

export interface SubstituteOptions {
  /** The escape character (`\` or `` ` ``). */
  escape?: string;
  /** Keep quotes in the result (heredoc bodies: `echo "$A"` stays quoted). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Quotes are ordinary characters: kept, and no protection from expansion (heredoc bodies, as BuildKit's SkipProcessQuotes). */
  skipQuotes?: boolean;
}

class SubstitutionProblem extends Error {}

const lookup = (env: Env, name: string): string | undefined =>
  env instanceof Map ? env.get(name) : Object.prototype.hasOwnProperty.call(env, name) ? (env as Record<string, string>)[name] : undefined;

const isSpace = (ch: string) => /\s/u.test(ch);

/** Builds the words of a ProcessWords call: unquoted whitespace from the text or from variable values splits words. */
class Words {
  private word = '';
  private inWord = false;
  readonly words: string[] = [];
  addChar(ch: string) {
    if (isSpace(ch)) {
      if (this.inWord && this.word.length > 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else this.addRaw(ch);
  }
  addRaw(s: string) {
    this.word += s;
    this.inWord = true;
  }
  addString(s: string) {
    for (const ch of s) this.addChar(ch);
  }
  finish(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
    }
    return this.words;
  }
}

class Lexer {
  private pos = 0;
  private readonly chars: string[];

  constructor(
    source: string,
    private readonly env: Env,
    private readonly escape: string,
    private readonly rawQuotes: boolean,
    private readonly rawEscapes: boolean,
    private readonly skipQuotes: boolean,
  ) {
    this.chars = Array.from(source);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  /** Reads up to `stop` (consumed) or the end; returns the text and its words. */
  processUntil(stops: string[], rawEscapes = this.rawEscapes): { text: string; words: string[] } {
    let text = '';
    const words = new Words();
    while (this.peek() !== undefined) {
      const ch = this.peek()!;
      if (stops.includes(ch)) {
        return { text, words: words.finish() };
      }
      if (ch === '$' || (!this.skipQuotes && (ch === "'" || ch === '"'))) {
        const part = ch === "'" ? this.singleQuoted() : ch === '"' ? this.doubleQuoted() : this.dollar();
        text += part;
        if (ch === '$') words.addString(part);
        else words.addRaw(part);
        continue;
      }
      let c = this.next()!;
      if (c === this.escape) {
        if (rawEscapes) {
          words.addRaw(c);
          text += c;
        }
        const escaped = this.next();
        if (escaped === undefined) break;
        c = escaped;
        words.addRaw(c);
      } else words.addChar(c);
      text += c;
    }
    if (stops.length > 0) throw new SubstitutionProblem(`missing ${stops.map((s) => `'${s}'`).join(' or ')}`);
    return { text, words: words.finish() };
  }

  private singleQuoted(): string {
    let out = this.rawQuotes ? "'" : '';
    this.next();
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new SubstitutionProblem('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return out + (this.rawQuotes ? "'" : '');
      out += ch;
    }
  }

  private doubleQuoted(): string {
    let out = this.rawQuotes ? '"' : '';
    this.next();
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new SubstitutionProblem('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        return out + (this.rawQuotes ? '"' : '');
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      let c = this.next()!;
      if (c === this.escape) {
        if (this.rawEscapes) out += c;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escape) c = this.next()!;
      }
      out += c;
    }
  }

  private name(): string {
    let name = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) return name;
      if (name === '' && /\d/.test(ch)) {
        while (this.peek() !== undefined && /\d/.test(this.peek()!)) name += this.next();
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) return this.next()!;
      if (!/[\p{L}\p{Nd}_]/u.test(ch)) return name;
      name += this.next();
    }
  }

  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return lookup(this.env, name) ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new SubstitutionProblem("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new SubstitutionProblem('syntax error: bad substitution');
    const name = this.name();
    let op = this.next();
    if (op === undefined) throw new SubstitutionProblem("syntax error: missing '}'");
    const value = lookup(this.env, name);
    const set = value !== undefined;
    if (op === '}') return value ?? '';
    let nullIsUnset = false;
    let chs = op;
    if (op === ':') {
      nullIsUnset = true;
      op = this.next();
      chs += op ?? '';
    }
    if (op === '/') {
      if (nullIsUnset) throw new SubstitutionProblem(`unsupported modifier (${chs}) in substitution`);
      const all = this.peek() === '/';
      if (all) this.next();
      const pattern = this.processUntil(['/', '}'], true).text;
      const end = this.next();
      const replacement = end === '/' ? this.processUntil(['}'], true).text : '';
      if (end === '/') this.next();
      return replacePattern(value ?? '', pattern, replacement, all);
    }
    if (op === undefined || !'+-?#%'.includes(op) || (nullIsUnset && (op === '#' || op === '%')))
      throw new SubstitutionProblem(`unsupported modifier (${chs}) in substitution`);
    const word = this.processUntil(['}'], op === '#' || op === '%').text;
    this.next();
    const empty = !set || (nullIsUnset && value === '');
    switch (op) {
      case '-':
        return empty ? word : value!;
      case '+':
        return empty ? '' : word;
      case '?':
        if (!set) throw new SubstitutionProblem(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new SubstitutionProblem(`${name}: ${word || 'is not allowed to be empty'}`);
        return value!;
      default: {
        let pattern = word;
        const greedy = pattern.startsWith(op);
        if (greedy) pattern = pattern.slice(1);
        return op === '#' ? trimPrefix(value ?? '', pattern, greedy) : trimSuffix(value ?? '', pattern, greedy);
      }
    }
  }
}

/** A shell pattern (`*`, `?`, `[...]`, `\x`) as a regular expression source. */
function patternSource(pattern: string): string {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '[\\s\\S]*';
    else if (ch === '?') re += '[\\s\\S]';
    else if (ch === '\\' && i + 1 < pattern.length) re += escapeRegex(pattern[++i]);
    else if (ch === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, close);
        if (cls.startsWith('!') || cls.startsWith('^')) cls = '^' + cls.slice(1);
        re += '[' + cls.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else re += escapeRegex(ch);
  }
  return re;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function trimPrefix(value: string, pattern: string, greedy: boolean): string {
  const re = new RegExp(`^(?:${patternSource(pattern)})$`, 'u');
  const lengths = [...Array(value.length + 1).keys()];
  if (greedy) lengths.reverse();
  for (const n of lengths) if (re.test(value.slice(0, n))) return value.slice(n);
  return value;
}

function trimSuffix(value: string, pattern: string, greedy: boolean): string {
  const re = new RegExp(`^(?:${patternSource(pattern)})$`, 'u');
  const lengths = [...Array(value.length + 1).keys()];
  if (greedy) lengths.reverse();
  for (const n of lengths) if (re.test(value.slice(value.length - n))) return value.slice(0, value.length - n);
  return value;
}

function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  if (pattern === '') return value;
  const re = new RegExp(patternSource(pattern), all ? 'gu' : 'u');
  return value.replace(re, () => replacement);
}

function run<T>(source: string, what: (l: Lexer) => T, env: Env, opts: SubstituteOptions): T {
  const lexer = new Lexer(source, env, opts.escape ?? '\\', opts.rawQuotes ?? false, opts.rawEscapes ?? false, opts.skipQuotes ?? false);
  try {
    return what(lexer);
  } catch (e) {
    if (e instanceof SubstitutionProblem)
      throw new NookError(`failed to process ${JSON.stringify(source)}: ${e.message}`, {
        hint: 'check the quotes and ${...} expressions (docker supports $V ${V} ${V:-default} ${V:+alt} ${V#pat} ${V%pat} ${V/pat/repl})',
      });
    throw e;
  }
}

/** One word (ENV and LABEL values, paths, USER...): variables replaced, quotes and escapes removed, spaces kept. */
export function substituteWord(word: string, env: Env, opts: SubstituteOptions = {}): string {
  return run(word, (l) => l.processUntil([]).text, env, opts);
}

/** Several words (EXPOSE): like substituteWord, then split at unquoted whitespace, variable values included. */
export function substituteWords(text: string, env: Env, opts: SubstituteOptions = {}): string[] {
  return run(text, (l) => l.processUntil([]).words, env, opts);
}

/**
 * A heredoc body with expansion on (`COPY <<EOF` unquoted), as BuildKit
 * expands it: variables replaced even inside quotes, quotes kept, `\`
 * escaping the next character (`\$X` stays `$X`) whatever the escape directive.
 */
export function substituteHeredoc(body: string, env: Env): string {
  return substituteWord(body, env, { escape: '\\', skipQuotes: true });
}
