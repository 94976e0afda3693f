// Bundles src/ and ffi/ into one CommonJS file for the executable.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root, nativeId } from './native-assets.mjs';

const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

await build({
  entryPoints: [path.join(root, 'src/cli/main.ts')],
  outfile: path.join(root, 'build/out/nook.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  minify: true,
  legalComments: 'none',
  // koffi is loaded from its .node file directly (ffi/native.ts); only its types are imported.
  external: ['koffi'],
  define: {
    NOOK_VERSION: JSON.stringify(version),
    NOOK_NATIVE_ID: JSON.stringify(nativeId()),
  },
  logLevel: 'warning',
});
