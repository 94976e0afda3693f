/**
 * `nook build` in tests: a base image imported from the busybox test rootfs
 * into a test's own store, and build contexts written as the test user.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import type { Env } from './containers';
import { scratchDir, writeFile } from './files';
import { rootfs, show, type NookResult } from './nook';
import { isRoot } from './users';

/** Imports the busybox test rootfs as `name` into the test's store. */
export async function importBase(e: Env, name = 'base:1'): Promise<void> {
  const dir = scratchDir(e.user, 'base-');
  const tar = path.join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs(), '--numeric-owner', '-cf', tar, '.']);
  fs.chmodSync(tar, 0o644);
  // A fixed time: the same rootfs gives the same base image in every store (reproducibility tests compare ids).
  const r = await e.nook(['import', '--message', 'the busybox test rootfs', tar, name], { env: { ...e.opts.env, SOURCE_DATE_EPOCH: '1600000000' } });
  expect(r.code, show(r)).toBe(0);
}

/** A build context owned by the test user: file name → contents (a trailing / makes a directory). */
export function makeContext(e: Env, files: Record<string, string | Buffer>): string {
  const dir = scratchDir(e.user, 'ctx-');
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (name.endsWith('/')) fs.mkdirSync(p, { recursive: true });
    else writeFile(p, content, e.user);
  }
  if (isRoot) execFileSync('chown', ['-R', `${e.user.uid}:${e.user.gid}`, dir]);
  return dir;
}

export async function build(e: Env, context: string, args: string[] = [], extra: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<NookResult> {
  return e.nook(['build', ...args, context], { timeoutMs: extra.timeoutMs ?? 60_000, input: extra.input, env: { ...e.opts.env, ...extra.env } });
}

/** A build that must succeed; returns the image id it printed last. */
export async function buildOk(e: Env, context: string, args: string[] = [], extra: { env?: Record<string, string> } = {}): Promise<{ id: string; r: NookResult }> {
  const r = await build(e, context, args, extra);
  expect(r.code, show(r)).toBe(0);
  const id = r.stdout.trim().split('\n').pop()!;
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  return { id, r };
}
