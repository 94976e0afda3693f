/**
 * build/lint-imports.mjs, the import-boundary check `make lint` and
 * test/run-all.sh run: it passes on the repository, and fails naming the
 * files on a planted violation and a planted cycle in a scratch tree.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lint as lintIn } from '../../build/lint-imports.mjs';

const LINTER = path.resolve(__dirname, '../../build/lint-imports.mjs');

function lint(root?: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [LINTER, ...(root ? ['--root', root] : [])], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-lint-'));
  dirs.push(root);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
  return root;
}

describe('lint-imports', () => {
  it('passes on the repository', () => {
    const r = lint();
    expect(r.out).toMatch(/no boundary violations, no cycles/);
    expect(r.code).toBe(0);
  });

  it('passes on a clean tree: the CLI imports the domain, type-only cycles, comments and packages', () => {
    const root = tree({
      'src/cli/main.ts': "import { a } from '../container/a';\nimport fs = require('node:fs');\n// import { x } from '../nowhere';\n",
      'src/container/a.ts': "import type { B } from './b';\nexport const a = 1;\n",
      'src/container/b.ts': "/* import '../cli/main'; */\nimport { a } from './a';\nexport type B = typeof a;\nconst url = 'http://x//y';\n",
    });
    const r = lint(root);
    expect(r.out).toMatch(/3 files, no boundary violations, no cycles/);
    expect(r.code).toBe(0);
  });

  it('fails on a module outside src/cli that imports the CLI, naming the file and line', () => {
    const root = tree({
      'src/cli/images.ts': 'export function ago(): string { return ""; }\n',
      'src/container/status.ts': "/** doc */\nimport { ago } from '../cli/images';\nexport const s = ago;\n",
      'ffi/native.ts': "export async function f() { return (await import('../src/cli/images')).ago; }\n",
    });
    const r = lint(root);
    expect(r.code).toBe(1);
    expect(r.out).toContain('src/container/status.ts:2: imports src/cli/images.ts');
    expect(r.out).toContain('ffi/native.ts:1: imports src/cli/images.ts');
    // A type-only import is a dependency on the CLI all the same.
    const typed = lint(tree({ 'src/cli/x.ts': 'export type X = 1;\n', 'src/image/y.ts': "import type { X } from '../cli/x';\n" }));
    expect(typed.code).toBe(1);
    expect(typed.out).toContain('src/image/y.ts:1: imports src/cli/x.ts');
  });

  it('fails on an import cycle, static or through import() and require(), naming its files', () => {
    const root = tree({
      'src/cli/ps.ts': "import { ago } from './images';\nexport const ps = ago;\n",
      'src/cli/images.ts': "export function ago() { return require('./inspect'); }\n",
      'src/cli/inspect.ts': "export async function i() { return import('./ps'); }\n",
      'src/util/self.ts': "export * from './self';\n",
      // No semicolons: an `export type T = ...` just before an import must not make that import look type-only.
      'src/image/a.ts': "export type T = {\n  a: string\n}\nimport { b } from './b'\nexport const a = b\n",
      'src/image/b.ts': "import {\n  a,\n} from './a'\nexport const b = () => a\n",
    });
    const r = lint(root);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/import cycle: src\/cli\/images\.ts -> src\/cli\/inspect\.ts -> src\/cli\/ps\.ts -> src\/cli\/images\.ts/);
    expect(r.out).toContain('import cycle: src/util/self.ts -> src/util/self.ts');
    expect(r.out).toContain('import cycle: src/image/a.ts -> src/image/b.ts -> src/image/a.ts');
  });

  it('allows exactly the cycles it is told to, and says when one is gone', () => {
    const cycle = {
      'src/cli/run.ts': "export async function r() { return import('./run-container'); }\n",
      'src/cli/run-container.ts': "import { r } from './run';\nexport async function c() { return [r, await import('./run-image')]; }\n",
      'src/cli/run-image.ts': "import { r } from './run';\nexport const i = r;\n",
    };
    const allowed = [['src/cli/run.ts', 'src/cli/run-container.ts', 'src/cli/run-image.ts']];
    // The repository allows none (the run.ts cycle of issue 13 is gone): such a loop fails there.
    expect(lint(tree(cycle)).code).toBe(1);
    expect(lintIn(tree(cycle), allowed).problems).toEqual([]);
    // A fourth file joining the loop makes it another cycle, which is not allowed.
    const joined = lintIn(tree({ ...cycle, 'src/cli/exec.ts': "import { c } from './run-container';\nexport const e = c;\n", 'src/cli/run.ts': "import './exec';\nexport async function r() { return import('./run-container'); }\n" }), allowed);
    expect(joined.problems.join('\n')).toContain('src/cli/exec.ts');
    // Fixed: the entry must go.
    const fixed = lintIn(tree({ ...cycle, 'src/cli/run-image.ts': 'export const i = 1;\n', 'src/cli/run-container.ts': "export async function c() { return import('./run-image'); }\n" }), allowed);
    expect(fixed.problems.join('\n')).toMatch(/allowed cycle .* is gone: delete its ALLOWED_CYCLES entry/);
  });
});
