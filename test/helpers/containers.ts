/**
 * Detached containers in tests: each test's own state directory and image
 * store, and the nook commands the lifecycle tests share.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { scratchDir } from './files';
import { rootfs, runNook, show, type NookOptions, type NookResult } from './nook';
import { testUsers, type TestUser } from './users';

export interface Env {
  user: TestUser;
  state: string;
  store: string;
  opts: NookOptions;
  nook(args: string[], extra?: NookOptions): Promise<NookResult>;
}

export function env(user: TestUser = testUsers().any): Env {
  const state = path.join(scratchDir(user, 'state-'), 'run');
  const store = path.join(scratchDir(user, 'store-'), 'nook');
  const opts: NookOptions = { user, env: { NOOK_STATE_DIR: state, NOOK_ROOT: store }, timeoutMs: 30_000 };
  return { user, state, store, opts, nook: (args, extra = {}) => runNook(args, { ...opts, ...extra }) };
}

export const ID = /^[0-9a-f]{64}$/;

export async function ok(e: Env, args: string[]): Promise<string> {
  const r = await e.nook(args);
  expect(r.code, `nook ${args.join(' ')}\n${show(r)}`).toBe(0);
  return r.stdout;
}

/** `nook run -d --rootfs R FLAGS -- CMD`; returns the id it printed. */
export async function runDetached(e: Env, flags: string[], cmd: string[]): Promise<string> {
  const out = await ok(e, ['run', '-d', '--rootfs', rootfs(), ...flags, '--', ...cmd]);
  const id = out.trim();
  expect(id).toMatch(ID);
  return id;
}

export interface PsRow {
  Id: string;
  Names: string[];
  State: string;
  Status: string;
  ExitCode: number | null;
  Pid: number | null;
  RestartCount: number;
}

export async function ps(e: Env, all = true): Promise<PsRow[]> {
  return JSON.parse(await ok(e, ['ps', ...(all ? ['-a'] : []), '--format', 'json'])) as PsRow[];
}

export async function psRow(e: Env, name: string): Promise<PsRow | undefined> {
  return (await ps(e)).find((r) => r.Names.includes(name));
}

export function stateEntries(e: Env): string[] {
  const dir = path.join(e.state, 'containers');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}
