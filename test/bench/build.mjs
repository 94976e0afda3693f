#!/usr/bin/env node
// Build benchmark: `nook build` of a 10-step Dockerfile on the busybox image
// (RUN steps that make and delete files, a COPY of a 50 MB context, a RUN
// that checksums the copied files, metadata steps), cold and fully cached,
// next to `buildah bud` and `podman build`.
//
//   make bench          (runs this after the start-up, image and container benchmarks)
//   node test/bench/build.mjs [--runs N] [--warmup N] [--context-mb N] [--no-copy] [--format table|json] [--nook PATH]
//
// It starts Debian's docker-registry on a free port of 127.0.0.1 and pushes a
// one-layer busybox image to it; every tool pulls that base into its storage
// before the timing, so that a cold build measures building, not pulling.
// The context is made here from seeded generators (the same bytes every
// time). Every command runs as an unprivileged user, like the other
// benchmarks; everything lives in one temporary directory that is removed at
// the end, also on Ctrl-C.
//   cold:   nook: a fresh store holding only the base, and --no-cache;
//           buildah/podman: --layers --no-cache in a storage reset to only the
//           base (rmi --all, then the base pulled again) before every run.
//   cached: the same storage every run, after one build that filled the cache.
// Exit status: 0 even when a goal is missed (this is a report), 1 when nook
// fails or builds the wrong thing, or the benchmark cannot be set up, 2 on bad usage.
import * as crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MB, TAG, contentSource, pushImage, startRegistry, tarLayer } from './bench-registry.mjs';
import {
  USER, buildRootfs, die, firstLine, fmtRatio, initUser, machineInfo, measure, ok, onCleanup, parseArgs, podmanContext,
  progress, r3, reachable, runAs, runCleanup, setName, tableLines, userDir, userEnv, which, whyFailed, removeTree } from './common.mjs';
import { prng } from '../helpers/prng.mjs';

setName('bench build');

const BASE_REPO = 'bench/busybox';
const BUILT = 'bench/built:1';
const GOAL_CACHED_RATIO = 0.2; // nook's cached rebuild at most this fraction of buildah's
const GOAL_COLD_RATIO = 1.0; // nook's cold build no slower than buildah's
const BUILD_TIMEOUT_MS = 600_000;

function usage() {
  return `Usage: node test/bench/build.mjs [--runs N] [--warmup N] [--context-mb N] [--no-copy] [--format table|json] [--nook PATH]

  --runs N         measured builds per command (default 5, or $BENCH_BUILD_RUNS)
  --warmup N       warm-up builds per command, not counted (default 1); every
                   command also gets one untried build first (for the cached
                   rows: the build that fills the cache)
  --context-mb N   size of the build context in MB (default 50)
  --no-copy        leave the COPY step out (a RUN mkdir in its place), for a
                   nook without COPY (or $BENCH_BUILD_NO_COPY=1)
  --format FMT     table (default) or json
  --nook PATH      the nook executable to measure (default: build/nook)
`;
}

// ---------------------------------------------------------------- helpers

/**
 * Why a buildah or podman command failed: its last error line, passing over
 * their warnings (common's errorLine takes the first line that says "error",
 * which can be a warning about an error in cleaning up).
 */
