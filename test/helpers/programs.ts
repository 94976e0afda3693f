/**
 * Small static C programs for the busybox rootfs (test/helpers/NAME.c),
 * built once into build/out/test-NAME and rebuilt when the source changes.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './paths';

export function staticProgram(name: string): string {
  const src = path.join(REPO, 'test', 'helpers', `${name}.c`);
  const out = path.join(REPO, 'build', 'out', `test-${name}`);
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    execFileSync('cc', ['-static', '-O2', '-o', `${out}.tmp`, src]);
    fs.renameSync(`${out}.tmp`, out);
  }
  return out;
}
