import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { substituteHeredoc, substituteWord, substituteWords } from '../../src/build/substitute';

// Cases from BuildKit's frontend/dockerfile/shell/envVarTest (env PWD=/home SHELL=bash NULL=).
const ENV = { PWD: '/home', SHELL: 'bash', NULL: '' };

describe('substitution: single words (BuildKit envVarTest)', () => {
  it.each([
    ['hello', 'hello'],
    ["he'll'o", 'hello'],
    ["he\\'llo", "he'llo"],
    ['abc\\tdef', 'abctdef'],
    ['"abc\\tdef"', 'abc\\tdef'],
    ['"abc\\\\tdef"', 'abc\\tdef'],
    ["'abc\\tdef'", 'abc\\tdef'],
    ['hello\\', 'hello'],
    ['hello\\\\', 'hello\\'],
    ['"hel\'lo"', "hel'lo"],
    ["'hello\\'", 'hello\\'],
    ["'hello\\there'", 'hello\\there'],
    ["'hello\\\\there'", 'hello\\\\there'],
    ['"\'\'"', "''"],
    ['$.', '$.'],
    ['he$1x', 'hex'],
    ['he$.x', 'he$.x'],
    ['he$pwd.', 'he.'],
    ['he$PWD', 'he/home'],
    ['he\\$PWD', 'he$PWD'],
    ['he\\\\$PWD', 'he\\/home'],
    ['"he\\$PWD"', 'he$PWD'],
    ['"he\\\\$PWD"', 'he\\/home'],
    ['\\${}', '${}'],
    ['\\${}aaa', '${}aaa'],
    ['he\\${}', 'he${}'],
    ['he\\${}xx', 'he${}xx'],
    ['he${hi}', 'he'],
    ['he${hi}xx', 'hexx'],
    ['he${PWD}', 'he/home'],
    ['he${XXX:-000}xx', 'he000xx'],
    ['he${PWD:-000}xx', 'he/homexx'],
    ['he${XXX:-$PWD}xx', 'he/homexx'],
    ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
    ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
    ['he${PWD?}', 'he/home'],
    ['he${PWD:?}', 'he/home'],
    ['he${NULL?}', 'he'],
    ['he${XXX:+${PWD}}xx', 'hexx'],
    ['he${PWD:+${XXX}}xx', 'hexx'],
    ['he${PWD:+${SHELL}}xx', 'hebashxx'],
    ['he${XXX:+000}xx', 'hexx'],
    ['he${PWD:+000}xx', 'he000xx'],
    ["'he${XX}'", 'he${XX}'],
    ['"he${PWD}"', 'he/home'],
    ['"he\'$PWD\'"', "he'/home'"],
    ['"$PWD"', '/home'],
    ["'$PWD'", '$PWD'],
    ["'\\$PWD'", '\\$PWD'],
    ['\'"hello"\'', '"hello"'],
    ["'he\\$PWD'", 'he\\$PWD'],
    ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
    ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
    ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
    ['안녕하세요', '안녕하세요'],
    ["안'녕'하세요", '안녕하세요'],
    ["안녕\\'하세요", "안녕'하세요"],
    ['"안녕\'하세요"', "안녕'하세요"],
    // - and + without the colon: only unset counts, an empty value is kept
    ['x${NULL-def}x', 'xx'],
    ['x${XXX-def}x', 'xdefx'],
    ['x${NULL:-def}x', 'xdefx'],
    ['x${NULL+alt}x', 'xaltx'],
    ['x${NULL:+alt}x', 'xx'],
  ])('%s → %s', (word, expected) => {
    expect(substituteWord(word, ENV)).toBe(expected);
  });

  it.each([
    ["he'llo"],
    ["he\\\\'llo"],
    ['"hello'],
    ['"hello\\"'],
    ["'hello"],
    ['${}'],
    ['${}aaa'],
    ['he${}xx'],
    ['he${.}'],
    ['he${XXX:YYY}'],
    ['he${XXX?}'],
    ['he${XXX:?}'],
    ['he${NULL:?}'],
    ['he${PWD'],
    ['he${PWD:=000}xx'],
    ["안'녕하세요"],
  ])('%s is an error', (word) => {
    expect(() => substituteWord(word, ENV)).toThrow(/^failed to process/);
  });

  it('${V?message} names the variable and the message', () => {
    expect(() => substituteWord('${TOKEN:?set TOKEN}', ENV)).toThrow('failed to process "${TOKEN:?set TOKEN}": TOKEN: set TOKEN');
  });

  it('prefix and suffix removal, shortest and longest', () => {
    const env = { F: 'dir/sub/file.tar.gz' };
    expect(substituteWord('${F#*/}', env)).toBe('sub/file.tar.gz');
    expect(substituteWord('${F##*/}', env)).toBe('file.tar.gz');
    expect(substituteWord('${F%.*}', env)).toBe('dir/sub/file.tar');
    expect(substituteWord('${F%%.*}', env)).toBe('dir/sub/file');
    expect(substituteWord('${F#nomatch}', env)).toBe('dir/sub/file.tar.gz');
    expect(substituteWord('${F/sub/SUB}', env)).toBe('dir/SUB/file.tar.gz');
    expect(substituteWord('${F//[.]/_}', env)).toBe('dir/sub/file_tar_gz');
  });

  it('the escape directive`s character escapes instead of backslash', () => {
    expect(substituteWord('c:\\dir\\`$PWD', ENV, { escape: '`' })).toBe('c:\\dir\\$PWD');
  });

  it('accepts a Map as the environment', () => {
    expect(substituteWord('$A-${B}', new Map([['A', '1'], ['B', '2']]))).toBe('1-2');
  });
});

