/**
 * Here-documents in RUN, COPY and ADD (Dockerfile syntax 1.4): which words of
 * an instruction line open one (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), and
 * the body rules. Follows BuildKit's parser (heredocsFromLine, ParseHeredoc).
 */

export interface HeredocMarker {
  name: string;
  chomp: boolean;
  expand: boolean;
  fd: number;
}

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/** The words of a line as the shell would split them, quotes and escapes kept as written. */
export function rawShellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      word += ch;
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    word += ch;
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '\\' && i + 1 < line.length) word += line[++i];
  }
  if (inWord) words.push(word);
  return words;
}

/** Removes shell quoting from a word that holds no whitespace: 'a'"b"\c → abc. */
function unquote(word: string): { text: string; quoted: boolean } {
  let text = '';
  let quoted = false;
  let quote = '';
  for (let i = 0; i < word.length; i++) {
    const ch = word[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && /["$\\]/.test(word[i + 1] ?? '')) text += word[++i];
      else text += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      quoted = true;
    } else if (ch === '\\') {
      quoted = true;
      if (i + 1 < word.length) text += word[++i];
    } else text += ch;
  }
  return { text, quoted };
}

/** The heredoc a single word opens, if it does. */
export function heredocMarker(word: string): HeredocMarker | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3] === '') return undefined;
  const { text, quoted } = unquote(m[3]);
  if (text === '' || /\s/.test(text)) return undefined;
  return { name: text, chomp: m[2] === '-', expand: !quoted, fd: m[1] === '' ? 0 : Number(m[1]) };
}

/** Every heredoc a line opens, in order. */
export function heredocMarkers(line: string): HeredocMarker[] {
  if (!line.includes('<<')) return [];
  return rawShellWords(line)
    .map(heredocMarker)
    .filter((h): h is HeredocMarker => h !== undefined);
}

/** The body as it is used: `<<-` strips leading tabs from every line (not spaces), as the shell does. */
export function heredocBody(h: { content: string; chomp: boolean }): string {
  return h.chomp ? h.content.replace(/^\t+/gm, '') : h.content;
}
