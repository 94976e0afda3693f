/**
 * The Go-template subset behind --format (src/cli/template.ts) and the
 * format helpers around it (src/cli/format.ts): each construct, Go's way of
 * printing values, errors that name an unknown field, and `table` headers.
 */
import { describe, expect, it } from 'vitest';
import { parseFormat, renderTemplate, tabAlign } from '../../src/cli/format';
import { compileTemplate } from '../../src/cli/template';
import { NookError, UsageError } from '../../src/errors';

const data = {
  ID: 'abc123',
  Names: 'web',
  Status: 'Up 2 minutes',
  Count: 3,
  Zero: 0,
  Empty: '',
  Running: true,
  Nothing: null,
  List: ['a', 'b', 'c'],
  Labels: { 'com.example.team': 'core', tier: 'web' },
  State: { Pid: 4242, Status: 'running', Health: null },
  Mounts: [
    { Source: '/data', Destination: '/srv' },
    { Source: '/logs', Destination: '/var/log' },
  ],
  Label: (k: string) => ({ tier: 'web' })[k] ?? '',
};

const r = (t: string, d: unknown = data) => compileTemplate(t).render(d);

function error(fn: () => unknown): NookError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as NookError;
  }
  throw new Error('no error');
}

describe('template: fields and values', () => {
  it('prints text and fields, nested fields, dot and $', () => {
    expect(r('id={{.ID}} name={{.Names}}')).toBe('id=abc123 name=web');
    expect(r('{{.State.Pid}}')).toBe('4242');
    expect(r('{{.}}', 'x')).toBe('x');
    expect(r('{{range .List}}{{$.ID}}:{{.}} {{end}}')).toBe('abc123:a abc123:b abc123:c ');
    expect(r('no actions at all')).toBe('no actions at all');
  });

  it("prints values as Go's %v", () => {
    expect(r('{{.List}}')).toBe('[a b c]');
    expect(r('{{.Labels}}')).toBe('map[com.example.team:core tier:web]');
    expect(r('{{.Running}} {{.Count}} {{.Nothing}}')).toBe('true 3 <nil>');
    expect(r('{{.Mounts}}')).toBe('[map[Destination:/srv Source:/data] map[Destination:/var/log Source:/logs]]');
  });

  it('names an unknown field and lists the fields there are', () => {
    const e = error(() => r('{{.Nope}}'));
    expect(e.message).toContain('no field "Nope"');
    expect(e.hint).toContain('ID, Names, Status');
    const nested = error(() => r('{{.State.Pidd}}'));
    expect(nested.message).toContain('no field "Pidd" in .State');
    expect(nested.hint).toBe('the fields of .State are: Pid, Status, Health');
    expect(error(() => r('{{.State.Health.Status}}')).message).toContain('cannot read field "Status" of .State.Health, which is nil');
    expect(error(() => r('{{.ID.X}}')).message).toContain('which is a string, not a map');
  });

  it('calls a field that is a method, with arguments: {{.Label "k"}}', () => {
    expect(r('{{.Label "tier"}}|{{.Label "none"}}')).toBe('web|');
  });
});

describe('template: functions', () => {
  it('json', () => {
    expect(r('{{json .Labels}}')).toBe('{"com.example.team":"core","tier":"web"}');
    expect(r('{{json .List}} {{json .ID}} {{json .Nothing}}')).toBe('["a","b","c"] "abc123" null');
    expect(JSON.parse(r('{{json .}}', { A: 1, B: [true] }))).toEqual({ A: 1, B: [true] });
  });

  it('index, join, split, lower, upper, title, len, printf, print, println, pad, truncate, slice', () => {
    expect(r('{{index .Labels "com.example.team"}}')).toBe('core');
    expect(r('[{{index .Labels "missing"}}]')).toBe('[]');
    expect(r('{{index .List 1}} {{index .Mounts 1 "Source"}}')).toBe('b /logs');
    expect(r('{{join .List ","}}')).toBe('a,b,c');
    expect(r('{{join (split "x:y:z" ":") "-"}}')).toBe('x-y-z');
    expect(r('{{lower "AbC"}} {{upper .Names}} {{title "hello world"}}')).toBe('abc WEB Hello World');
    expect(r('{{len .List}} {{len .Labels}} {{len .ID}}')).toBe('3 2 6');
    expect(r('{{printf "%s has pid %d (%q) %5s|%-4s|%%" .Names .State.Pid .ID "ab" "c"}}')).toBe('web has pid 4242 ("abc123")    ab|c   |%');
    expect(r('{{print "a" 1 2 "b"}}')).toBe('a1 2b');
    expect(r('{{println "a" 1}}')).toBe('a 1\n');
    expect(r('[{{pad .Names 1 2}}] {{truncate .ID 3}} {{slice .ID 1 3}}')).toBe('[ web  ] abc bc');
  });

  it('pipelines and parentheses', () => {
    expect(r('{{.Names | upper}}')).toBe('WEB');
    expect(r('{{.List | len | printf "%d items"}}')).toBe('3 items');
    expect(r('{{printf "%s-%s" .ID .Names | upper | printf "<%s>"}}')).toBe('<ABC123-WEB>');
    expect(r('{{(index .Mounts 0).Destination}}')).toBe('/srv');
  });

  it('comparisons and logic', () => {
    expect(r('{{eq .Names "web"}} {{eq .Count 1 2 3}} {{ne .Count 3}} {{lt 1 2}} {{ge "b" "a"}}')).toBe('true true false true true');
    expect(r('{{and 1 0 2}} {{or 0 "" "x"}} {{not .Empty}}')).toBe('0 x true');
  });

  it('an unknown function is an error naming it', () => {
    expect(error(() => r('{{frob .ID}}')).message).toContain('function "frob" not defined');
  });
});

