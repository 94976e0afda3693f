/**
 * `run`: create, start, and (unless --detach) wait for the container's init,
 * which is this process's child, relaying the signals nook gets to it; then
 * delete the container (its poststop hooks run) and exit with the init's status.
 */
import { loadNative } from '../../ffi/native';
import { waitChild } from '../sandbox/launcher';
import { exitCodeFromWaitStatus } from '../sandbox/signals';
import { createContainer, type CreateRequest } from './create';
import { deleteContainer } from './delete';
import { relaySignals } from './process-io';
import { startContainer } from './start';
import type { OciStateStore } from './state';

const RELAYED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

export async function runContainer(store: OciStateStore, req: CreateRequest, opts: { detach: boolean; keep: boolean }): Promise<number> {
  const { pid } = await createContainer(store, req);
  // From here on a signal to nook goes to the container (as runc's handler, installed before the start).
  const stopRelay = opts.detach ? () => undefined : relaySignals(pid, RELAYED);
  try {
    await startContainer(store, req.id, req.warn);
  } catch (e) {
    await deleteContainer(store, req.id, true, req.warn);
    throw e;
  }
  if (opts.detach) return 0;
  const n = loadNative();
  const status = await waitChild(n, pid);
  stopRelay();
  if (!opts.keep) await deleteContainer(store, req.id, true, req.warn);
  return exitCodeFromWaitStatus(status, null);
}
