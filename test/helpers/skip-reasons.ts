/**
 * A vitest reporter (test/run-all.sh adds it) that ends a run with why tests
 * were skipped: each reason once, with how many tests it skipped. A skipped
 * test without a reason is listed by name, so that none goes unexplained.
 */
import * as path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class SkipReasons implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, number>();
    for (const m of modules) {
      for (const t of m.children.allTests('skipped')) {
        const r = t.result();
        const note = r.state === 'skipped' ? r.note : undefined;
        const why = note ?? `no reason given: ${path.relative(process.cwd(), m.moduleId)} > ${t.fullName}`;
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      }
    }
    if (reasons.size === 0) return;
    const total = [...reasons.values()].reduce((a, b) => a + b, 0);
    const lines = [...reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([why, n]) => `  ${String(n).padStart(4)}  ${why}`);
    process.stdout.write(`\n${total} skipped:\n${lines.join('\n')}\n`);
  }
}
