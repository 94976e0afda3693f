// Helpers shared by the benchmarks (bench.mjs: start-up, images.mjs: pull and
// run from an image): the unprivileged user they run everything as, running
// and timing commands as that user, /dev/net/tun for pasta and slirp4netns,
// the busybox rootfs, rootless podman's scratch space and its cgroup
// workaround (or runc behind the tun wrapper), the interleaved measuring loop,
// statistics, argument parsing, and cleanup that also runs on Ctrl-C.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUN_TIMEOUT_MS = 60_000;
export const CGROUP2_HYBRID = '/sys/fs/cgroup/unified';
const BENCH_USER = 'nookbench';
const SUBID_START = 300000;
const SUBID_COUNT = 65536;

// ---------------------------------------------------------------- messages

let NAME = 'bench';
/** The prefix of every message on stderr. */
export function setName(name) {
  NAME = name;
}

export function die(msg, code = 1) {
  process.stderr.write(`${NAME}: ${msg}\n`);
  runCleanup();
  process.exit(code);
}

export function progress(msg) {
  process.stderr.write(`${NAME}: ${msg}\n`);
}

// ---------------------------------------------------------------- arguments

/**
 * The flags every benchmark has (--runs, --warmup, --format/--json, --nook,
 * --help) plus `flags`: { '--name': { key, int } }. Both `--x N` and `--x=N`.
 */
export function parseArgs(argv, { usage, defaults, flags = {} }) {
  const opts = { format: 'table', nook: path.join(REPO, 'build', 'nook'), ...defaults };
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
      default: {
        const spec = Object.hasOwn(flags, a) ? flags[a] : null;
        if (!spec) die(`unknown argument ${a}\n${usage()}`, 2);
        opts[spec.key] = spec.int ? intArg(a, next()) : next();
      }
    }
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) die(`the number of runs must be at least 1 (got ${opts.runs})`, 2);
  if (!['table', 'json'].includes(opts.format)) die(`--format is table or json, not ${opts.format}`, 2);
  return opts;
}

// ---------------------------------------------------------------- cleanup

const cleanups = [];
/** Registers fn to run at the end, on failure and on Ctrl-C; the last registered runs first. */
export function onCleanup(fn) {
  cleanups.push(fn);
}
export function runCleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      fn();
    } catch (e) {
      process.stderr.write(`${NAME}: cleanup: ${e.message}\n`);
    }
  }
}
// Handlers run between benchmark runs (see tick), not during a spawnSync.
export const tick = () => new Promise((resolve) => setImmediate(resolve));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`${NAME}: ${sig}, cleaning up\n`);
    runCleanup();
    process.exit(128 + (os.constants.signals[sig] ?? 2));
  });
}

// ---------------------------------------------------------------- helpers

export function firstLine(s) {
  const line = String(s ?? '').split('\n').map((l) => l.trim()).find((l) => l.length > 0);
  return line ?? '';
}

/** The first line of an error output, passing over warnings (podman's WARN[0000] ...) when an error line follows. */
export function errorLine(s) {
  const lines = String(s ?? '').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.find((l) => /\berror\b/i.test(l)) ?? lines[0] ?? '';
}

/** Absolute path of an executable, from the usual system directories. */
export function which(name) {
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
export function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r;
}

export function whyFailed(r, timeoutMs = RUN_TIMEOUT_MS) {
  if (r.error) return r.error.code === 'ETIMEDOUT' ? `timed out after ${timeoutMs / 1000} s` : r.error.message;
  const line = errorLine(r.stderr) || firstLine(r.stdout);
  const how = r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return line ? `${line} (${how})` : how;
}

export function ok(r) {
  return !r.error && r.status === 0 && !r.signal;
}

// ---------------------------------------------------------------- the user

/** Who runs the commands: the current user, or `nookbench` when we are root. Set by initUser(). */
export let USER;

export function initUser() {
  USER = benchUser();
  return USER;
}

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

export function userEnv(extra = {}) {
  return { HOME: USER.home, USER: USER.name, LOGNAME: USER.name, PATH: '/usr/bin:/bin', ...extra };
}

export function spawnOpts(env, stdio) {
  const o = { env, cwd: '/tmp', stdio, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' };
  if (USER.asRoot) {
    o.uid = USER.uid;
    o.gid = USER.gid;
  }
  return o;
}

/** Runs argv as the user, capturing output (for setup and first tries). */
export function runAs(argv, env = userEnv(), extra = {}) {
  return spawnSync(argv[0], argv.slice(1), { ...spawnOpts(env, ['ignore', 'pipe', 'pipe']), encoding: 'utf8', ...extra });
}

/** One timed run as the user; returns milliseconds and the result. */
export function timeAs(argv, env, extra = {}) {
  const opts = { ...spawnOpts(env, 'ignore'), ...extra };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), opts);
  const t1 = process.hrtime.bigint();
  return { ms: Number(t1 - t0) / 1e6, r };
}

