/**
 * `nook logs [-f] [--tail N] [-t] [--since T] [--until T] CONTAINER...`: a
 * container's stdout and stderr, from the log its supervisor writes (or, run
 * in the foreground, nook-supervisor --tee) (container/logs.ts reads it). `-f` follows until the container has exited.
 * Several containers (podman's) are shown together, each line after the
 * container's short id; followed, their lines come as they are written.
 */
import { FlagError, NookError, UsageError } from '../errors';
import { untilReleased } from '../container/control';
import { logFiles, printLogs } from '../container/logs';
import { ContainerStore, type ContainerDir } from '../container/state';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { untilTime } from './filters';

const LOGS_FLAGS: readonly FlagSpec[] = [
  { name: 'follow', short: 'f', type: 'boolean', help: 'keep printing new output until the container exits' },
  { name: 'tail', short: 'n', type: 'string', value: 'N', help: 'only the last N lines ("all" for everything, the default)' },
  { name: 'timestamps', short: 't', type: 'boolean', help: 'prefix each line with the time it was written (RFC 3339, nanoseconds)' },
  { name: 'since', type: 'string', value: 'TIME', help: 'only lines written since TIME: a date (2026-01-02T15:04:05Z), Unix seconds, or a duration before now (10m)' },
  { name: 'until', type: 'string', value: 'TIME', help: 'only lines written until TIME (as --since)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** docker's --since/--until: a date and time, Unix seconds, or a Go duration back from now; ms since the epoch. */
export function logTime(value: string, flag: string, now = Date.now()): number {
  try {
    return untilTime(value, now);
  } catch {
    throw new FlagError(`invalid value for --${flag}: "${value}"`, 'give a date and time (2026-01-02T15:04:05Z), Unix seconds (1700000000), or a duration before now (10m, 1h30m)');
  }
}

/** The container's log, or why it has none. */
function withLog(store: ContainerStore, ref: string): ContainerDir {
  const dir = store.resolve(ref);
  // docker's wording for a container run with --log-driver none.
  if (dir.config().log?.none)
    throw new NookError('configured logging driver does not support reading', { hint: `container ${ref} was run with --log-driver none: nook kept no log` });
  // Run in the foreground by a nook that kept no log of such runs, and never started since (nook start runs it
  // under a supervisor, which logs).
  if (!dir.config().detached && !logFiles(dir.dir).length)
    throw new NookError(`container ${ref} ran in the foreground: its output went to the terminal, and nook kept no log`, {
      hint: `nook start ${ref} runs it again, logged`,
    });
  return dir;
}

export async function logsCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, LOGS_FLAGS, 'logs', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook logs [FLAGS] CONTAINER...\n\nPrints a container's output.\n\nFlags:\n${flagHelp(LOGS_FLAGS)}\n`);
    return 0;
  }
  if (!positionals.length) throw new UsageError('nook logs needs a container', 'e.g. nook logs -f web');
  const tailText = flags.tail as string | undefined;
  if (tailText !== undefined && tailText !== 'all' && !/^\d+$/.test(tailText))
    throw new UsageError(`invalid --tail "${tailText}"`, 'give a number of lines, or all');
  const now = Date.now();
  const since = flags.since === undefined ? undefined : logTime(flags.since as string, 'since', now);
  const until = flags.until === undefined ? undefined : logTime(flags.until as string, 'until', now);
  const store = ContainerStore.open();
  const dirs = positionals.map((ref) => withLog(store, ref));
  const follow = Boolean(flags.follow);
  // Following up to a time in the future stops then, as docker's.
  const timeUp = until === undefined ? undefined : new Promise<void>((r) => setTimeout(r, Math.max(0, until - Date.now())).unref());
  const show = (dir: ContainerDir) =>
    printLogs(dir.dir, {
      tail: tailText === undefined || tailText === 'all' ? undefined : Number(tailText),
      timestamps: Boolean(flags.timestamps),
      follow,
      since,
      untilTime: until,
      prefix: dirs.length > 1 ? `${dir.id.slice(0, 12)} ` : undefined,
      until: timeUp ? Promise.race([untilReleased(dir), timeUp]) : untilReleased(dir),
    });
  if (follow) await Promise.all(dirs.map(show));
  else for (const dir of dirs) await show(dir);
  return 0;
}