describe('template: control structures', () => {
  it('if / else if / else with Go truth', () => {
    expect(r('{{if .Running}}up{{else}}down{{end}}')).toBe('up');
    expect(r('{{if .Zero}}a{{else if .Empty}}b{{else if .List}}c{{else}}d{{end}}')).toBe('c');
    expect(r('{{if .Nothing}}x{{end}}{{if .Labels}}y{{end}}{{if eq .State.Status "running"}}z{{end}}')).toBe('yz');
  });

  it('range over lists, maps (sorted keys) and nothing; variables', () => {
    expect(r('{{range .Mounts}}{{.Source}}:{{.Destination}},{{end}}')).toBe('/data:/srv,/logs:/var/log,');
    expect(r('{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}')).toBe('com.example.team=core;tier=web;');
    expect(r('{{range $i, $e := .List}}{{$i}}{{$e}}{{end}}')).toBe('0a1b2c');
    expect(r('{{range .Nothing}}x{{else}}none{{end}}')).toBe('none');
    expect(r('{{$n := .Names}}{{range .List}}{{$n}}{{.}}{{end}}')).toBe('webawebbwebc');
  });

  it('with, comments and whitespace trimming', () => {
    expect(r('{{with .State}}{{.Pid}}{{end}}{{with .Nothing}}x{{else}}-{{end}}')).toBe('4242-');
    expect(r('a {{/* a comment */}}b')).toBe('a b');
    expect(r('a   {{- .Names -}}   b')).toBe('awebb');
  });

  it('syntax errors are usage errors with a hint', () => {
    for (const bad of ['{{.ID', '{{if .ID}}x', '{{end}}', '{{range}}{{end}}', '{{"abc}}', '{{(.ID}}', '{{.ID | }}', '{{else}}']) {
      const e = error(() => compileTemplate(bad, '--format'));
      expect(e.message, bad).toMatch(/^invalid template in --format: /);
      expect(e.hint).toContain("--format '{{.ID}}'");
    }
  });
});

describe('--format values and table output', () => {
  it('parseFormat: table, json, templates, literal \\t and \\n', () => {
    expect(parseFormat(undefined)).toEqual({ kind: 'table' });
    expect(parseFormat('table')).toEqual({ kind: 'table' });
    expect(parseFormat('json')).toEqual({ kind: 'json' });
    expect(parseFormat('{{.ID}}')).toEqual({ kind: 'template', template: '{{.ID}}', table: false });
    expect(parseFormat('table {{.ID}}\\t{{.Status}}')).toEqual({ kind: 'template', template: '{{.ID}}\t{{.Status}}', table: true });
    expect(() => parseFormat('yaml')).toThrow(/neither table, json nor a template/);
  });

  it('table prints a header row from the field names, tab-aligned like docker', async () => {
    const rows = [
      { ID: 'abc', Status: 'Up 2 minutes', Names: 'web' },
      { ID: 'def456789012', Status: 'Exited (0) 1 second ago', Names: 'db' },
    ];
    const fmt = parseFormat('table {{.ID}}\\t{{.Status}}\\t{{.Names}}');
    if (fmt.kind !== 'template') throw new Error(`not a template: ${fmt.kind}`);
    const out = await renderTemplate(fmt, rows, { headers: { ID: 'CONTAINER ID' } });
    expect(out).toBe(
      'CONTAINER ID   STATUS                    NAMES\n' + 'abc            Up 2 minutes              web\n' + 'def456789012   Exited (0) 1 second ago   db\n',
    );
    // Without a known header, the field in capitals, words split: RunningFor -> RUNNING FOR.
    expect(await renderTemplate({ template: '{{.RunningFor}}\t{{.X}}', table: true }, [])).toBe('RUNNING FOR   X\n');
    // Not a table: one line per row, no header.
    expect(await renderTemplate({ template: '{{.ID}}', table: false }, rows)).toBe('abc\ndef456789012\n');
  });

  it('tabAlign pads every column but the last to at least 10 characters', () => {
    expect(tabAlign('a\tb\tc\nlonger text\tx\ty\n')).toBe(`a${' '.repeat(13)}b${' '.repeat(9)}c\nlonger text   x${' '.repeat(9)}y\n`);
  });
});