// Cases from BuildKit's frontend/dockerfile/shell/wordsTest.
describe('substitution: every Unix case of BuildKit`s envVarTest file', () => {
  const env = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };
  const cases = fs
    .readFileSync(path.join(__dirname, 'data/buildkit-envVarTest'), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#') && l.trim() !== '')
    .map((l) => l.trim().split('|').map((x) => x.trim()))
    .filter(([platform]) => platform !== 'W');
  it('has the cases', () => expect(cases.length).toBeGreaterThan(200));
  it.each(cases)('%s | %s | %s', (_platform, word, expected) => {
    if (expected === 'error') expect(() => substituteWord(word, env)).toThrow(/^failed to process/);
    else expect(substituteWord(word, env)).toBe(expected);
  });
});

describe('substitution: word splitting (BuildKit wordsTest)', () => {
  const env = { hi: 'hi', space: 'abc  def', leading: '  ab c', trailing: 'ab c   ' };
  it.each([
    ['hello', ['hello']],
    ['hello${hi}bye', ['hellohibye']],
    ['hello${space}bye', ['helloabc', 'defbye']],
    ['hello"${space}"bye', ['helloabc  defbye']],
    ['hello "${space}"bye', ['hello', 'abc  defbye']],
    ['hello${leading}def', ['hello', 'ab', 'cdef']],
    ['hello"${leading}" def', ['hello  ab c', 'def']],
    ['hello${leading}', ['hello', 'ab', 'c']],
    ['hello${trailing}', ['helloab', 'c']],
    ['hello${trailing}d', ['helloab', 'c', 'd']],
    ['hello"${trailing}"d', ['helloab c   d']],
    ['hel"lo${trailing}"', ['helloab c   ']],
    ['hello" there  "', ['hello there  ']],
    ['hello there     ', ['hello', 'there']],
    ['hello\\ there', ['hello there']],
    ['hello\\" there', ['hello"', 'there']],
    ['hello"\\\\there"', ['hello\\there']],
    ['hello"\\there"', ['hello\\there']],
    ["hello'\\\\there'", ['hello\\\\there']],
    ["hello'$there'", ['hello$there']],
  ])('%s → %j', (text, words) => {
    expect(substituteWords(text, env)).toEqual(words);
  });
});

describe('substitution: heredoc bodies (BuildKit SkipProcessQuotes)', () => {
  it('variables are replaced even inside quotes, quotes kept, \\ escapes the next character', () => {
    expect(substituteHeredoc(`echo "hello \${FOO}" '$FOO' \\$HOME\n`, { FOO: 'bar' })).toBe(`echo "hello bar" 'bar' $HOME\n`);
  });
});
