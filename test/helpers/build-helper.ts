/**
 * Runs nook's build helper for real as a test user: BuildHelper (the engine's
 * client) bundled with test/helpers/build-driver.ts into build/out, started
 * with Node as that user; it starts build/nook (NOOK_SELF) as root of a user
 * namespace with the user's id mapping, exactly as `nook build` does.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { build } from 'esbuild';
import { NOOK, REPO } from './paths';
import { cleanEnv, spawnIdentity, type TestUser } from './users';
import type { DriverResult, DriverStep } from './build-driver';

export type { DriverResult, DriverStep };

const DRIVER = path.join(REPO, 'build/out/test-build-driver.js');
const NODE = process.execPath;

/** Bundles the driver (once per test file). */
export async function bundleDriver(): Promise<void> {
  await build({
    entryPoints: [path.join(REPO, 'test/helpers/build-driver.ts')],
    outfile: DRIVER,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    external: ['koffi'],
    logLevel: 'warning',
  });
}

/** The steps' results, run by `user` through one build helper. */
export function runSteps(user: TestUser, steps: DriverStep[]): DriverResult[] {
  const r = spawnSync(NODE, [DRIVER], {
    ...spawnIdentity(user),
    cwd: '/tmp',
    env: { ...cleanEnv(user), NOOK_SELF: NOOK },
    input: JSON.stringify(steps),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`the build driver failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as DriverResult[];
}