function peerError(r) {
  const lines = String(r.stderr ?? '').split('\n').map((l) => l.trim()).filter((l) => l && !/level=warning|^WARN\[/.test(l));
  const line = lines.findLast((l) => /error/i.test(l)) ?? lines.at(-1);
  return line && !r.error ? `${line} (${r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`})` : whyFailed(r, BUILD_TIMEOUT_MS);
}

/** Flushes a run's writes before the next, so that their write-back does not land on somebody else's timing. */
const syncDisk = () => spawnSync('sync');

// ---------------------------------------------------------------- the context and the Dockerfile

/**
 * The build context: source-like text files, binaries and already-compressed
 * assets in a few directories, `mb` MB in all, from seeded generators.
 * Returns the files' md5 sums as busybox `find . -type f | sort | xargs md5sum` prints them.
 */
function makeContext(dir, mb) {
  const src = contentSource(7);
  const rnd = prng(14);
  const logUniform = (lo, hi) => Math.round(lo * (hi / lo) ** rnd());
  // [share of the bytes, kind, size range, directories]
  const parts = [
    [0.25, 'text', [2 << 10, 128 << 10], ['src', 'src/app', 'src/app/handlers', 'src/lib', 'docs']],
    [0.4, 'binary', [256 << 10, 4 << 20], ['lib', 'data']],
    [0.35, 'packed', [1 << 20, 8 << 20], ['assets/img', 'assets/fonts']],
  ];
  const ext = { text: ['js', 'ts', 'json', 'md', 'txt', 'conf'], binary: ['so', 'bin', 'db'], packed: ['png', 'gz', 'woff2'] };
  const sums = [];
  let files = 0;
  let bytes = 0;
  const old = process.umask(0o022);
  try {
    for (const [share, kind, [lo, hi], dirs] of parts) {
      for (const d of dirs) fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
      for (let left = Math.round(share * mb * MB); left > 0; ) {
        const size = Math.min(left, logUniform(lo, hi));
        const rel = path.join(dirs[Math.floor(rnd() * dirs.length)], `${kind}${files}.${ext[kind][Math.floor(rnd() * ext[kind].length)]}`);
        const data = src.gen[kind](size);
        fs.writeFileSync(path.join(dir, rel), data, { mode: kind === 'binary' ? 0o755 : 0o644 });
        sums.push(`${crypto.createHash('md5').update(data).digest('hex')}  ./${rel}`);
        left -= size;
        bytes += size;
        files++;
      }
    }
  } finally {
    process.umask(old);
  }
  // sort(1) in the C locale and JavaScript's sort agree on ASCII names; sort by path, as the RUN step does.
  const byPath = (l) => l.slice(34);
  sums.sort((a, b) => (byPath(a) < byPath(b) ? -1 : byPath(a) > byPath(b) ? 1 : 0));
  return { files, bytes, dirs: new Set(parts.flatMap((p) => p[3])).size, checksums: sums.length ? `${sums.join('\n')}\n` : '' };
}

/** The 10 steps; no heredocs (buildah 1.28 has none). */
function dockerfile(base, copy) {
  return [
    `FROM ${base}`,
    'ENV APP_HOME=/app BUILD_KIND=bench',
    'RUN mkdir -p /opt/gen && for i in $(seq 1 16); do dd if=/dev/zero of=/opt/gen/blob$i bs=64k count=4 2>/dev/null; done && echo "$BUILD_KIND" > /opt/gen/kind',
    "RUN rm -f /opt/gen/blob1* && rm /etc/group && echo 'root:x:0:' > /etc/group && ls /opt/gen | wc -l > /opt/gen/count",
    copy ? 'COPY . /app' : 'RUN mkdir -p /app',
    'WORKDIR $APP_HOME',
    'RUN find . -type f | sort | xargs -r md5sum > /checksums && wc -l < /checksums',
    'LABEL org.example.bench="nook build benchmark" org.example.steps=10',
    'EXPOSE 8080',
    'CMD ["sh", "-c", "cat /opt/gen/kind /opt/gen/count"]',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- the rows

/** nook's rows: cold into a fresh store that holds only the base, cached in one store. */
function nookRows(W, nook, env, base, build) {
  const pull = (root) => {
    const r = runAs([nook, 'pull', '--tls-verify=false', '-q', base], { ...env, NOOK_ROOT: root }, { timeout: BUILD_TIMEOUT_MS });
    if (!ok(r)) die(`nook pull ${base} failed: ${whyFailed(r, BUILD_TIMEOUT_MS)}`);
  };
  const cold = path.join(W, 'nook-cold');
  const cached = userDir(path.join(W, 'nook-cached'));
  pull(cached);
  return [
    {
      key: 'nook-cold', label: 'nook build (cold)', isNook: true, kind: 'cold',
      argv: [nook, 'build', '--no-cache', ...build], env: { ...env, NOOK_ROOT: cold },
      before: () => {
        removeTree(cold);
        userDir(cold);
        pull(cold);
        syncDisk();
      },
      after: syncDisk,
    },
    { key: 'nook-cached', label: 'nook build (cached)', isNook: true, kind: 'cached', argv: [nook, 'build', ...build], env: { ...env, NOOK_ROOT: cached }, after: syncDisk, store: cached },
  ];
}

/**
 * A peer's rows (buildah or podman). p: { key, name, exe, env, dir, verb, variants: [{ flags, note? }] }.
 * Finds the storage driver (overlay, else vfs) and the build flags that work
 * by one cold build, recording every attempt in info.attempts.
 */
function peerRows(p, info, base, build) {
  const storage = (which, driver) => ['--root', path.join(p.dir, which, 'root'), '--runroot', path.join(p.dir, which, 'run'), ...(p.global ?? []), '--storage-driver', driver];
  const cmd = (which, driver, ...args) => [p.exe, ...storage(which, driver), ...args];
  const attempt = (argv) => {
    const r = runAs(argv, p.env, { timeout: BUILD_TIMEOUT_MS });
    info.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : peerError(r) });
    return ok(r);
  };
  const pull = (which, driver) => attempt(cmd(which, driver, 'pull', '--tls-verify=false', '-q', base));
  // Back to a storage with only the base: everything removed, the base pulled again (a local registry: ~1 MB).
  const reset = (which, driver) => {
    const r = runAs(cmd(which, driver, 'rmi', '--all', '--force'), p.env, { timeout: BUILD_TIMEOUT_MS });
    if (!ok(r)) progress(`${p.name} rmi --all failed: ${whyFailed(r, BUILD_TIMEOUT_MS)}`);
    const pr = runAs(cmd(which, driver, 'pull', '--tls-verify=false', '-q', base), p.env, { timeout: BUILD_TIMEOUT_MS });
    if (!ok(pr)) progress(`${p.name} pull failed: ${whyFailed(pr, BUILD_TIMEOUT_MS)}`);
    syncDisk();
  };
  const buildArgv = (which, driver, v, cold) => cmd(which, driver, ...p.verb, ...v.flags, '--layers', ...(cold ? ['--no-cache'] : []), ...build);
  // Their layers belong to subordinate ids: without root, only the tool's own user namespace can remove them.
  if (!USER.asRoot) onCleanup(() => runAs([p.exe, 'unshare', 'rm', '-rf', path.join(p.dir, 'cold'), path.join(p.dir, 'cached')], p.env));
  const labels = { cold: `${p.name} (cold)`, cached: `${p.name} (cached)` };
  let found = null;
  for (const driver of ['overlay', 'vfs']) {
    for (const which of ['cold', 'cached']) userDir(path.join(p.dir, which));
    if (!pull('cold', driver)) continue;
    for (const v of p.variants) {
      progress(`${p.name}: trying a cold build with --storage-driver ${driver} ${v.flags.join(' ')}`);
      if (attempt(buildArgv('cold', driver, v, true))) {
        found = { driver, v };
        break;
      }
      reset('cold', driver);
    }
    if (found) break;
    // Storage made with one driver cannot be opened with another.
    for (const which of ['cold', 'cached']) {
      runAs([p.exe, ...storage(which, driver), 'rmi', '--all', '--force'], p.env);
      removeTree(path.join(p.dir, which));
    }
  }
  if (!found) {
    const error = info.attempts.findLast((a) => !a.ok)?.error ?? 'no attempt worked';
    return [{ key: `${p.key}-cold`, label: labels.cold, kind: 'cold', fail: error }, { key: `${p.key}-cached`, label: labels.cached, kind: 'cached', fail: error }];
  }
  Object.assign(info, { storageDriver: found.driver, flags: found.v.flags, note: found.v.note ?? null });
  const cachedReady = pull('cached', found.driver);
  const note = found.v.note;
  return [
    {
      key: `${p.key}-cold`, label: labels.cold, kind: 'cold', argv: buildArgv('cold', found.driver, found.v, true), env: p.env, tried: true, note,
      before: () => reset('cold', found.driver), after: syncDisk, timeout: BUILD_TIMEOUT_MS,
    },
    cachedReady
      ? { key: `${p.key}-cached`, label: labels.cached, kind: 'cached', argv: buildArgv('cached', found.driver, found.v, false), env: p.env, note, after: syncDisk, timeout: BUILD_TIMEOUT_MS, cmd: (...a) => cmd('cached', found.driver, ...a) }
      : { key: `${p.key}-cached`, label: labels.cached, kind: 'cached', fail: `pull of the base failed: ${info.attempts.at(-1).error}` },
  ];
}

// ---------------------------------------------------------------- checking what was built

/** What /checksums holds in the image a cached row built, or { error }. */
function builtChecksums(row, nook) {
  if (row.status !== 'ok') return { error: `not built: ${row.fail ?? row.skip}` };
  let r;
  if (row.isNook) {
    r = runAs([nook, 'run', '--rm', BUILT, 'cat', '/checksums'], row.env, { maxBuffer: 64 << 20 });
  } else {
    // buildah: a working container of the image, cat run in it, removed again.
    const from = runAs(row.cmd('from', '--pull=never', '-q', BUILT), row.env);
    if (!ok(from)) return { error: `buildah from: ${whyFailed(from)}` };
    const name = from.stdout.trim();
    r = runAs(row.cmd('run', '--isolation', 'chroot', name, '--', 'cat', '/checksums'), row.env, { maxBuffer: 64 << 20 });
    runAs(row.cmd('rm', name), row.env);
  }
  return ok(r) ? { text: r.stdout } : { error: whyFailed(r) };
}

/**
 * One more build of a cached row, untimed and with the tool's step output:
 * which of the steps that make a layer (RUN, COPY) it says it took from the
 * cache. All three print `STEP n/N: INSTRUCTION` and, for a cache hit, nook
 * `--> CACHED`, buildah and podman `--> Using cache ID` (they also say it of
 * metadata steps, which nook makes without the cache).
 */
function cacheHits(row) {
  const r = runAs(row.argv.filter((a) => a !== '-q'), row.env, { timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 << 20 });
  if (!ok(r)) return { error: whyFailed(r, BUILD_TIMEOUT_MS) };
  const blocks = r.stdout.split(/^(?=STEP \d+\/\d+: )/m).filter((b) => b.startsWith('STEP '));
  const layerSteps = blocks.filter((b) => /^STEP \d+\/\d+: (RUN|COPY|ADD)\b/i.test(b));
  const missed = layerSteps.filter((b) => !/^--> (CACHED|Using cache)\b/m.test(b)).map((b) => b.split('\n')[0]);
  return { steps: layerSteps.length, missed, seen: blocks.length };
}

// ---------------------------------------------------------------- main

async function main() {
  const argv = process.argv.slice(2);
  const noCopy = argv.includes('--no-copy') || process.env.BENCH_BUILD_NO_COPY === '1';
  const opts = parseArgs(argv.filter((a) => a !== '--no-copy'), {
    usage,
    defaults: { runs: process.env.BENCH_BUILD_RUNS ? Number(process.env.BENCH_BUILD_RUNS) : 5, warmup: 1, contextMb: 50 },
    flags: { '--context-mb': { key: 'contextMb', int: true } },
  });
  if (!(opts.contextMb >= 1)) die(`--context-mb must be at least 1 (got ${opts.contextMb})`, 2);
  opts.copy = !noCopy;
  initUser();
  // Builds use both cores and the disk: other work on the machine shows in the figures, so say how busy it was.
  const load = { start: os.loadavg()[0] };

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-build-'));
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  const nookEnv = userEnv({
    XDG_CACHE_HOME: userDir(path.join(work, 'nook-cache')),
    NOOK_STATE_DIR: path.join(userDir(path.join(work, 'nook-state')), 'run'),
  });

  // The base: the busybox rootfs as a one-layer image in the local registry.
  const rootfs = buildRootfs(work);
  const reg = await startRegistry(work);
  fs.mkdirSync(path.join(work, 'image'));
  const layer = await tarLayer(rootfs.R, path.join(work, 'image', 'busybox.tar.gz'));
  await pushImage(reg.base, BASE_REPO, [layer], ['busybox rootfs']);
  const base = `${reg.host}/${BASE_REPO}:${TAG}`;

  progress(`making a ${opts.contextMb} MB build context`);
  const ctxDir = path.join(work, 'context');
  const context = makeContext(ctxDir, opts.contextMb);
  const dfText = dockerfile(base, opts.copy);
  const df = path.join(work, 'Dockerfile');
  fs.writeFileSync(df, dfText, { mode: 0o644 });
  // The same arguments for every tool: the base from the store, never pulled; quiet; the Dockerfile outside the context.
  const build = ['--pull=never', '-q', '-f', df, '-t', BUILT, ctxDir];

  const rows = nookRows(work, nook.path, nookEnv, base, build);

  const peers = {};
  const buildah = which('buildah');
  if (buildah) {
    const B = userDir(path.join(work, 'buildah'));
    const env = userEnv(Object.fromEntries(['runtime', 'config', 'data', 'cache'].map((d) => [`XDG_${d.toUpperCase()}_${d === 'runtime' ? 'DIR' : 'HOME'}`, userDir(path.join(B, `xdg-${d}`))])));
    const info = { installed: true, version: firstLine(runAs([buildah, '--version'], env).stdout), attempts: [] };
    peers.buildah = info;
    // Rootless buildah's default isolation (an OCI runtime) cannot start here on a cgroup hybrid host: chroot can.
    rows.push(...peerRows({ key: 'buildah', name: 'buildah bud', exe: buildah, env, dir: B, verb: ['bud'], variants: [{ flags: ['--isolation', 'chroot'] }] }, info, base, build));
  } else rows.push({ key: 'buildah-cold', label: 'buildah bud (cold)', kind: 'cold', skip: 'not installed (Debian: buildah)' }, { key: 'buildah-cached', label: 'buildah bud (cached)', kind: 'cached', skip: 'not installed (Debian: buildah)' });

  const pod = podmanContext(work);
  if (pod) {
    const info = { installed: true, version: pod.version, attempts: [] };
    peers.podman = info;
    rows.push(...peerRows({
      key: 'podman', name: 'podman build', exe: pod.podman, env: pod.env, dir: pod.P, global: pod.base.slice(4), verb: ['build'],
      // crun refuses this cgroup hybrid host, runc does not; with podman's own network (slirp4netns) RUN fails here,
      // so the host's, which nook and buildah's chroot isolation use too.
      variants: [{ flags: ['--runtime', 'runc', '--network', 'host'], note: 'runc, host network' }, { flags: ['--isolation', 'chroot'], note: 'chroot isolation' }],
    }, info, base, build));
  } else rows.push({ key: 'podman-cold', label: 'podman build (cold)', kind: 'cold', skip: 'not installed' }, { key: 'podman-cached', label: 'podman build (cached)', kind: 'cached', skip: 'not installed' });
  for (const r of rows) r.timeout = BUILD_TIMEOUT_MS;

  progress(`building: one try, ${opts.warmup} warm-up and ${opts.runs} timed builds per command`);
  await measure(rows, { warmup: opts.warmup, runs: opts.runs, every: 1 });

  // Did they build the right thing? /checksums in the image against the context's.
  // Without COPY, /app is empty and so is /checksums.
  const expected = opts.copy ? context.checksums : '';
  const verify = [];
  for (const row of rows.filter((r) => r.kind === 'cached' && (r.isNook || r.key === 'buildah-cached'))) {
    const got = builtChecksums(row, nook.path);
    const v = { key: row.key, label: row.label };
    if (got.error) Object.assign(v, { ok: false, detail: got.error });
    else if (got.text === expected) Object.assign(v, { ok: true, detail: opts.copy ? `/checksums lists the ${context.files} context files with their md5 sums` : '/checksums is empty, as /app is without COPY' });
    else {
      const lines = got.text.split('\n').filter(Boolean);
      const want = new Set(expected.split('\n').filter(Boolean));
      const bad = lines.filter((l) => !want.has(l));
      Object.assign(v, { ok: false, detail: `/checksums has ${lines.length} lines, ${bad.length} not in the context's ${opts.copy ? context.files : 0} (first: ${bad[0] ?? 'none'})` });
    }
    verify.push(v);
  }
  // Were the cached builds fully cached? Every RUN and COPY step should say so.
  const steps = dfText.split('\n').filter((l) => /^(RUN|COPY) /.test(l)).length;
  for (const row of rows.filter((r) => r.kind === 'cached' && r.status === 'ok')) {
    const got = cacheHits(row);
    const v = { key: row.key, label: row.label, cache: true };
    if (got.error) Object.assign(v, { ok: false, detail: `the untimed check build failed: ${got.error}` });
    else if (got.steps !== steps) Object.assign(v, { ok: false, detail: `its output shows ${got.steps} RUN/COPY steps (of ${got.seen} steps), the Dockerfile has ${steps}` });
    else Object.assign(v, { ok: got.missed.length === 0, detail: got.missed.length ? `not from the cache: ${got.missed.join('; ')}` : `all ${steps} RUN/COPY steps came from the cache` });
    verify.push(v);
  }

  // Ratios: nook's median over the peer's for the same kind of build (below 1× nook is faster).
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  for (const r of rows) {
    const n = byKey[`nook-${r.kind}`];
    if (!r.isNook && r.stats && n?.stats) r.ratio = n.stats.median / r.stats.median;
  }
  const checks = [];
  for (const [id, kind, goal] of [['a', 'cached', GOAL_CACHED_RATIO], ['b', 'cold', GOAL_COLD_RATIO]]) {
    const [n, b] = [byKey[`nook-${kind}`], byKey[`buildah-${kind}`]];
    const description = `nook build's ${kind === 'cached' ? 'fully cached rebuild' : 'cold build'} takes at most ${goal}× buildah bud's (medians)`;
    if (!n.stats) checks.push({ id, description, result: 'FAIL', detail: `nook failed: ${n.fail}` });
    else if (!b?.stats) checks.push({ id, description, result: 'SKIP', detail: `buildah bud ${b?.status === 'skipped' ? b.skip : `failed: ${b?.fail}`}` });
    else checks.push({
      id, description, result: b.ratio <= goal ? 'PASS' : 'MISS', value_ratio: r3(b.ratio),
      detail: `${n.stats.median.toFixed(0)} ms / ${b.stats.median.toFixed(0)} ms = ${fmtRatio(b.ratio)} (goal ≤ ${goal}×)`,
    });
  }
  for (const kind of ['cached', 'cold']) {
    const [n, p] = [byKey[`nook-${kind}`], byKey[`podman-${kind}`]];
    if (n?.stats && p?.stats) checks.push({ id: kind === 'cached' ? 'c' : 'd', description: `nook build (${kind}) next to podman build (${kind})`, result: 'INFO', value_ratio: r3(p.ratio), detail: `${n.stats.median.toFixed(0)} ms / ${p.stats.median.toFixed(0)} ms = ${fmtRatio(p.ratio)}` });
  }
  for (const v of verify) {
    const description = v.cache ? `${v.label} is a fully cached rebuild (checked in one more build, untimed)` : `${v.label} built the context into /app`;
    checks.push({ id: v.cache ? 'w' : 'v', description, result: v.ok ? 'PASS' : 'FAIL', detail: v.detail });
  }

  load.end = os.loadavg()[0];
  const report = {
    load, opts, machine: machineInfo(), reg, base, layer, context, dockerfile: dfText, rows, peers, checks, work, rootfs,
    nookVersion: firstLine(runAs([nook.path, '--version'], nookEnv).stdout) || null, nook,
  };
  if (opts.format === 'json') process.stdout.write(JSON.stringify(toJson(report), null, 2) + '\n');
  else printTable(report);

  runCleanup();
  const failed = [...rows.filter((r) => r.isNook && r.status !== 'ok').map((r) => `${r.label}: ${r.fail ?? r.skip}`), ...verify.filter((v) => !v.ok && v.key.startsWith('nook')).map((v) => `${v.label}: ${v.detail}`)];
  if (failed.length) {
    process.stderr.write(`bench build: nook failed: ${failed.join('; ')}\n`);
    process.exit(1);
  }
}

