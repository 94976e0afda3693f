/**
 * The helper's side of helper-channel.ts (`nook __store-helper`,
 * `__build-helper`, `__cp-helper`, each root of a user namespace): requests
 * as JSON lines on stdin, one at a time; replies as JSON lines on fd 3.
 */
import fs = require('node:fs');
import readline = require('node:readline');
import { loadNative } from '../../ffi/native';
import { NookError } from '../errors';

const REPLY_FD = 3;

/** One reply line to nook: written synchronously, so all are out before the helper leaves. */
export function replyToNook(r: { id: number; event: string }): void {
  fs.writeSync(REPLY_FD, `${JSON.stringify(r)}\n`);
}

/**
 * Runs `handle` on each request until stdin ends; `handle` replies itself
 * ('done', with what it has to say), and a failure is replied as 'error'
 * with `describe`'s message and a NookError's hint.
 */
export async function serveHelperRequests<Req extends { id: number }>(
  handle: (req: Req) => Promise<void>,
  describe: (e: Error) => string = (e) => e.message,
): Promise<number> {
  const lines = readline.createInterface({ input: fs.createReadStream('', { fd: 0 }) });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as Req;
    try {
      await handle(req);
    } catch (e) {
      const err = e as Error;
      replyToNook({ id: req.id, event: 'error', message: describe(err), hint: err instanceof NookError ? err.hint : undefined } as { id: number; event: string });
    }
  }
  // Leave with _exit() (main.ts does, once the native module is loaded): every reply went out
  // synchronously, and Node's own exit can hang joining a V8 worker that waits for a garbage
  // collection which never comes (seen after a refused decompression bomb: 100 MB of buffers).
  loadNative();
  return 0;
}
