/** `nook rename CONTAINER NEW_NAME`, as docker's: a running container too; exit 1 on docker's errors. */
import { NookError, UsageError } from '../errors';
import { asStatusOne, parseCommand } from './container-refs';
import { ContainerStore } from '../container/state';

export async function renameCommand(argv: string[]): Promise<number> {
  const p = parseCommand(argv, [], 'rename', 'CONTAINER NEW_NAME', 'Gives a container a new name.');
  if (!p) return 0;
  if (p.positionals.length !== 2) throw new UsageError('nook rename takes exactly 2 arguments: CONTAINER NEW_NAME', 'e.g. nook rename web web-old');
  const [ref, name] = p.positionals;
  try {
    const store = ContainerStore.open();
    await store.rename(store.resolve(ref), name);
  } catch (e) {
    throw e instanceof NookError ? asStatusOne(e) : e;
  }
  return 0;
}
