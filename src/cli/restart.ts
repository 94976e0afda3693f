/**
 * `nook restart [-t SECONDS] [-s SIGNAL] CONTAINER...`: docker's restart, a
 * stop (the stop signal, SIGKILL after the timeout) then a detached start;
 * a container that is not running is just started. Each name is printed
 * once it runs again; a failure for one does not stop the others.
 */
import fs = require('node:fs');
import { FlagError, NookError, UsageError } from '../errors';
import { stopContainer } from '../container/control';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { parseSignal } from './container-flags';
import { eachContainer } from './container-cmds';
import { startOne } from './start';

const RESTART_FLAGS: readonly FlagSpec[] = [
  { name: 'time', short: 't', type: 'string', value: 'SECONDS', help: 'seconds to wait for the stop before SIGKILL (default 10)' },
  { name: 'signal', short: 's', type: 'string', value: 'SIGNAL', help: "signal to stop it with (default: the container's stop signal)" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function restartCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, RESTART_FLAGS, 'restart', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook restart [-t SECONDS] CONTAINER...\n\nStops containers, then starts them again (detached).\n\nFlags:\n${flagHelp(RESTART_FLAGS)}\n`);
    return 0;
  }
  if (!positionals.length) throw new UsageError('nook restart needs at least one container', 'e.g. nook restart NAME (see nook ps -a)');
  const t = (flags.time as string | undefined) ?? '10';
  if (!/^\d+$/.test(t)) throw new FlagError(`invalid --time "${t}"`, 'give whole seconds, e.g. -t 5');
  const sig = flags.signal === undefined ? undefined : parseSignal(flags.signal as string, '--signal');
  return eachContainer(positionals, async (store, dir, ref) => {
    await stopContainer(store, dir, sig ?? dir.config().stopSignal, Number(t));
    if (!fs.existsSync(dir.p('config.json')))
      throw new NookError(`container ${ref} was removed when it stopped (it ran with --rm)`, { exitCode: 1, hint: 'run it again with nook run' });
    // Someone else may have started it in between: then it runs, which is what was asked.
    await startOne(store, dir);
    fs.writeSync(1, `${ref}\n`);
  });
}
