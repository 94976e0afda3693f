/**
 * `nook login` and `nook logout`: credentials for registries, checked
 * against the registry before they are stored (docker's format, mode 0600,
 * in $XDG_CONFIG_HOME/nook/auth.json unless --authfile says otherwise).
 */
import fs = require('node:fs');
import tty = require('node:tty');
import { NookError, UsageError } from '../errors';
import { DEFAULT_REGISTRY } from '../image/reference';
import { checkCredentials } from '../image/registry/client';
import { normalizeRegistry } from '../image/registry/config';
import { findCredentials, nookAuthFile, removeCredentials, saveCredentials } from '../image/registry/credentials';
import { flagHelp, parseArgs, type FlagSpec } from './args';

export const LOGIN_FLAGS: readonly FlagSpec[] = [
  { name: 'username', short: 'u', type: 'string', value: 'USER', help: 'user name' },
  { name: 'password', short: 'p', type: 'string', value: 'PASS', help: 'password or token (visible to other users in ps: prefer --password-stdin)' },
  { name: 'password-stdin', type: 'boolean', help: 'read the password or token from stdin' },
  { name: 'tls-verify', type: 'boolean', tristate: true, help: 'require HTTPS with a valid certificate (default true; =false allows plain HTTP)' },
  { name: 'authfile', type: 'string', value: 'FILE', help: 'store the credentials in FILE instead of $XDG_CONFIG_HOME/nook/auth.json' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export const LOGOUT_FLAGS: readonly FlagSpec[] = [
  { name: 'authfile', type: 'string', value: 'FILE', help: 'remove the credentials from FILE instead of $XDG_CONFIG_HOME/nook/auth.json' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** Where the commands read and write; tests pass their own. */
export interface LoginIo {
  /** Read by --password-stdin. When given, nook does not prompt. */
  stdin?: NodeJS.ReadableStream;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const writeFd = (fd: number) => (text: string) => {
  fs.writeSync(fd, text);
};

function registryArg(positionals: string[], command: string): string {
  if (positionals.length > 1) throw new UsageError(`nook ${command} takes at most one registry`, `e.g. nook ${command} ghcr.io`);
  return normalizeRegistry(positionals[0] ?? DEFAULT_REGISTRY);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** A line typed on the terminal, echoed. */
async function promptLine(question: string): Promise<string> {
  // require, not import(): the executable runs its bundle as a vm.Script, which has no loader for import() (build/sea-main.js).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const readline = require('node:readline') as typeof import('node:readline');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
  }
}

/** A line typed on the terminal without echo (raw mode: Enter ends it, Ctrl-C cancels, Backspace erases). */
function promptHidden(question: string, err: (text: string) => void): Promise<string> {
  err(question);
  const stdin = process.stdin as tty.ReadStream;
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      err('\n');
    };
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') {
          finish();
          return resolve(value);
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          return reject(new NookError('login cancelled'));
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function loginCommand(argv: string[], io: LoginIo = {}): Promise<number> {
  const out = io.out ?? writeFd(1);
  const err = io.err ?? writeFd(2);
  const { flags, positionals } = parseArgs(argv, LOGIN_FLAGS, 'login');
  if (flags.help) {
    out(`Usage: nook login [FLAGS] [REGISTRY]

Checks credentials against REGISTRY (default: docker.io) and stores them for
pulls, in docker's format, readable only by you. Pulls also use credentials
from docker's ~/.docker/config.json and $REGISTRY_AUTH_FILE.

Flags:
${flagHelp(LOGIN_FLAGS)}
`);
    return 0;
  }
  const registry = registryArg(positionals, 'login');
  let username = flags.username as string | undefined;
  let password = flags.password as string | undefined;
  const fromStdin = Boolean(flags['password-stdin']);
  const example = `e.g. echo "$TOKEN" | nook login -u USER --password-stdin ${registry}`;

  if (password !== undefined && fromStdin) throw new UsageError('--password and --password-stdin cannot be used together', 'give one of them');
  if (password !== undefined) err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  if (fromStdin) {
    if (username === undefined) throw new UsageError('--password-stdin needs the user name in -u', example);
    // As docker: the password is stdin minus one trailing line break.
    password = (await readAll(io.stdin ?? process.stdin)).replace(/\r?\n$/, '');
  }
  if (username === undefined || password === undefined) {
    const interactive = !io.stdin && tty.isatty(0) && tty.isatty(2);
    if (!interactive)
      throw new UsageError(`cannot ask for ${username === undefined ? 'a user name' : 'the password'}: stdin is not a terminal`, `give them with -u and --password-stdin, ${example}`);
    username ??= (await promptLine('Username: ')).trim();
    password ??= await promptHidden('Password: ', err);
  }
  if (!username) throw new UsageError('the user name is empty', example);
  if (!password) throw new UsageError('the password is empty', example);

  await checkCredentials(registry, username, password, {
    tlsVerify: flags['tls-verify'] as boolean | undefined,
    onRetry: (what, attempt, e) => err(`${what}: ${e.message}; retrying (attempt ${attempt})\n`),
  });
  saveCredentials(registry, username, password, flags.authfile as string | undefined);
  out('Login Succeeded\n');
  return 0;
}

export async function logoutCommand(argv: string[], io: LoginIo = {}): Promise<number> {
  const out = io.out ?? writeFd(1);
  const { flags, positionals } = parseArgs(argv, LOGOUT_FLAGS, 'logout');
  if (flags.help) {
    out(`Usage: nook logout [FLAGS] [REGISTRY]

Removes the credentials that \`nook login\` stored for REGISTRY (default: docker.io).

Flags:
${flagHelp(LOGOUT_FLAGS)}
`);
    return 0;
  }
  const registry = registryArg(positionals, 'logout');
  const authFile = flags.authfile as string | undefined;
  if (removeCredentials(registry, authFile)) {
    out(`Removed login credentials for ${registry}\n`);
    return 0;
  }
  let elsewhere: string | undefined;
  if (!authFile) {
    try {
      elsewhere = findCredentials(registry).credentials?.source;
    } catch {
      /* an unreadable foreign file: nothing to add */
    }
  }
  throw new NookError(`not logged in to ${registry}`, {
    hint: elsewhere
      ? `pulls use credentials for ${registry} from ${elsewhere}, which nook reads but never changes; remove them with the tool that wrote them (docker logout, podman logout)`
      : `nook keeps logins in ${authFile ?? nookAuthFile()}`,
  });
}
