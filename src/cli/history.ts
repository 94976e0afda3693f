/**
 * `nook history [--no-trunc] [-q] [--format table|json|TEMPLATE] IMAGE`: the
 * image's history entries, newest first, with docker's columns. Only the
 * newest row has an image id (nook keeps no intermediate images: the others
 * are <missing>, as docker shows pulled images). SIZE is the layer's
 * compressed size as stored (docker shows the uncompressed size); 0B for
 * entries without a layer.
 */
import { UsageError } from '../errors';
import { requireImage } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import { flagHelp, parseArgs, type FlagSpec } from './args';
import { ago, ellipsis, formatBytes, goTime, parseFormat, renderTemplate, table } from './format';

const FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print image ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'do not truncate ids and commands' },
  { name: 'human', short: 'H', type: 'boolean', tristate: true, help: 'sizes and dates readable by humans (default true)' },
  { name: 'format', type: 'string', value: 'FORMAT', help: "table (default), json, or a Go template as docker's: '{{.CreatedBy}}'" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const HEADERS: Record<string, string> = {
  ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT',
};

interface Row {
  ID: string;
  CreatedAt?: string;
  CreatedBy: string;
  Size: number;
  Comment: string;
}

export async function historyCommand(argv: string[]): Promise<number> {
  const noTrunc = argv.includes('--no-trunc');
  const { flags, positionals } = parseArgs(argv.filter((a) => a !== '--no-trunc'), FLAGS, 'history', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook history [FLAGS] IMAGE\n\nShows how an image was made, newest step first.\n\nFlags:\n${flagHelp(FLAGS)}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('nook history takes one image', 'e.g. nook history debian:12');
  const format = parseFormat(flags.format as string | undefined);
  const store = ImageStore.open();
  const { record } = requireImage(store, positionals[0]);
  const config = store.config(record);
  // Each history entry without empty_layer owns the next layer, bottom first.
  const rows: Row[] = [];
  let layer = 0;
  for (const h of config.history ?? []) {
    const size = h.empty_layer ? 0 : (record.layers[layer++]?.size ?? 0);
    rows.push({ ID: '<missing>', CreatedAt: h.created, CreatedBy: h.created_by ?? '', Size: size, Comment: h.comment ?? '' });
  }
  if (!rows.length) rows.push({ ID: '<missing>', CreatedAt: record.created, CreatedBy: '', Size: record.layers.reduce((s, l) => s + l.size, 0), Comment: '' });
  rows.reverse();
  rows[0].ID = record.id;
  const shortId = (id: string) => (id === '<missing>' || noTrunc ? id : id.slice(7, 19));
  if (flags.quiet) {
    process.stdout.write(rows.map((r) => `${shortId(r.ID)}\n`).join(''));
    return 0;
  }
  const human = flags.human !== false;
  const now = Date.now();
  const shown = (r: Row) => ({
    ID: shortId(r.ID),
    CreatedSince: human ? ago(r.CreatedAt, now) : (r.CreatedAt ?? ''),
    CreatedAt: goTime(r.CreatedAt),
    CreatedBy: noTrunc ? r.CreatedBy : ellipsis(r.CreatedBy.replace(/\s+/g, ' '), 45),
    Size: human ? formatBytes(r.Size) : String(r.Size),
    Comment: r.Comment,
  });
  if (format.kind === 'json') {
    process.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...shown(r), CreatedBy: r.CreatedBy, Size: r.Size, CreatedAt: r.CreatedAt ?? null })), null, 2)}\n`);
    return 0;
  }
  if (format.kind === 'template') {
    process.stdout.write(await renderTemplate(format, rows.map(shown), { headers: HEADERS }));
    return 0;
  }
  process.stdout.write(
    table([
      ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
      ...rows.map(shown).map((r) => [r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment]),
    ]),
  );
  return 0;
}