/** Removes what a run left; as root plain rm, otherwise read-only directories are made writable first. */
export function removeTree(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    runAs(['/bin/chmod', '-R', 'u+rwX', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Makes a directory that belongs to the user. */
export function userDir(dir, mode = 0o700) {
  fs.mkdirSync(dir, { mode, recursive: true });
  fs.chmodSync(dir, mode);
  if (USER.asRoot) fs.chownSync(dir, USER.uid, USER.gid);
  return dir;
}

/** nook and node must be executable by the user; copy them next to the rootfs when they are not (a repo under /root). */
export function reachable(exe, work, binName) {
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

// ---------------------------------------------------------------- /dev/net/tun

/**
 * How to run commands that open /dev/net/tun (pasta, slirp4netns, and podman
 * through them) as the user: as they are where the host's node is 0666; as
 * root otherwise, through a private mount namespace with a 0666 node of the
 * bench's own (in work) bound over /dev/net/tun, the host's untouched, then
 * setpriv to the user. Returns { wrap(argv), spawn (spawn options of the
 * wrapped argv), suffix (for labels) } or { skip: why }. Rows being compared
 * should all go through the same wrapper, so that only the network differs.
 */
export function tunAccess(work) {
  const open = (() => {
    try {
      return (fs.statSync('/dev/net/tun').mode & 0o006) === 0o006;
    } catch {
      return false;
    }
  })();
  if (open) return { wrap: (argv) => argv, spawn: {}, suffix: '' };
  if (!USER.asRoot) return { skip: '/dev/net/tun is not 0666 (run the bench as root to give the user a node of its own)' };
  const node = path.join(work, 'tun');
  const r = sh('/usr/bin/mknod', ['-m', '0666', node, 'c', '10', '200']);
  if (r.status !== 0) return { skip: `mknod ${node}: ${whyFailed(r)}` };
  fs.chmodSync(node, 0o666); // past the umask
  const wrap = (argv) => ['/usr/bin/unshare', '-m', '--propagation', 'private', '--', '/bin/sh', '-c',
    'mount --bind "$0" /dev/net/tun && u=$1 g=$2 && shift 2 && exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"', node, String(USER.uid), String(USER.gid), ...argv];
  return { wrap, spawn: { uid: 0, gid: 0 }, suffix: ' (0666 tun wrapper)' };
}

// ---------------------------------------------------------------- the rootfs

export function findBusybox() {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) die('no /bin/busybox: install busybox-static (apt-get install busybox-static)');
  return busybox;
}

/** A busybox rootfs in work/rootfs: /bin/busybox and a symlink per applet, /etc/passwd and /etc/group. */
export function buildRootfs(work) {
  const busybox = findBusybox();
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

// ---------------------------------------------------------------- podman

export function isHybridError(s) {
  return /hybrid mode/i.test(s);
}

/**
 * Rootless podman with everything it keeps under work/podman: without
 * XDG_RUNTIME_DIR it would make /tmp/podman-run-UID and
 * /tmp/containers-user-UID, even for --version. ctx.global are the storage
 * flags (the caller may add --storage-driver); ctx.pod(...args) an argv.
 */
export function podmanContext(work, { dir = 'podman', tun = null } = {}) {
  const podman = which('podman');
  if (!podman) return null;
  const P = userDir(path.join(work, dir));
  for (const d of ['xdg-runtime', 'xdg-config', 'xdg-data', 'xdg-cache']) userDir(path.join(P, d));
  const env = userEnv({
    XDG_RUNTIME_DIR: path.join(P, 'xdg-runtime'),
    XDG_CONFIG_HOME: path.join(P, 'xdg-config'),
    XDG_DATA_HOME: path.join(P, 'xdg-data'),
    XDG_CACHE_HOME: path.join(P, 'xdg-cache'),
  });
  const ctx = { podman, P, env, version: firstLine(runAs(tun ? tun.wrap([podman, '--version']) : [podman, '--version'], env, tun?.spawn ?? {}).stdout) };
  ctx.base = ['--root', path.join(P, 'root'), '--runroot', path.join(P, 'run'), '--tmpdir', path.join(P, 'libpod-tmp')];
  ctx.global = ctx.base;
  // With tun (see tunAccess), every podman command runs through its wrapper,
  // ctx.spawn being the spawn options that go with it. The first one starts
  // podman's pause process, whose user and mount namespaces every later one
  // joins: born inside the wrapper, it keeps the 0666 node for all of them
  // (a pause process started outside would hide it, whatever wraps later).
  ctx.spawn = tun?.spawn ?? {};
  ctx.pod = (...args) => (tun ? tun.wrap : (a) => a)([podman, ...ctx.global, ...args]);
  // Remove the storage (files owned by subordinate ids) from inside podman's
  // user namespace, then end the pause process that keeps that namespace.
  onCleanup(() => {
    runAs(ctx.pod('unshare', 'rm', '-rf', path.join(P, 'root'), path.join(P, 'run')), env, ctx.spawn);
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
  return ctx;
}

/**
 * Tries `podman run --rm IMAGE true` invocations until one works, recording
 * each in info.attempts. crun refuses to run on a cgroup v1/v2 hybrid host
 * whose v2 hierarchy has a controller, whatever the cgroup manager; the last
 * resort hides that hierarchy behind a tmpfs in podman's own rootless mount
 * namespace (kept by its pause process), where crun then sees plain v1.
 * Returns { argv, note? } or { fail }.
 */
export function findPodmanRun(ctx, info, image) {
  const variants = [
    { global: [], run: [] },
    { global: ['--cgroup-manager', 'cgroupfs'], run: [] },
    { global: [], run: ['--cgroups', 'disabled'] },
    { global: ['--cgroup-manager', 'cgroupfs'], run: ['--cgroups', 'disabled'] },
  ];
  const runArgv = (v) => [...ctx.pod(...v.global, 'run', '--rm', '--network', 'none', ...v.run, image, 'true')];
  let firstError = null;
  let sawHybrid = false;
  const tryRun = (v, label) => {
    const argv = runArgv(v);
    progress(`podman: trying ${label}`);
    const r = runAs(argv, ctx.env);
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
    if (argv) return { argv };
  }
  if (sawHybrid && fs.existsSync(CGROUP2_HYBRID)) {
    const argv = ctx.pod('unshare', 'mount', '-t', 'tmpfs', 'nookbench-hide-cgroup2', CGROUP2_HYBRID);
    const r = runAs(argv, ctx.env);
    info.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r) });
    if (ok(r)) {
      info.workaround = `tmpfs over ${CGROUP2_HYBRID} in podman's rootless mount namespace (podman unshare mount ...): crun then sees a cgroup v1 host`;
      for (const v of [variants[0], variants[2]]) {
        const ran = tryRun(v, `${label(v)} with cgroup v2 hidden`);
        if (ran) return { argv: ran, note: 'cgroup v2 hidden from crun (see the podman section)' };
      }
    }
  }
  return { fail: firstError };
}

/**
 * Rootless podman for the network rows (containers.mjs, ports.mjs): its own
 * scratch space (dir) whose every command goes through tun's wrapper (see
 * podmanContext), runc as its runtime (crun refuses a cgroup hybrid host; runc
 * needs no cgroup workaround, which would hide nothing from the pause process
 * born here anyway), vfs storage, and R imported as `image`.
 * Returns { ctx } or { fail } or { skip }.
 */
export function podmanNetContext(work, tun, R, image, dir = 'podman-net') {
  if (tun.skip) return { skip: tun.skip };
  const ctx = podmanContext(work, { dir, tun });
  if (!ctx) return { skip: 'not installed' };
  ctx.global = [...ctx.base, '--storage-driver', 'vfs', '--runtime', 'runc'];
  const tarball = path.join(ctx.P, 'rootfs.tar');
  const t = runAs(['/usr/bin/tar', '-C', R, '-cf', tarball, '.'], ctx.env);
  if (!ok(t)) return { fail: `tar: ${whyFailed(t)}` };
  const imp = runAs(ctx.pod('import', tarball, image), ctx.env, { ...ctx.spawn, timeout: 300_000 });
  if (!ok(imp)) return { fail: `podman import: ${whyFailed(imp)}` };
  return { ctx };
}

/**
 * The network `podman run` gives a container here: pasta where podman has it
 * (4.4 and later), else slirp4netns (podman 4.3: "unable to find network with
 * name or ID pasta"). Returns { mode, note? } or { fail }, each try in info.attempts.
 */
export function podmanNetMode(ctx, image, info) {
  let firstError = null;
  for (const mode of ['pasta', 'slirp4netns']) {
    const argv = ctx.pod('run', '--rm', '--network', mode, image, 'true');
    progress(`podman: trying --runtime runc run --network ${mode}`);
    const r = runAs(argv, ctx.env, ctx.spawn);
    info.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r) });
    if (ok(r)) return { mode, note: mode === 'pasta' ? undefined : `no pasta in this podman (${firstError}): slirp4netns` };
    firstError ??= whyFailed(r);
  }
  return { fail: firstError };
}

