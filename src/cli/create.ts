/**
 * `nook create`: `nook run`'s flags and request, kept as a container in
 * status "created" (ps -a: Created) that `nook start` runs later under a
 * supervisor, as a `run -d` would have. Prints its id, as docker does.
 */
import { UsageError } from '../errors';
import { hostIdentity } from '../sandbox/idmap';
import { flagHelp, parseArgs } from './args';
import { RUN_FLAGS } from './run-flags';

const createUsage = (): string => `Usage: nook create [FLAGS] IMAGE [COMMAND [ARG...]]
       nook create [FLAGS] --rootfs DIR [--] COMMAND [ARG...]

Creates a container without starting it and prints its id; \`nook start\`
starts it (detached; \`nook start -a\` shows its output and exits with its
status). Takes nook run's flags (-d is implied).

Flags:
${flagHelp(RUN_FLAGS)}
`;

export async function createCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, RUN_FLAGS, 'create');
  if (parsed.flags.help) {
    process.stdout.write(createUsage());
    return 0;
  }
  if (parsed.flags.rootfs === undefined && !parsed.positionals.length)
    throw new UsageError('nook create needs an image (or --rootfs DIR)', 'e.g. nook create --name web debian:12 sleep infinity');
  if (parsed.flags['conmon-pidfile'] !== undefined)
    throw new UsageError('--conmon-pidfile is not supported with create', 'nook run -d --conmon-pidfile FILE writes the supervisor\'s pid');
  if (parsed.flags['preserve-fds'] !== undefined && parsed.flags['preserve-fds'] !== '0')
    throw new UsageError('--preserve-fds is not supported with create', 'nook passes descriptors to a command that runs in the foreground: use nook run');
  const { runContainer } = await import('./run-container');
  return runContainer(parsed, hostIdentity(), true);
}
