/**
 * NOOK_DEBUG_TIMING=1 prints how long each start-up phase took, on stderr,
 * for finding where `nook run` spends its milliseconds.
 */
import fs = require('node:fs');

const enabled = Boolean(process.env.NOOK_DEBUG_TIMING);
let last = 0;

export function mark(label: string): void {
  if (!enabled) return;
  const now = performance.now();
  fs.writeSync(2, `nook timing: ${label.padEnd(24)} +${(now - last).toFixed(2)} ms (at ${now.toFixed(2)} ms)\n`);
  last = now;
}
