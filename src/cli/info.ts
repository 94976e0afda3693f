/**
 * `nook info [--format json|TEMPLATE]`: where nook keeps things and what this
 * host lets it do (id mapping, user namespaces, cgroups, overlayfs, network
 * helpers), the first things to check when something fails.
 */
import { hostInfo } from '../container/system';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { formatBytes, parseFormat, renderTemplate, writeOut } from './format';

const INFO_FLAGS: readonly FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', value: 'FORMAT', help: "json, or a Go template as docker's, e.g. '{{.Store.Root}}'" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function scalar(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length ? v.map(scalar).join(', ') : '-';
  return String(v);
}

/** Nested keys as indented "Key: value" lines, docker info's way. */
function outline(data: Record<string, unknown>, indent = ''): string {
  let out = '';
  for (const [k, v] of Object.entries(data)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out += `${indent}${k}:\n${outline(v as Record<string, unknown>, `${indent} `)}`;
    else out += `${indent}${k}: ${k === 'MemTotal' && typeof v === 'number' ? formatBytes(v) : scalar(v)}\n`;
  }
  return out;
}

export async function infoCommand(argv: string[], version: string): Promise<number> {
  const { flags } = parseArgs(argv, INFO_FLAGS, 'info');
  if (flags.help) {
    writeOut(`Usage: nook info [FLAGS]\n\nShows where nook keeps images and containers, and what this host lets it do:\nthe id mapping, user namespaces, cgroups and their delegation, overlayfs, network helpers.\n\nFlags:\n${flagHelp(INFO_FLAGS)}\n`);
    return 0;
  }
  const format = parseFormat(flags.format as string | undefined);
  const data = hostInfo(version);
  if (format.kind === 'json') writeOut(`${JSON.stringify(data)}\n`);
  else if (format.kind === 'template') writeOut(await renderTemplate({ ...format, table: false }, [data]));
  else writeOut(outline(data));
  return 0;
}
