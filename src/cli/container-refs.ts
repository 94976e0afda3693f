/**
 * Running a command over the containers the user named, as docker does for
 * start, pause, rename and the like: an error for one container is reported
 * and the others still go ahead. A container that does not exist (or an
 * ambiguous id) exits 1, as docker's; nook's own failures keep theirs (125).
 */
import fs = require('node:fs');
import { NookError, UsageError, errorText } from '../errors';
import { ContainerStore, type ContainerDir } from '../container/state';
import { parseArgs, flagHelp, type FlagSpec, type ParsedArgs } from './args';

export const HELP: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };

export const say = (text: string): void => void fs.writeSync(1, `${text}\n`);

function tell(e: NookError): void {
  fs.writeSync(2, errorText(e));
}

/** Parses the flags; undefined after printing --help. */
export function parseCommand(argv: string[], specs: FlagSpec[], command: string, usage: string, about: string): ParsedArgs | undefined {
  const parsed = parseArgs(argv, [...specs, HELP], command);
  if (parsed.flags.help) {
    fs.writeSync(1, `Usage: nook ${command} ${usage}\n\n${about}\n\nFlags:\n${flagHelp([...specs, HELP])}\n`);
    return undefined;
  }
  return parsed;
}

/** A lookup error (no such container), with docker's exit status 1 (usage errors keep theirs). */
export function asStatusOne(e: NookError): NookError {
  return e instanceof UsageError || e.exitCode === 1 ? e : new NookError(e.message, { exitCode: 1, hint: e.hint, cause: e.cause });
}

export async function eachContainer(refs: string[], fn: (store: ContainerStore, dir: ContainerDir, ref: string) => Promise<void>): Promise<number> {
  const store = ContainerStore.open();
  let failed: NookError | undefined;
  for (const ref of refs) {
    try {
      let dir: ContainerDir;
      try {
        dir = store.resolve(ref);
      } catch (e) {
        throw e instanceof NookError ? asStatusOne(e) : e;
      }
      await fn(store, dir, ref);
    } catch (e) {
      if (!(e instanceof NookError)) throw e;
      if (failed) tell(failed);
      failed = e;
    }
  }
  if (failed) throw failed;
  return 0;
}
