/**
 * Runs build-helper requests through BuildHelper in a process of its own, so
 * that a test can run them as an unprivileged test user (vitest itself runs
 * as root). Bundled by test/helpers/build-helper.ts; reads a JSON list of
 * steps on stdin and prints one result per step as JSON.
 */
import fs = require('node:fs');
import { BuildHelper } from '../../src/build/helper/client';
import type { CopyRequest, MkdirRequest, ResolveUserRequest } from '../../src/build/helper/protocol';
import { NookError } from '../../src/errors';

export type DriverStep =
  | { op: 'copy'; req: CopyRequest }
  | { op: 'mkdir'; req: MkdirRequest }
  | { op: 'resolveUser'; req: ResolveUserRequest };

export type DriverResult = { ok: unknown } | { error: string; hint?: string };

async function main(): Promise<void> {
  const steps = JSON.parse(fs.readFileSync(0, 'utf8')) as DriverStep[];
  const helper = new BuildHelper();
  const results: DriverResult[] = [];
  for (const step of steps) {
    try {
      const ok =
        step.op === 'copy' ? await helper.copy(step.req) : step.op === 'mkdir' ? await helper.mkdir(step.req) : await helper.resolveUser(step.req);
      results.push({ ok: ok ?? null });
    } catch (e) {
      results.push({ error: (e as Error).message, hint: e instanceof NookError ? e.hint : undefined });
    }
  }
  await helper.close();
  process.stdout.write(JSON.stringify(results));
}

void main();
