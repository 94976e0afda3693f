/**
 * The word-level lexing Docker's parser does before any substitution
 * (ports of moby/buildkit frontend/dockerfile/parser: extractBuilderFlags,
 * parseWords, parseJSON), kept apart so each rule has one place.
 */

const isSpace = (ch: string) => /\s/u.test(ch);

/**
 * Splits the leading `--flag[=value]` words off an instruction's arguments.
 * Quotes and escapes inside a flag are resolved (`--chown="a b"`); the
 * first word not starting with `--` (or a lone `--`) ends the flags.
 */
export function extractFlags(line: string, escape = '\\'): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && isSpace(line[pos])) pos++;
    if (pos >= line.length) return { flags, rest: '' };
    if (!line.startsWith('--', pos)) return { flags, rest: line.slice(pos) };
    let word = '';
    let quote = '';
    let quoted = false;
    for (; pos < line.length; pos++) {
      const ch = line[pos];
      if (quote) {
        if (ch === quote) quote = '';
        else if (ch === escape && pos + 1 < line.length) word += line[++pos];
        else if (ch !== escape) word += ch;
        continue;
      }
      if (isSpace(ch)) break;
      if (ch === '"' || ch === "'") {
        quote = ch;
        quoted = true;
      } else if (ch === escape) {
        if (pos + 1 < line.length) word += line[++pos];
      } else word += ch;
    }
    if (word === '--') return { flags, rest: line.slice(pos).trimStart() };
    if (quoted || word.length > 0) flags.push(word);
  }
}

/**
 * Splits ENV, LABEL and ARG arguments into words at unquoted whitespace,
 * keeping quotes and escapes in the words (substitution removes them later,
 * as docker does: `ENV A="a b"` is one word `A="a b"`).
 */
export function splitWordsKeepingQuotes(rest: string, escape: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let word = '';
  let inWord = false;
  let blankOk = false;
  let quote = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (i + 1 === chars.length) continue;
        word += ch;
        word += chars[++i];
        continue;
      }
      word += ch;
      continue;
    }
    if (isSpace(ch)) {
      if (inWord && (blankOk || word.length > 0)) words.push(word);
      inWord = false;
      word = '';
      blankOk = false;
      continue;
    }
    inWord = true;
    if (ch === '"' || ch === "'") {
      quote = ch;
      blankOk = true;
      word += ch;
    } else if (ch === escape) {
      if (i + 1 === chars.length) continue;
      word += ch + chars[++i];
    } else word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** Splits at runs of whitespace, no quoting (FROM, EXPOSE, COPY/ADD/VOLUME shell form). */
export function splitWhitespace(rest: string): string[] {
  const t = rest.trim();
  return t === '' ? [] : t.split(/[\t\v\f\r ]+/);
}

/**
 * The exec (JSON) form: a JSON array of strings. Anything that is not a JSON
 * array is the shell form (returns undefined), as docker decides; a JSON array
 * with a non-string in it is an error (returns the message).
 */
export function parseJsonForm(rest: string): string[] | undefined | { error: string } {
  const t = rest.trimStart();
  if (!t.startsWith('[')) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(doc)) return undefined;
  if (!doc.every((s) => typeof s === 'string'))
    return { error: 'when using JSON array syntax, arrays must be comprised of strings only' };
  return doc as string[];
}
