/**
 * `nook ps [-a] [-q] [--format table|json]`: what exists, read from the
 * state directory and checked against the containers' locks (see
 * container/status.ts).
 */
import { UsageError } from '../errors';
import { listContainers, type Listed } from '../container/status';
import { ContainerStore } from '../container/state';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { ago, statusText, table } from './format';

const PS_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', type: 'boolean', help: 'show all containers (default: running ones)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print container ids only' },
  { name: 'no-trunc', type: 'boolean', help: 'do not shorten ids and commands' },
  { name: 'format', type: 'string', value: 'table|json', help: 'output format (default table)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function commandText(argv: string[], full: boolean): string {
  const text = argv.join(' ');
  return JSON.stringify(full || text.length <= 20 ? text : `${text.slice(0, 19)}…`);
}

function psJson(l: Listed): Record<string, unknown> {
  return {
    Id: l.config.id,
    Names: [l.config.name],
    Image: l.config.image,
    Command: l.config.command,
    Created: l.config.created,
    State: l.state.display,
    Status: statusText(l.state),
    ExitCode: l.state.display === 'exited' ? (l.state.exitCode ?? 0) : null,
    Pid: l.state.display === 'running' ? (l.state.pid ?? null) : null,
    RestartCount: l.state.restartCount,
    StartedAt: l.state.startedAt ?? null,
    FinishedAt: l.state.finishedAt ?? null,
  };
}

export async function psCommand(argv: string[]): Promise<number> {
  // minimist reads --no-X as X=false: take docker's --no-trunc off before parsing.
  const noTrunc = argv.includes('--no-trunc');
  const { flags } = parseArgs(argv.filter((a) => a !== '--no-trunc'), PS_FLAGS, 'ps');
  flags['no-trunc'] = noTrunc;
  if (flags.help) {
    process.stdout.write(`Usage: nook ps [FLAGS]\n\nLists containers.\n\nFlags:\n${flagHelp(PS_FLAGS)}\n`);
    return 0;
  }
  const format = (flags.format as string | undefined) ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`unknown --format "${format}"`, 'use --format table or --format json');
  const shown = listContainers(ContainerStore.open()).filter((l) => flags.all || l.state.display === 'running' || l.state.display === 'restarting');
  const full = Boolean(flags['no-trunc']);
  let out: string;
  if (flags.quiet) out = shown.map((l) => `${full ? l.config.id : l.config.id.slice(0, 12)}\n`).join('');
  else if (format === 'json') out = `${JSON.stringify(shown.map(psJson), null, 2)}\n`;
  else {
    const now = Date.now();
    out = table([
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
      ...shown.map((l) => [full ? l.config.id : l.config.id.slice(0, 12), l.config.image, commandText(l.config.command, full), ago(l.config.created, now), statusText(l.state, now), l.config.name]),
    ]);
  }
  require('node:fs').writeSync(1, out);
  return 0;
}