function toJson({ load, opts, machine, reg, base, layer, context, dockerfile: dfText, rows, peers, checks, nookVersion, nook }) {
  return {
    runs: opts.runs, warmup: opts.warmup, copy: opts.copy,
    user: { name: USER.name, uid: USER.uid, gid: USER.gid },
    machine: { ...machine, loadavg_1min: { start: r3(load.start), end: r3(load.end) } },
    nook: { path: opts.nook, version: nookVersion, copied_for_user: nook.copied },
    registry: { version: reg.version, address: reg.host },
    base: { ref: base, digest: layer.digest, size: layer.size, pulled_before_timing: true },
    context: { mb: opts.contextMb, files: context.files, bytes: context.bytes, dirs: context.dirs },
    dockerfile: dfText,
    builds: rows.map((r) => ({
      key: r.key, label: r.label, kind: r.kind, argv: r.argv ?? null, status: r.status,
      error: r.status === 'failed' ? r.fail : r.status === 'skipped' ? r.skip : null, note: r.note ?? null,
      median_ms: r3(r.stats?.median), mean_ms: r3(r.stats?.mean), p90_ms: r3(r.stats?.p90), min_ms: r3(r.stats?.min), max_ms: r3(r.stats?.max),
      nook_over_this: r3(r.ratio), samples_ms: r.samples.map(r3),
    })),
    peers,
    checks,
    nook_failed: rows.some((r) => r.isNook && r.status !== 'ok') || checks.some((c) => ['v', 'w'].includes(c.id) && c.result === 'FAIL' && /^nook/.test(c.description)),
  };
}

