/**
 * `nook system df` (disk usage of images and containers) and `nook system
 * prune` (stopped containers, then images without a name, or with -a every
 * image no container uses, then the layers and blobs nothing needs), as docker's.
 */
import { NookError } from '../errors';
import { pruneContainers } from '../container/lifecycle';
import { ContainerStore } from '../container/state';
import { listContainers } from '../container/status';
import { diskUsage, imagesInUse, type UsageRow } from '../container/system';
import { pruneImages } from '../image/store/prune';
import { ImageStore } from '../image/store/store';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { formatBytes, parseFormat, renderTemplate, table, writeOut } from './format';

const HELP: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };

const DF_FLAGS: readonly FlagSpec[] = [
  { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: '{{.Type}} {{.Size}}'" },
  HELP,
];

const PRUNE_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'remove every image no container uses, not only those without a name' },
  { name: 'force', short: 'f', type: 'boolean', help: 'do not ask for confirmation (nook asks only when stdin is a terminal)' },
  HELP,
];

function percent(part: number, whole: number): string {
  return whole > 0 ? ` (${Math.round((100 * part) / whole)}%)` : '';
}

function dfRow(r: UsageRow): Record<string, unknown> {
  return { Type: r.type, TotalCount: r.total, Active: r.active, Size: formatBytes(r.size), Reclaimable: `${formatBytes(r.reclaimable)}${percent(r.reclaimable, r.size)}` };
}

async function dfCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, DF_FLAGS, 'system df');
  if (flags.help) {
    writeOut(`Usage: nook system df [FLAGS]\n\nShows the disk space images and containers use, and how much \`nook system prune\` could reclaim.\n\nFlags:\n${flagHelp(DF_FLAGS)}\n`);
    return 0;
  }
  const format = parseFormat(flags.format as string | undefined);
  const rows = diskUsage(ImageStore.open(), listContainers(ContainerStore.open()));
  if (format.kind === 'json') writeOut(`${JSON.stringify(rows.map((r) => ({ Type: r.type, TotalCount: r.total, Active: r.active, Size: r.size, Reclaimable: r.reclaimable })), null, 2)}\n`);
  else if (format.kind === 'template')
    writeOut(await renderTemplate(format, rows.map(dfRow), { headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' } }));
  else {
    const shown = rows.map(dfRow);
    writeOut(table([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], ...shown.map((r) => [r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable].map(String))], { minWidth: 10 }));
  }
  return 0;
}

async function pruneCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, PRUNE_FLAGS, 'system prune');
  if (flags.help) {
    writeOut(
      `Usage: nook system prune [FLAGS]\n\nRemoves stopped containers, then images without a name (with -a: every image no\nremaining container uses), then the layers and blobs nothing needs any more.\n\nFlags:\n${flagHelp(PRUNE_FLAGS)}\n`,
    );
    return 0;
  }
  if (!flags.force && process.stdin.isTTY && !confirmPrune(Boolean(flags.all))) return 0;
  const containers = ContainerStore.open();
  const removed = await pruneContainers(containers);
  const store = ImageStore.open();
  const keep = imagesInUse(store, listContainers(containers));
  const { deleted, gc } = await pruneImages(store, { all: Boolean(flags.all), keep });
  let out = '';
  if (removed.length) out += `Deleted Containers:\n${removed.map((id) => `${id}\n`).join('')}\n`;
  if (deleted.length) out += `Deleted Images:\n${deleted.map((r) => `deleted: ${r.id}\n`).join('')}\n`;
  writeOut(`${out}Total reclaimed space: ${formatBytes(gc.bytes)}\n`);
  return 0;
}

/** docker's warning, and its [y/N] answer read from the terminal: true to go ahead. */
function confirmPrune(all: boolean): boolean {
  writeOut(
    `WARNING! This will remove:\n  - all stopped containers\n  - ${all ? 'all images without at least one container associated to them' : 'all dangling images'}\n` +
      `  - the layers and blobs no remaining image needs\n\nAre you sure you want to continue? [y/N] `,
  );
  const buf = Buffer.alloc(256);
  let n = 0;
  try {
    n = require('node:fs').readSync(0, buf, 0, buf.length, null);
  } catch {
    /* no answer: no */
  }
  return /^\s*y(es)?\s*$/i.test(buf.toString('utf8', 0, n));
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { df: dfCommand, prune: pruneCommand };

export async function systemCommand(argv: string[], version: string): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'info') return (await import('./info')).infoCommand(rest, version);
  if (sub === '--help' || sub === 'help') {
    writeOut('Usage: nook system COMMAND\n\nCommands:\n  df      Show disk usage\n  info    Show where nook keeps things and what this host lets it do\n  prune   Remove stopped containers and unused images\n');
    return 0;
  }
  const fn = SUBCOMMANDS[sub ?? ''];
  if (!fn)
    throw new NookError(sub ? `unknown command: nook system ${sub}` : 'nook system needs a subcommand', { hint: 'one of: df, info, prune' });
  return fn(rest);
}
