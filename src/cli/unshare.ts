/**
 * `nook unshare [COMMAND [ARG...]]` (podman's): a command (default: $SHELL)
 * in a user namespace with nook's id mapping, as root there, to work on files
 * that containers' users own on the host (src/sandbox/unshare.ts).
 */
import fs = require('node:fs');
import { parseArgs, flagHelp, type FlagSpec } from './args';

const FLAGS: FlagSpec[] = [{ name: 'help', type: 'boolean', help: 'show this help' }];

export async function unshareCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, FLAGS, 'unshare');
  if (p.flags.help) {
    fs.writeSync(1, `Usage: nook unshare [COMMAND [ARG...]]\n\nRuns COMMAND (default: your $SHELL) as root of a user namespace with the id mapping containers get, so that files their users own can be read, changed and removed (podman's command).\n\nFlags:\n${flagHelp(FLAGS)}\n`);
    return 0;
  }
  const command = p.positionals.length ? p.positionals : [process.env.SHELL || '/bin/sh'];
  const { hostIdentity } = await import('../sandbox/idmap');
  const { runUnshared } = await import('../sandbox/unshare');
  return runUnshared(command, hostIdentity());
}
