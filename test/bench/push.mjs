#!/usr/bin/env node
// Push benchmark: `nook push` of a ~100 MB, 3-layer image to a local registry
// next to `skopeo copy` of the same image from an OCI layout to that registry.
//
//   make bench                        (runs bench.mjs, images.mjs, then this)
//   node test/bench/push.mjs [--runs N] [--image-mb N] [--format table|json] [--nook PATH]
//
// The image is the one of images.mjs (the same seeded bytes), pushed to
// Debian's docker-registry once, pulled by nook once, and saved by nook as an
// OCI archive; its unpacked layout is skopeo's source, and the archive is
// loaded into a fresh nook store before each nook run (untimed), so that nook
// has no repo digest to mount from: both tools upload every byte. Each run
// pushes to a new repository, which has none of the blobs (distribution
// answers HEAD by repository). Both send the compressed blobs as they are.
// Everything runs as an unprivileged user; the temporary directory goes at
// the end, also on Ctrl-C. Exit status: 0 even when the goal is missed (this
// is a report), 1 when nook fails or the benchmark cannot be set up, 2 on bad usage.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MB, TAG, buildImages, pushImage, startRegistry } from './bench-registry.mjs';
import {
  USER, buildRootfs, die, firstLine, fmtRatio, initUser, machineInfo, measure, ok, onCleanup, parseArgs, progress, r3,
  reachable, runAs, runCleanup, setName, tableLines, userDir, userEnv, which, whyFailed, removeTree } from './common.mjs';

setName('bench push');

const BIG = 'bench/big';
const GOAL_PUSH_RATIO = 1; // nook push at least as fast as skopeo copy
const PUSH_TIMEOUT_MS = 300_000;

function usage() {
  return `Usage: node test/bench/push.mjs [--runs N] [--image-mb N] [--format table|json] [--nook PATH]

  --runs N         measured pushes per command (default 5, or $BENCH_PUSH_RUNS)
  --image-mb N     compressed size of the image in MB (default 100)
  --format FMT     table (default) or json
  --nook PATH      the nook executable to measure (default: build/nook)
`;
}

/** Fails the benchmark with the command's error when a setup step does not work. */
function setup(what, argv, env) {
  const r = runAs(argv, env, { timeout: PUSH_TIMEOUT_MS });
  if (!ok(r)) die(`${what} failed: ${whyFailed(r, PUSH_TIMEOUT_MS)}`);
  return r;
}

