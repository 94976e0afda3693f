/**
 * Runs `fn` over `items` with at most `limit` at a time. The first failure
 * aborts `cancel` (so that the other calls stop what they are doing) and no
 * new item starts; it rejects only once every call has ended, so that the
 * caller's cleanup (closing the store helpers, releasing the store lock)
 * never runs while a download or an upload still goes on.
 */
export async function eachLimited<T>(items: T[], limit: number, cancel: AbortController, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !cancel.signal.aborted) {
      try {
        await fn(items[next++]);
      } catch (e) {
        if (!failure) {
          failure = { error: e };
          cancel.abort(e);
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  cancel.signal.throwIfAborted();
}
