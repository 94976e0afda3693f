/**
 * The CLI's one formatting module: aligned tables, "5 minutes ago", byte
 * sizes, docker's STATUS column, and `--format` (table, json, or a Go
 * template as docker takes it). The template engine itself (./template) is
 * loaded only when a template is given.
 */
import fs = require('node:fs');
import { UsageError } from '../errors';
import type { LiveState } from '../container/status';

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/**
 * docker's units.HumanSizeWithPrecision(n, precision): 3 as in ps's SIZE
 * column ("0B", "1.23kB", "72.9MB"); 4 as go-units' HumanSize, which podman's
 * inspect shows as LogConfig.Size ("9.081MB").
 */
export function humanSize(n: number, precision = 3): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${Number(v.toPrecision(precision))}${units[u]}`;
}

/** "3 minutes ago", as docker says it. */
export function ago(iso: string | undefined, now = Date.now()): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: [number, string][] = [[31536000, 'year'], [2592000, 'month'], [604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [secs, unit] of steps) if (s >= secs) return `${Math.floor(s / secs)} ${unit}${Math.floor(s / secs) > 1 ? 's' : ''} ago`;
  return s < 2 ? 'Less than a second ago' : `${s} seconds ago`;
}

/** "3 minutes": how long since `fromIso`. */
export function duration(fromIso: string | undefined, now = Date.now()): string {
  return ago(fromIso, now).replace(/ ago$/, '');
}

/** Go's time.Time.String() in UTC, which docker prints for CreatedAt: "2026-01-02 15:04:05 +0000 UTC". */
export function goTime(iso: string | undefined): string {
  const t = iso ? new Date(iso) : undefined;
  if (!t || Number.isNaN(t.getTime())) return 'N/A';
  return `${t.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** docker ps's STATUS column: "Up 3 minutes", "Exited (0) 5 seconds ago", "Created", "Restarting (1) 2 seconds ago". */
export function statusText(s: LiveState, now = Date.now()): string {
  switch (s.display) {
    case 'running':
      return `Up ${duration(s.startedAt, now)}${s.paused ? ' (Paused)' : ''}`;
    case 'restarting':
      return `Restarting (${s.exitCode ?? 0}) ${ago(s.finishedAt, now)}`;
    case 'exited':
      // A container that died with its supervisor has no recorded end time.
      return s.finishedAt ? `Exited (${s.exitCode ?? 0}) ${ago(s.finishedAt, now)}` : `Exited (${s.exitCode ?? 0})`;
    default:
      return 'Created';
  }
}

/** docker's Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(text: string, max: number): string {
  return [...text].length <= max ? text : `${[...text].slice(0, max - 1).join('')}…`;
}

/**
 * Rows aligned in columns, `padding` spaces apart (each column at least
 * `minWidth` wide, as Go's tabwriter); the last column is not padded.
 */
export function table(rows: string[][], opts: { padding?: number; minWidth?: number } = {}): string {
  const padding = opts.padding ?? 3;
  const minWidth = opts.minWidth ?? 0;
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(Math.max(minWidth, widths[i] + padding) - [...c].length))).join('').trimEnd())
    .map((line) => `${line}\n`)
    .join('');
}

/** Text separated by tabs, aligned as docker's `table` formats are (tabwriter: min width 10, padding 3). */
export function tabAlign(text: string): string {
  const lines = text.split('\n');
  const last = lines.pop();
  const rows = lines.map((l) => l.split('\t'));
  return table(rows, { padding: 3, minWidth: 10 }) + (last ?? '');
}

export type OutputFormat = { kind: 'table' } | { kind: 'json' } | { kind: 'template'; template: string; table: boolean };

/**
 * Reads a --format value: "table" (the default), "json", or a Go template,
 * possibly after "table " (then a header row is printed, docker's way).
 * As docker does, `\t` and `\n` written literally in the template mean a tab and a newline.
 */
export function parseFormat(value: string | undefined, flag = '--format'): OutputFormat {
  if (value === undefined || value === 'table') return { kind: 'table' };
  if (value === 'json') return { kind: 'json' };
  const isTable = value.startsWith('table');
  const body = (isTable ? value.slice(5) : value).replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  if (!body.includes('{{'))
    throw new UsageError(`${flag} "${value}" is neither table, json nor a template`, `give a Go template as docker takes it, e.g. ${flag} '{{.ID}}', or ${flag} json`);
  return { kind: 'template', template: body, table: isTable };
}

/**
 * Each row through `template`, one line per row; with `table`, a header row
 * first (each field's header: `headers[field]` or the field in capitals) and
 * the columns aligned on tabs. `fields` lists what the rows offer, for errors.
 */
export async function renderTemplate(
  fmt: { template: string; table: boolean },
  rows: readonly unknown[],
  opts: { headers?: Record<string, string>; flag?: string } = {},
): Promise<string> {
  const { compileTemplate, headerContext } = await import('./template');
  const tmpl = compileTemplate(fmt.template, opts.flag ?? '--format');
  let out = '';
  if (fmt.table) out += `${tmpl.render(headerContext(opts.headers ?? {}))}\n`;
  for (const row of rows) out += `${tmpl.render(row)}\n`;
  return fmt.table ? tabAlign(out) : out;
}

/** Writes to stdout synchronously (nook's output interleaves with its messages). */
export function writeOut(text: string): void {
  fs.writeSync(1, text);
}