async function main() {
  const env = (name, dflt) => (process.env[name] ? Number(process.env[name]) : dflt);
  const opts = parseArgs(process.argv.slice(2), {
    usage,
    defaults: { runs: env('BENCH_PUSH_RUNS', 5), warmup: 0, imageMb: 100 },
    flags: { '--image-mb': { key: 'imageMb', int: true } },
  });
  if (!(opts.imageMb >= 1)) die(`--image-mb must be at least 1 (got ${opts.imageMb})`, 2);
  initUser();

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-push-'));
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  const nookEnv = userEnv({ XDG_CACHE_HOME: userDir(path.join(work, 'nook-cache')) });
  const rootfs = buildRootfs(work);

  const reg = await startRegistry(work);
  progress(`registry ${reg.version} at ${reg.base}; building a ${opts.imageMb} MB image in ${work}/image`);
  const images = await buildImages(work, rootfs.R, opts.imageMb);
  await pushImage(reg.base, BIG, images.big, ['busybox, sh, true and files', 'files', 'files']);
  const ref = `${reg.host}/${BIG}:${TAG}`;
  const totalSize = images.big.reduce((a, l) => a + l.size, 0);

  // The image in nook's form (an OCI archive, loaded before each nook run) and skopeo's (the unpacked layout).
  progress('nook pull and nook save --format oci-archive: the pushes\' source');
  const seed = userDir(path.join(work, 'seed'));
  const archive = path.join(work, 'big.oci.tar');
  userDir(path.dirname(archive), 0o755);
  setup('nook pull', [nook.path, 'pull', '--tls-verify=false', '-q', ref], { ...nookEnv, NOOK_ROOT: seed });
  setup('nook save', [nook.path, 'save', '--format', 'oci-archive', '-o', archive, ref], { ...nookEnv, NOOK_ROOT: seed });
  removeTree(seed);
  const layout = userDir(path.join(work, 'layout'), 0o755);
  setup('tar -xf (the OCI layout)', ['/usr/bin/tar', '-xf', archive, '-C', layout], userEnv());

  let n = 0;
  const dest = (tool) => `${reg.host}/bench/push-${tool}-${++n}:${TAG}`;
  const rows = [];
  const S = path.join(work, 'store');
  const nookArgv = [nook.path, 'push', '--tls-verify=false', '-q', ref, 'DEST'];
  const loadEnv = { ...nookEnv, NOOK_ROOT: S };
  rows.push({
    key: 'nook-push', label: 'nook push', isNook: true, argv: nookArgv, env: loadEnv, timeout: PUSH_TIMEOUT_MS,
    before() {
      userDir(S);
      const r = runAs([nook.path, 'load', '-q', '-i', archive], loadEnv, { timeout: PUSH_TIMEOUT_MS });
      if (!ok(r)) throw new Error(`nook load (before nook push) failed: ${whyFailed(r, PUSH_TIMEOUT_MS)}`);
      spawnSync('sync'); // the load's writes are flushed before the clock starts, not during the push
      nookArgv[nookArgv.length - 1] = dest('nook');
    },
    after() {
      removeTree(S);
      spawnSync('sync');
    },
  });
  const skopeo = which('skopeo');
  if (skopeo) {
    const policy = fs.existsSync('/etc/containers/policy.json') ? [] : ['--insecure-policy'];
    const argv = [skopeo, ...policy, 'copy', '-q', '--dest-tls-verify=false', `oci:${layout}:${TAG}`, 'DEST'];
    // skopeo remembers in its blob info cache ($XDG_DATA_HOME/containers/cache) where it pushed blobs, and
    // mounts them from there next time: a fresh cache per run, as nook gets a fresh store.
    const cache = path.join(work, 'skopeo-data');
    const row = {
      key: 'skopeo', label: 'skopeo copy', argv, timeout: PUSH_TIMEOUT_MS,
      note: 'from the OCI layout nook saved: the same compressed blobs; an empty blob info cache each run',
      env: userEnv({ XDG_RUNTIME_DIR: userDir(path.join(work, 'skopeo-xdg')), XDG_DATA_HOME: cache }),
      before() {
        userDir(cache);
        argv[argv.length - 1] = `docker://${dest('skopeo')}`;
      },
      after() {
        removeTree(cache);
        spawnSync('sync');
      },
    };
    rows.push(row);
  } else rows.push({ key: 'skopeo', label: 'skopeo copy', skip: 'not installed (Debian: skopeo)' });

  progress(`pushing ${ref}: one try, then ${opts.runs} timed runs per command`);
  await measure(rows, { warmup: 0, runs: opts.runs, every: 1 });

  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  const base = byKey['nook-push'].stats?.median;
  for (const r of rows) {
    if (r.stats && base) r.ratio = r.stats.median / base;
    if (r.stats) r.mbps = totalSize / MB / (r.stats.median / 1000);
  }
  const checks = [];
  {
    const [nk, sk] = [byKey['nook-push'], byKey.skopeo];
    const description = 'nook push is at least as fast as skopeo copy from an OCI layout (medians)';
    if (!sk.stats) checks.push({ id: 'a', description, result: 'SKIP', detail: `skopeo copy ${sk.status === 'skipped' ? sk.skip : `failed: ${sk.fail}`}` });
    else if (!nk.stats) checks.push({ id: 'a', description, result: 'FAIL', detail: `nook push failed: ${nk.fail}` });
    else {
      const x = sk.stats.median / nk.stats.median;
      checks.push({
        id: 'a', description, result: x >= GOAL_PUSH_RATIO ? 'PASS' : 'FAIL', value_ratio: r3(x),
        detail: `skopeo copy ${sk.stats.median.toFixed(0)} ms / nook push ${nk.stats.median.toFixed(0)} ms = ${fmtRatio(x)}`,
      });
    }
  }

  const nookVersion = firstLine(runAs([nook.path, '--version'], nookEnv).stdout) || null;
  if (opts.format === 'json') {
    const row = (r) => ({
      key: r.key, label: r.label, status: r.status, error: r.status === 'failed' ? r.fail : r.status === 'skipped' ? r.skip : null, note: r.note ?? null,
      median_ms: r3(r.stats?.median), mean_ms: r3(r.stats?.mean), p90_ms: r3(r.stats?.p90), min_ms: r3(r.stats?.min), max_ms: r3(r.stats?.max),
      mb_per_s: r3(r.mbps), ratio_vs_nook: r3(r.ratio), samples_ms: r.samples.map(r3),
    });
    const report = {
      push_runs: opts.runs, user: { name: USER.name, uid: USER.uid }, machine: machineInfo(),
      nook: { path: opts.nook, version: nookVersion }, registry: { version: reg.version, address: reg.host },
      image: { ref, size: totalSize, layers: images.big.map((l) => ({ digest: l.digest, size: l.size })) },
      pushes: rows.map(row), checks, nook_failed: byKey['nook-push'].status !== 'ok',
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const mb = (x) => (x / MB).toFixed(1);
    const machine = machineInfo();
    const out = [];
    out.push(`nook push benchmark, as ${USER.name} (uid ${USER.uid}); ${machine.kernel}; ${machine.cpus} CPUs`);
    out.push(`${nookVersion ?? 'nook: no version'}; registry ${reg.version} at ${reg.host}`);
    out.push(`B = ${ref}: ${images.big.length} gzip layers, ${mb(totalSize)} MB (${images.big.map((l) => mb(l.size)).join(' + ')}); each run pushes B to a new repository`);
    out.push('');
    out.push(`push B: ${opts.runs} runs per command after one untimed try, interleaved; MB/s = B's ${mb(totalSize)} MB over the median`);
    const table = rows.map((r) => (r.stats
      ? [r.label, r.stats.median.toFixed(1), r.stats.mean.toFixed(1), r.stats.p90.toFixed(1), r.mbps.toFixed(1), fmtRatio(r.ratio)]
      : [r.label, r.status === 'failed' ? `failed: ${r.fail}` : `skipped: ${r.skip}`]));
    const { w, lines } = tableLines(['command', 'median ms', 'mean ms', 'p90 ms', 'MB/s', 'vs nook push'], table);
    out.push(...lines, '');
    out.push(`commands, run as ${USER.name} (W = ${work}, removed at the end):`);
    for (const r of rows) if (r.argv) out.push(`  ${r.label.padEnd(w[0])}  ${r.argv.join(' ').split(work).join('W').replace(/push-(nook|skopeo)-\d+/, 'push-$1-N')}${r.note ? `   [${r.note}]` : ''}`);
    out.push('  (before each nook push, untimed: nook load -i W/big.oci.tar into an empty store)');
    out.push('');
    out.push('goals:');
    for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
    process.stdout.write(out.join('\n') + '\n');
  }
  runCleanup();
  if (byKey['nook-push'].status !== 'ok') {
    process.stderr.write(`bench push: nook push failed: ${byKey['nook-push'].fail}\n`);
    process.exit(1);
  }
}

main().catch((e) => {
  process.stderr.write(`bench push: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