function printTable({ load, opts, machine, reg, base, layer, context, dockerfile: dfText, rows, peers, checks, work, nookVersion }) {
  const quote = (a) => (/[\s'"$&|;]/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a);
  const short = (argv) => argv.map((a) => a.split(`${work}/`).join('W/')).map(quote).join(' ');
  const out = [];
  out.push(`nook build benchmark, as ${USER.name} (uid ${USER.uid}); ${machine.kernel}; ${machine.cpus} CPUs; cgroups ${machine.cgroups}; load average ${load.start.toFixed(1)} at the start, ${load.end.toFixed(1)} at the end`);
  out.push(`${nookVersion ?? 'nook: no version'}; registry ${reg.version} at ${reg.host}`);
  out.push(`base ${base}: busybox, 1 layer, ${(layer.size / MB).toFixed(1)} MB; pulled into every store before the timing (the cold builds measure building, not pulling)`);
  out.push(`context W/context: ${context.files} files in ${context.dirs} directories, ${(context.bytes / MB).toFixed(1)} MB (seeded text, binary and compressed files)` +
    (opts.copy ? '' : '; --no-copy: the COPY step is left out (RUN mkdir -p /app in its place)'));
  out.push('Dockerfile (W/Dockerfile):');
  for (const l of dfText.trimEnd().split('\n')) out.push(`  ${l}`);
  out.push('');
  out.push(`${opts.runs} timed builds per command after one try and ${opts.warmup} warm-up, interleaved; ` +
    'cold = nothing cached (nook: a fresh store with only the base; buildah/podman: --layers --no-cache, storage reset to only the base), cached = every step from the cache');
  const table = rows.map((r) => (r.stats
    ? [r.label, r.stats.median.toFixed(0), r.stats.mean.toFixed(0), r.stats.p90.toFixed(0), r.stats.min.toFixed(0), r.stats.max.toFixed(0), fmtRatio(r.ratio)]
    : [r.label, r.status === 'failed' ? `failed: ${r.fail}` : `skipped: ${r.skip}`]));
  const { w, lines } = tableLines(['command', 'median ms', 'mean ms', 'p90 ms', 'min ms', 'max ms', 'nook / this'], table);
  out.push(...lines, '');
  out.push(`commands, run as ${USER.name} with cwd /tmp and PATH=/usr/bin:/bin (W = ${work}, removed at the end):`);
  for (const r of rows) if (r.argv) out.push(`  ${r.label.padEnd(w[0])}  ${short(r.argv)}${r.note ? `   [${r.note}]` : ''}`);
  out.push('');
  for (const [name, info] of Object.entries(peers)) {
    out.push(`${name}: ${info.version}; storage driver ${info.storageDriver ?? 'none'}; attempts, in order:`);
    for (const a of info.attempts) {
      out.push(`  ${a.ok ? 'ok    ' : 'FAILED'}  ${short(a.argv)}`);
      if (!a.ok) out.push(`          ${a.error}`);
    }
    out.push('');
  }
  out.push('goals and checks:');
  for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench build: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
