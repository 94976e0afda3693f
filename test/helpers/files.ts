/**
 * Host-side scratch files for a test: directories that the test user may read
 * (and, when it owns them, write), all under one directory per test run that
 * the global setup removes at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inject } from 'vitest';
import { isRoot, type TestUser } from './users';

/** A new directory, mode 0755; owned by `owner` when given (so that it can write there). */
export function scratchDir(owner?: TestUser, prefix = 'd-'): string {
  const dir = fs.mkdtempSync(path.join(inject('scratch'), prefix));
  fs.chmodSync(dir, 0o755);
  if (owner && isRoot) fs.chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** Writes a file readable by everyone, owned by `owner` when given. */
export function writeFile(file: string, data: string | Buffer, owner?: TestUser): string {
  fs.writeFileSync(file, data, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  if (owner && isRoot) fs.chownSync(file, owner.uid, owner.gid);
  return file;
}
