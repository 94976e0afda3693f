/**
 * Everything tests need around a registry, in one import:
 *
 * - registry-server.ts: a real registry (Debian's docker-registry) per test
 *   file, optionally behind htpasswd or token auth, with its token server;
 * - registry-push.ts: pushing test images and indexes (independently of
 *   nook's client, so that tests of the client do not rest on it);
 * - faulty-proxy.ts: a proxy that injects faults between client and registry;
 *
 * and here, the environment and child processes of such tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './paths';
import { tempDir } from './registry-server';

export * from './registry-server';
export * from './registry-push';
export * from './faulty-proxy';

/**
 * Points HOME and XDG_CONFIG_HOME at fresh directories (no real
 * ~/.docker/config.json or registries.json can leak in), clears
 * REGISTRY_AUTH_FILE and DOCKER_CONFIG, and makes retries fast. Returns the
 * restore function.
 */
export function isolateEnv(): { home: string; config: string; restore: () => void } {
  const keys = ['HOME', 'XDG_CONFIG_HOME', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG', 'NOOK_RETRY_BASE_MS', 'NOOK_REGISTRY_TIMEOUT_MS'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  const home = tempDir('nook-home-');
  const config = path.join(home, 'xdg-config');
  process.env.HOME = home;
  process.env.XDG_CONFIG_HOME = config;
  delete process.env.REGISTRY_AUTH_FILE;
  delete process.env.DOCKER_CONFIG;
  process.env.NOOK_RETRY_BASE_MS = '5';
  return {
    home,
    config,
    restore() {
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * Bundles a TypeScript snippet that imports nook's sources (paths relative
 * to the repository) into a script a plain `node` runs, for tests that need
 * separate processes. It lives under build/out/, so that nook's native parts
 * are found as in development.
 */
export async function bundleScript(source: string): Promise<{ file: string; remove: () => void }> {
  const esbuild = await import('esbuild');
  fs.mkdirSync(path.join(REPO, 'build', 'out'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(REPO, 'build', 'out', 'test-registry-'));
  const file = path.join(dir, 'script.js');
  await esbuild.build({
    stdin: { contents: source, resolveDir: REPO, loader: 'ts', sourcefile: 'registry-test-script.ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: file,
    logLevel: 'error',
  });
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
