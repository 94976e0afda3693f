/**
 * nook's entry point. Kept tiny: `nook --version` must start about as fast
 * as `node -e 0`, so every command's module is loaded only when used.
 */
import { NookError } from '../errors';
import { nativeIfLoaded } from '../../ffi/native';
import { stdoutStreamUsed } from '../util/stdout';

declare const NOOK_VERSION: string | undefined;
const VERSION = typeof NOOK_VERSION === 'string' ? NOOK_VERSION : '0.0.0-dev';

const USAGE = `Usage: nook COMMAND [ARG...]

A rootless, daemonless sandbox and container runtime in one executable.

Commands:
  run       Run a command in a sandbox (nook run --help)
  version   Show the version

Flags:
  --help     Show this help
  --version  Show the version

Exit codes: the command's own, 125 when nook fails, 126 when the command
cannot be executed, 127 when it is not found.
`;

function writeErr(text: string): void {
  // Synchronous, and without touching process.stderr (which could make fd 2 non-blocking).
  try {
    require('node:fs').writeSync(2, text);
  } catch {
    /* stderr closed: nothing to tell */
  }
}

export function reportError(e: unknown): number {
  if (e instanceof NookError) {
    writeErr(`nook: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`);
    return e.exitCode;
  }
  const err = e as Error;
  writeErr(`nook: internal error: ${err?.stack ?? String(e)}\n`);
  return 125;
}

async function main(argv: string[]): Promise<number> {
  if (process.env.NOOK_DEBUG_TIMING) require('../util/timing').mark('main');
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case '--version':
    case 'version':
      process.stdout.write(`nook version ${VERSION}\n`);
      return 0;
    case undefined:
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'run': {
      const { runCommand } = await import('./run');
      return runCommand(rest);
    }
    default:
      throw new NookError(
        cmd.startsWith('-') ? `unknown flag: ${cmd}` : `unknown command: ${cmd}`,
        { hint: 'see `nook --help` for the commands nook knows' },
      );
  }
}

/**
 * Leaves with `code`. After a sandbox ran, nook's own output went out through
 * synchronous writes, so _exit() can skip Node's teardown (a few ms); only a
 * -t session's stdout stream may still hold data, and is drained first.
 */
function finish(code: number): void {
  const native = nativeIfLoaded();
  if (!native) return process.exit(code);
  if (stdoutStreamUsed() && process.stdout.writableLength > 0) process.stdout.once('drain', () => native.exitNow(code));
  else native.exitNow(code);
}

main(process.argv.slice(2)).then(finish, (e) => finish(reportError(e)));
