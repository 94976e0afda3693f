/**
 * Runs once per `vitest run`, in the main process: checks that build/nook
 * exists, creates the test users (as root), builds the busybox rootfs and a
 * scratch directory, which the test files get through inject().
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { NOOK } from './paths';
import { buildRootfs, removeRootfs } from './rootfs';
import { setupUsers } from './users';

declare module 'vitest' {
  export interface ProvidedContext {
    rootfs: string;
    scratch: string;
  }
}

export default function setup(project: TestProject): () => void {
  if (!fs.existsSync(NOOK)) throw new Error(`${NOOK} is missing: run \`make\` in the repository first`);
  setupUsers();
  const rootfs = buildRootfs();
  project.provide('rootfs', rootfs);
  // Host files for the tests (bind sources, env files, copies of nook): readable by the test users.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-it-scratch-'));
  fs.chmodSync(scratch, 0o755);
  project.provide('scratch', scratch);
  return () => {
    removeRootfs(rootfs);
    fs.rmSync(scratch, { recursive: true, force: true });
  };
}
