/**
 * `nook logs [-f] [--tail N] [-t] CONTAINER`: a detached container's stdout
 * and stderr, from the log its supervisor writes (container/logs.ts reads
 * it). `-f` follows until the container has exited.
 */
import { NookError, UsageError } from '../errors';
import { untilReleased } from '../container/control';
import { printLogs } from '../container/logs';
import { ContainerStore } from '../container/state';
import { parseArgs, flagHelp, type FlagSpec } from './args';

const LOGS_FLAGS: readonly FlagSpec[] = [
  { name: 'follow', short: 'f', type: 'boolean', help: 'keep printing new output until the container exits' },
  { name: 'tail', short: 'n', type: 'string', value: 'N', help: 'only the last N lines ("all" for everything, the default)' },
  { name: 'timestamps', short: 't', type: 'boolean', help: 'prefix each line with the time it was written (RFC 3339, nanoseconds)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function logsCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, LOGS_FLAGS, 'logs');
  if (flags.help) {
    process.stdout.write(`Usage: nook logs [FLAGS] CONTAINER\n\nPrints a detached container's output.\n\nFlags:\n${flagHelp(LOGS_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('nook logs takes exactly one container', 'e.g. nook logs -f web');
  const tailText = flags.tail as string | undefined;
  if (tailText !== undefined && tailText !== 'all' && !/^\d+$/.test(tailText))
    throw new UsageError(`invalid --tail "${tailText}"`, 'give a number of lines, or all');
  const dir = ContainerStore.open().resolve(positionals[0]);
  if (!dir.config().detached)
    throw new NookError(`container ${positionals[0]} ran in the foreground: its output went to the terminal, and nook kept no log`, {
      hint: 'run it with -d to keep its output for nook logs',
    });
  // docker's wording for a container run with --log-driver none.
  if (dir.config().log?.none)
    throw new NookError('configured logging driver does not support reading', { hint: `container ${positionals[0]} was run with --log-driver none: nook kept no log` });
  await printLogs(dir.dir, {
    tail: tailText === undefined || tailText === 'all' ? undefined : Number(tailText),
    timestamps: Boolean(flags.timestamps),
    follow: Boolean(flags.follow),
    until: untilReleased(dir),
  });
  return 0;
}
