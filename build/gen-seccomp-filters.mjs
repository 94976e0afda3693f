// Writes src/sandbox/seccomp/default-filters.ts: docker's default seccomp
// profile compiled to BPF ahead of time (by the same compileSeccomp that
// nook runs), so that `nook run` only decodes it. Run by `make
// seccomp-filters` after a change to the profile, the compiler or the
// syscall tables; test/unit/seccomp-precompiled.test.ts fails until then.
//
//   node build/gen-seccomp-filters.mjs [--check]   (--check: exit 1 if the file is not current)
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { root } from './native-assets.mjs';

const target = path.join(root, 'src/sandbox/seccomp/default-filters.ts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'nook-seccomp-gen-'));
try {
  const outfile = path.join(tmp, 'gen.cjs');
  await build({
    stdin: {
      contents: `export { generateDefaultFilters } from './src/sandbox/seccomp/generate';`,
      resolveDir: root,
      loader: 'ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'warning',
  });
  const text = createRequire(outfile)(outfile).generateDefaultFilters();
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== text) {
      console.error(`${path.relative(process.cwd(), target)} is not current: run make seccomp-filters`);
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
