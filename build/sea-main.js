// The single executable's main script: runs the bundle (a SEA asset) with the
// V8 code cache made at build time by build/code-cache.mjs, which holds the
// bytecode of everything `nook run` executes, not only the top level that
// Node's own SEA code cache compiles: lazy compilation of the run path cost
// more than the rest of nook's own JavaScript.
'use strict';
const sea = require('node:sea');
const vm = require('node:vm');
const source = sea.getAsset('nook.js', 'utf8');
const script = new vm.Script(source, {
  filename: 'nook.js',
  cachedData: new Uint8Array(sea.getRawAsset('nook.jsc')),
  // No importModuleDynamically: the bundle has no import() (code-cache.mjs checks), only require.
});
if (script.cachedDataRejected && process.env.NOOK_DEBUG_TIMING) require('node:fs').writeSync(2, 'nook timing: code cache rejected\n');
script.runInThisContext()(exports, require, module, __filename, __dirname);
