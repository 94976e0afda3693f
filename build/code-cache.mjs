// Makes the V8 code cache that build/sea-main.js gives the bundle.
//
// Node's own SEA code cache (useCodeCache) is made by compiling the main
// script without running it, so it holds the top level only: every function
// `nook run` calls was still parsed and compiled on every start (about 20 M
// instructions, most of what `nook run` adds to `nook --version`). Here the
// bundle is run once, as `nook run --rootfs DIR true` on a throwaway rootfs,
// and the cache is taken after that run, with the bytecode of everything it
// compiled. Nothing depends on the training succeeding: whatever did not run
// is compiled lazily at run time as before (a failed or skipped training only
// makes a smaller cache), and a cache V8 rejects is ignored.
//
//   node build/code-cache.mjs [BUNDLE]   (with the Node that goes into the executable)
// writes BUNDLE (default build/out/nook.js) as a function to build/out/nook.sea.js,
// and the cache to build/out/nook.jsc (for another BUNDLE: next to it, .sea.js and .jsc).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { root } from './native-assets.mjs';

const out = path.join(root, 'build/out');
const bundle = path.resolve(process.argv[2] ?? path.join(out, 'nook.js'));
const stem = bundle.replace(/\.js$/, '');
// The shape of Node's CommonJS wrapper; sea-main.js calls it with its own arguments.
const text = readFileSync(bundle, 'utf8');
// A vm.Script without importModuleDynamically cannot import(): the executable would fail only when it got there.
const dynamicImport = /\bimport\(\s*["'`]/.exec(text);
if (dynamicImport) throw new Error(`${bundle} has an import() at ${dynamicImport.index}: use require() for Node's modules`);
const source = `(function (exports, require, module, __filename, __dirname) {${text}\n})`;
writeFileSync(`${stem}.sea.js`, source);

const work = mkdtempSync(path.join(os.tmpdir(), 'nook-code-cache-'));
const cacheFile = `${stem}.jsc`;
const script = new vm.Script(source, { filename: 'nook.js' });
let written = false;
function writeCache(how) {
  if (written) return;
  written = true;
  const data = script.createCachedData();
  writeFileSync(cacheFile, data);
  rmSync(work, { recursive: true, force: true });
  console.log(`code cache: ${data.length} bytes (${how})`);
}
process.on('exit', (code) => writeCache(`training run exited with ${code}`));
// A training run that waits on something forever (it should not) must not hang the build.
setTimeout(() => {
  writeCache('training run timed out after 60 s');
  process.exit(0);
}, 60_000).unref();

// A rootfs with a static `true` of a few instructions (no libc to copy in).
const rootfs = path.join(work, 'rootfs');
for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'etc']) mkdirSync(path.join(rootfs, d), { recursive: true });
writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\n');
const asm = { x64: 'mov $60, %eax; xor %edi, %edi; syscall', arm64: 'mov x8, #93; mov x0, #0; svc #0' }[process.arch];
try {
  writeFileSync(path.join(work, 'true.c'), `void _start(void) { __asm__ volatile("${asm}"); }\n`);
  execFileSync('cc', ['-static', '-nostdlib', '-O2', '-o', path.join(rootfs, 'bin/true'), path.join(work, 'true.c')], { stdio: 'inherit' });
} catch {
  console.log('code cache: no static `true` for the training rootfs; training on the failing path');
}

// _exit() (how nook leaves after a sandbox ran) would skip the 'exit' event: take the cache first.
const dlopen = process.dlopen;
process.dlopen = function (mod, file, ...rest) {
  const r = dlopen.call(this, mod, file, ...rest);
  if (!String(file).endsWith('koffi.node')) return r;
  const koffi = mod.exports;
  const load = koffi.load;
  koffi.load = (...args) => {
    const lib = load.apply(koffi, args);
    return new Proxy(lib, {
      get(target, prop) {
        const v = target[prop];
        if (prop !== 'func') return typeof v === 'function' ? v.bind(target) : v;
        return (sig, ...more) => {
          const fn = v.call(target, sig, ...more);
          return /\b_exit\b/.test(sig) ? (code) => (writeCache(`training run exited with ${code}`), fn(code)) : fn;
        };
      },
    });
  };
  return r;
};

for (const k of Object.keys(process.env)) if (k.startsWith('NOOK_')) delete process.env[k];
Object.assign(process.env, { HOME: work, XDG_CACHE_HOME: path.join(work, 'cache'), XDG_DATA_HOME: path.join(work, 'data'), XDG_RUNTIME_DIR: work });
process.argv = [process.execPath, 'nook', 'run', '--rootfs', rootfs, 'true'];
script.runInThisContext()({}, createRequire(bundle), { exports: {} }, bundle, path.dirname(bundle));