// ---------------------------------------------------------------- measuring

/**
 * Measures rows ({ label, argv, env } or a skip/fail reason): first one try
 * each (a failure is reported and the row dropped; rows with `tried` set were
 * tried already), then warm-up and measured rounds, interleaved, each round
 * starting one row later. row.before() and row.after(), when given, run
 * around every run, untimed (e.g. to make and remove a fresh destination);
 * row.timeout (ms) replaces the usual limit of a run; row.spawn adds spawn options (uid/gid).
 * Fills row.status, row.samples (ms) and row.fail.
 */
export async function measure(rows, { warmup, runs, every = 10 }) {
  for (const row of rows) {
    row.samples = [];
    if (row.fail) row.status = 'failed';
    else if (row.skip) row.status = 'skipped';
    else row.status = 'ok';
  }
  // row.spawn: spawn options of its own (a row that starts as root and drops to the user itself).
  const limit = (row) => ({ ...(row.timeout ? { timeout: row.timeout } : {}), ...(row.spawn ?? {}) });
  const why = (row, r) => whyFailed(r, row.timeout);
  const once = (row) => {
    row.before?.();
    try {
      return runAs(row.argv, row.env, limit(row));
    } finally {
      row.after?.();
    }
  };
  for (const row of rows) {
    if (row.status !== 'ok' || row.tried) continue;
    const r = once(row);
    if (!ok(r)) {
      row.status = 'failed';
      row.fail = why(row, r);
      progress(`${row.label} failed: ${row.fail}`);
    }
    await tick();
  }

  const live = () => rows.filter((r) => r.status === 'ok');
  const total = warmup + runs;
  progress(`measuring ${live().length} commands: ${warmup} warm-up + ${runs} runs each, interleaved`);
  for (let round = 0; round < total; round++) {
    const active = live();
    if (active.length === 0) break;
    for (let k = 0; k < active.length; k++) {
      const row = active[(round + k) % active.length];
      if (row.status !== 'ok') continue;
      row.before?.();
      const { ms, r } = timeAs(row.argv, row.env, limit(row));
      row.after?.();
      await tick(); // lets a pending SIGINT/SIGTERM handler run (and clean up) before a command it reached too is blamed
      if (!ok(r)) {
        row.status = 'failed';
        const again = once(row);
        row.fail = `${round < warmup ? `warm-up run ${round + 1}` : `measured run ${round - warmup + 1}`} failed (${why(row, r)})` + (ok(again) ? '' : `; rerun: ${why(row, again)}`);
        progress(`${row.label}: ${row.fail}`);
        continue;
      }
      if (round >= warmup) row.samples.push(ms);
    }
    if ((round + 1) % every === 0 || round + 1 === total) progress(`round ${round + 1}/${total}`);
  }
  for (const row of rows) if (row.status === 'ok' && row.samples.length) row.stats = stats(row.samples);
}

// ---------------------------------------------------------------- statistics and output

export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const p90 = s[Math.min(n - 1, Math.ceil(0.9 * n) - 1)];
  return { n, median, mean, p90, min: s[0], max: s[n - 1] };
}

export const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

export function fmtRatio(x) {
  if (x == null || !Number.isFinite(x)) return '';
  if (x < 10) return `${x.toFixed(2)}×`;
  return `${x.toFixed(1)}×`;
}

/** Aligned table lines: a row of two cells is a label and a message across the other columns. w: the column widths. */
export function tableLines(header, table) {
  const w = header.map((h, i) => Math.max(h.length, ...table.filter((t) => t.length > 2).map((t) => (t[i] ?? '').length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[0]) : c.padStart(w[i]))).join('  ');
  const lines = [line(header), w.map((n) => '-'.repeat(n)).join('  ')];
  for (const t of table) lines.push(t.length > 2 ? line(t) : `${t[0].padEnd(w[0])}  ${t[1]}`);
  return { w, lines };
}

export function cgroupMode() {
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

export function machineInfo() {
  return {
    kernel: `${os.type()} ${os.release()}`,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? null,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    cgroups: cgroupMode(),
    node: process.version,
  };
}
