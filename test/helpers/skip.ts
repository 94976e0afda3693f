/**
 * Skipping with a reason: every skipped test says why (test/helpers/skip-reasons.ts
 * prints the reasons at the end of a run). In a test, `ctx.skip(why)`; for a
 * whole describe block, skipAllIf(why) as its first statement.
 */
import { beforeEach } from 'vitest';

/** In a describe block: when `why` is a string, skips each of the block's tests with that reason. */
export function skipAllIf(why: string | null | undefined | false): void {
  if (why) beforeEach((ctx) => ctx.skip(why));
}
