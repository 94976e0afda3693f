#!/usr/bin/env node
// Image benchmark: `nook pull` of a ~100 MB, 3-layer image from a local
// registry next to `skopeo copy` and `podman pull`, and `nook run IMAGE true`
// next to `nook run --rootfs DIR true` (and `podman run IMAGE true`).
//
//   make bench                        (runs bench.mjs, then this)
//   node test/bench/images.mjs [--runs N] [--run-runs N] [--warmup N] [--image-mb N] [--format table|json] [--nook PATH]
//
// It starts Debian's docker-registry on a free port of 127.0.0.1, builds the
// images itself (the same bytes every time: the content comes from seeded
// generators), pushes them through the registry's HTTP API, and runs every
// command as an unprivileged user, like bench.mjs. Each pull goes into an
// empty store or directory that is removed, and the disk synced, after the
// run, outside the timing. The registry, the images and every store live in
// one temporary directory that is removed at the end, also on Ctrl-C.
// Exit status: 0 even when a goal is missed (this is a report), 1 when nook
// itself fails or the benchmark cannot be set up, 2 on bad usage.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MB, TAG, buildImages, pushImage, startRegistry } from './bench-registry.mjs';
import {
  USER, buildRootfs, die, findPodmanRun, firstLine, fmtRatio, initUser, machineInfo, measure, ok, onCleanup,
  parseArgs, podmanContext, progress, r3, reachable, runAs, runCleanup, setName, tableLines, userDir, userEnv, which, whyFailed, removeTree } from './common.mjs';

setName('bench images');

const BIG = 'bench/big';
const SMALL = 'bench/busybox';
const GOAL_PULL_RATIO = 1; // nook pull at least as fast as each peer...
const IDEAL_PULL_RATIO = 1.5; // ...ideally this much faster
const GOAL_IMAGE_RUN_OVER_ROOTFS_MS = 10;
const PULL_TIMEOUT_MS = 300_000;

function usage() {
  return `Usage: node test/bench/images.mjs [--runs N] [--run-runs N] [--warmup N] [--image-mb N] [--format table|json] [--nook PATH]

  --runs N         measured pulls per command (default 5, or $BENCH_PULL_RUNS)
  --run-runs N     measured runs of \`run ... true\` per command (default 30, or $BENCH_RUNS)
  --warmup N       warm-up runs of \`run ... true\`, not counted (default 5); every
                   pull command gets one untimed try first
  --image-mb N     compressed size of the big image in MB (default 100)
  --format FMT     table (default) or json
  --nook PATH      the nook executable to measure (default: build/nook)
`;
}

// ---------------------------------------------------------------- the commands

/** Flushes a run's writes before the next, so that their write-back does not land on somebody else's timing. */
const syncDisk = () => spawnSync('sync');

/** Each pull row: an empty destination made before every run and removed after it. */
function pullRows(W, reg, layers, nook, nookEnv, pod, podInfo) {
  const ref = `${reg.host}/${BIG}:${TAG}`;
  const dest = (name) => path.join(W, 'pull', name);
  userDir(path.join(W, 'pull'), 0o755);
  const fresh = (...dirs) => () => dirs.forEach((d) => userDir(d));
  const gone = (rm, ...dirs) => () => {
    rm(dirs);
    syncDisk();
  };
  const rmAll = (dirs) => dirs.forEach(removeTree);
  const rows = [];

  const N = dest('nook');
  rows.push({ key: 'nook-pull', label: 'nook pull', isNook: true, argv: [nook, 'pull', '--tls-verify=false', '-q', ref], env: { ...nookEnv, NOOK_ROOT: N }, before: fresh(N), after: gone(rmAll, N) });

  const skopeo = which('skopeo');
  if (skopeo) {
    const S = dest('skopeo');
    // Without a policy file skopeo refuses to copy anything.
    const policy = fs.existsSync('/etc/containers/policy.json') ? [] : ['--insecure-policy'];
    rows.push({
      key: 'skopeo', label: 'skopeo copy', note: 'downloads and verifies only: the blobs stay compressed, nothing is extracted',
      argv: [skopeo, ...policy, 'copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${S}`],
      env: userEnv({ XDG_RUNTIME_DIR: userDir(path.join(W, 'skopeo-xdg')) }), before: fresh(S), after: gone(rmAll, S),
    });
  } else rows.push({ key: 'skopeo', label: 'skopeo copy', skip: 'not installed (Debian: skopeo)' });

  if (pod) {
    const [PR, PRR] = [dest('podman-root'), dest('podman-run')];
    const argvFor = (driver) => [pod.podman, '--root', PR, '--runroot', PRR, '--tmpdir', path.join(pod.P, 'libpod-tmp'), '--storage-driver', driver];
    // Its layers belong to subordinate ids: only root or podman's own user namespace can remove them.
    const rmPodman = (driver) => (dirs) => (USER.asRoot ? rmAll(dirs) : runAs([...argvFor(driver), 'unshare', 'rm', '-rf', ...dirs], pod.env));
    // A pull starts no container, so the cgroup hybrid layout should not matter; overlay first, vfs if that fails.
    let row = null;
    for (const driver of ['overlay', 'vfs']) {
      const argv = [...argvFor(driver), 'pull', '--tls-verify=false', '-q', ref];
      fresh(PR, PRR)();
      const r = runAs(argv, pod.env, { timeout: PULL_TIMEOUT_MS });
      gone(rmPodman(driver), PR, PRR)();
      podInfo.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r, PULL_TIMEOUT_MS) });
      if (!ok(r)) continue;
      podInfo.storageDriver = driver;
      podInfo.pullGlobal = argvFor(driver).slice(1);
      row = { key: 'podman-pull', label: 'podman pull', argv, env: pod.env, tried: true, before: fresh(PR, PRR), after: gone(rmPodman(driver), PR, PRR) };
      if (driver !== 'overlay') row.note = `storage driver ${driver}: overlay failed (see the podman section)`;
      break;
    }
    rows.push(row ?? { key: 'podman-pull', label: 'podman pull', fail: podInfo.attempts.at(-1).error });
  } else rows.push({ key: 'podman-pull', label: 'podman pull', skip: 'not installed' });

  // Floors: what the registry can serve over loopback, and what plain tar needs to unpack the layers.
  const blobUrl = (l) => `${reg.base}/v2/${BIG}/blobs/${l.digest}`;
  const curl = which('curl');
  rows.push(curl
    ? { key: 'curl', label: 'download floor', floor: true, note: 'curl, the layers in parallel to /dev/null', argv: [curl, '-sSfL', '--parallel', ...layers.flatMap((l) => ['-o', '/dev/null', blobUrl(l)])], env: userEnv() }
    : { key: 'curl', label: 'download floor', floor: true, skip: 'curl not installed' });
  const X = dest('tar');
  const script = 'i=0; pids=; for f; do i=$((i+1)); mkdir "$X/$i" && tar -xzf "$f" -C "$X/$i" --no-same-owner & pids="$pids $!"; done; for p in $pids; do wait $p || exit 1; done';
  rows.push({ key: 'tar', label: 'extract floor', floor: true, note: 'tar -xzf, the layers in parallel, from local files', argv: ['/bin/sh', '-c', script, 'sh', ...layers.map((l) => l.file)], env: userEnv({ X }), before: fresh(X), after: gone(rmAll, X) });
  for (const r of rows) r.timeout = PULL_TIMEOUT_MS;
  return rows;
}

/** `run ... true` rows: nook from the rootfs and from the small image (pulled into W/store first), podman from the image. */
function runRows(W, R, ref, nook, nookEnv, pod, podInfo) {
  const env = { ...nookEnv, NOOK_ROOT: userDir(path.join(W, 'store')) };
  const rows = [{ key: 'nook-rootfs', label: 'nook run --rootfs R', isNook: true, argv: [nook, 'run', '--rootfs', R, 'true'], env }];
  const pulled = runAs([nook, 'pull', '--tls-verify=false', '-q', ref], env);
  rows.push(ok(pulled)
    ? { key: 'nook-image', label: 'nook run IMAGE', isNook: true, argv: [nook, 'run', ref, 'true'], env }
    : { key: 'nook-image', label: 'nook run IMAGE', isNook: true, fail: `nook pull ${ref}: ${whyFailed(pulled)}` });
  if (!pod) return [...rows, { key: 'podman-run', label: 'podman run IMAGE', skip: 'not installed' }];
  pod.global = [...pod.base, '--storage-driver', podInfo.storageDriver ?? 'overlay'];
  const argv = pod.pod('pull', '--tls-verify=false', '-q', ref);
  const r = runAs(argv, pod.env, { timeout: PULL_TIMEOUT_MS });
  podInfo.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r, PULL_TIMEOUT_MS) });
  if (!ok(r)) return [...rows, { key: 'podman-run', label: 'podman run IMAGE', fail: `podman pull: ${whyFailed(r, PULL_TIMEOUT_MS)}` }];
  podInfo.global = pod.global;
  const found = findPodmanRun(pod, podInfo, ref);
  podInfo.used = found.argv ?? null;
  rows.push(found.argv
    ? { key: 'podman-run', label: 'podman run IMAGE', argv: found.argv, env: pod.env, tried: true, note: found.note }
    : { key: 'podman-run', label: 'podman run IMAGE', fail: found.fail });
  return rows;
}

// ---------------------------------------------------------------- main

async function main() {
  const env = (name, dflt) => (process.env[name] ? Number(process.env[name]) : dflt);
  const opts = parseArgs(process.argv.slice(2), {
    usage,
    defaults: { runs: env('BENCH_PULL_RUNS', 5), runRuns: env('BENCH_RUNS', 30), warmup: 5, imageMb: 100 },
    flags: { '--run-runs': { key: 'runRuns', int: true }, '--image-mb': { key: 'imageMb', int: true } },
  });
  if (!(opts.runRuns >= 1)) die(`--run-runs must be at least 1 (got ${opts.runRuns})`, 2);
  if (!(opts.imageMb >= 1)) die(`--image-mb must be at least 1 (got ${opts.imageMb})`, 2);
  initUser();

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-images-'));
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));

  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  const nookEnv = userEnv({ XDG_CACHE_HOME: userDir(path.join(work, 'nook-cache')) });
  const rootfs = buildRootfs(work);
  const R = rootfs.R;

  const reg = await startRegistry(work);
  progress(`registry ${reg.version} at ${reg.base}; building a ${opts.imageMb} MB image in ${work}/image`);
  const images = await buildImages(work, R, opts.imageMb);
  for (const l of [...images.big, images.small]) fs.chmodSync(l.file, 0o644); // the extract floor reads them as the user
  fs.chmodSync(path.join(work, 'image'), 0o755);
  await pushImage(reg.base, BIG, images.big, ['busybox, sh, true and files', 'files', 'files']);
  await pushImage(reg.base, SMALL, [images.small], ['busybox rootfs']);
  const bigRef = `${reg.host}/${BIG}:${TAG}`;
  const smallRef = `${reg.host}/${SMALL}:${TAG}`;

  const podInfo = { installed: false, version: null, storageDriver: null, pullGlobal: null, global: null, attempts: [], used: null, workaround: null };
  const pod = podmanContext(work);
  if (pod) Object.assign(podInfo, { installed: true, version: pod.version });

  const pulls = pullRows(work, reg, images.big, nook.path, nookEnv, pod, podInfo);
  progress(`pulling ${bigRef}: one try, then ${opts.runs} timed runs per command`);
  await measure(pulls, { warmup: 0, runs: opts.runs, every: 1 });
  const runs = runRows(work, R, smallRef, nook.path, nookEnv, pod, podInfo);
  await measure(runs, { warmup: opts.warmup, runs: opts.runRuns });

  // Results: ratios are the row's median over nook's, so above 1× nook is faster.
  const totalSize = images.big.reduce((a, l) => a + l.size, 0);
  const ratios = (rows, baseKey) => {
    const base = rows.find((r) => r.key === baseKey).stats?.median;
    for (const r of rows) if (r.stats && base) r.ratio = r.stats.median / base;
  };
  ratios(pulls, 'nook-pull');
  ratios(runs, 'nook-image');
  for (const r of pulls) if (r.stats) r.mbps = totalSize / MB / (r.stats.median / 1000);
  const byKey = Object.fromEntries([...pulls, ...runs].map((r) => [r.key, r]));
  const checks = [];
  const n = byKey['nook-pull'];
  for (const [id, key, what] of [['a', 'skopeo', 'skopeo copy'], ['b', 'podman-pull', 'podman pull']]) {
    const p = byKey[key];
    const description = `nook pull is at least as fast as ${what} (medians; ideally ${IDEAL_PULL_RATIO}× faster)`;
    if (!p.stats) checks.push({ id, description, result: 'SKIP', detail: `${what} ${p.status === 'skipped' ? p.skip : `failed: ${p.fail}`}` });
    else if (!n.stats) checks.push({ id, description, result: 'FAIL', detail: `nook pull failed: ${n.fail}` });
    else {
      const x = p.stats.median / n.stats.median;
      const ideal = x >= IDEAL_PULL_RATIO ? 'ideal met' : `ideal ${IDEAL_PULL_RATIO}× not met`;
      checks.push({
        id, description, result: x >= GOAL_PULL_RATIO ? 'PASS' : 'FAIL', value_ratio: r3(x), ideal_met: x >= IDEAL_PULL_RATIO,
        detail: `${what} ${p.stats.median.toFixed(0)} ms / nook pull ${n.stats.median.toFixed(0)} ms = ${fmtRatio(x)} (${ideal})${p.note ? `; ${what} ${p.note}` : ''}`,
      });
    }
  }
  {
    const [img, dir] = [byKey['nook-image'], byKey['nook-rootfs']];
    const description = `nook run IMAGE true costs at most ${GOAL_IMAGE_RUN_OVER_ROOTFS_MS} ms more than nook run --rootfs DIR true (medians)`;
    if (img.stats && dir.stats) {
      const d = img.stats.median - dir.stats.median;
      checks.push({
        id: 'c', description, result: d <= GOAL_IMAGE_RUN_OVER_ROOTFS_MS ? 'PASS' : 'FAIL', value_ms: r3(d),
        detail: `${img.stats.median.toFixed(1)} - ${dir.stats.median.toFixed(1)} = ${d.toFixed(2)} ms (limit ${GOAL_IMAGE_RUN_OVER_ROOTFS_MS} ms)`,
      });
    } else checks.push({ id: 'c', description, result: 'FAIL', detail: `nook failed: ${(img.fail ?? dir.fail) || 'no samples'}` });
  }

  const nookFailed = [...pulls, ...runs].filter((r) => r.isNook && r.status !== 'ok');
  const report = {
    opts, machine: machineInfo(), reg, images, bigRef, smallRef, pulls, runs, checks, podInfo, rootfs, work, totalSize,
    nookVersion: firstLine(runAs([nook.path, '--version'], nookEnv).stdout) || null,
  };
  if (opts.format === 'json') process.stdout.write(JSON.stringify(toJson(report, nook), null, 2) + '\n');
  else printTable(report);

  runCleanup();
  if (nookFailed.length) {
    process.stderr.write(`bench images: nook failed: ${nookFailed.map((r) => `${r.label}: ${r.fail ?? r.skip}`).join('; ')}\n`);
    process.exit(1);
  }
}

function rowJson(r) {
  return {
    key: r.key, label: r.label, argv: r.argv ?? null, status: r.status,
    error: r.status === 'failed' ? r.fail : r.status === 'skipped' ? r.skip : null, note: r.note ?? null, floor: Boolean(r.floor),
    median_ms: r3(r.stats?.median), mean_ms: r3(r.stats?.mean), p90_ms: r3(r.stats?.p90), min_ms: r3(r.stats?.min), max_ms: r3(r.stats?.max),
    ...(r.mbps !== undefined ? { mb_per_s: r3(r.mbps) } : {}), ratio_vs_nook: r3(r.ratio), samples_ms: r.samples.map(r3),
  };
}

function toJson({ opts, machine, reg, images, bigRef, smallRef, pulls, runs, checks, podInfo, nookVersion, totalSize }, nook) {
  const layer = (l) => ({ digest: l.digest, diff_id: l.diffId, size: l.size, uncompressed: l.uncompressed, files: l.files ?? null });
  return {
    pull_runs: opts.runs, run_runs: opts.runRuns, run_warmup: opts.warmup,
    user: { name: USER.name, uid: USER.uid, gid: USER.gid },
    machine,
    nook: { path: opts.nook, version: nookVersion, copied_for_user: nook.copied },
    registry: { version: reg.version, address: reg.host },
    images: {
      big: { ref: bigRef, size: totalSize, layers: images.big.map(layer) },
      small: { ref: smallRef, layers: [layer(images.small)] },
      gzip_ratios: images.ratio,
    },
    pulls: pulls.map(rowJson),
    runs: runs.map(rowJson),
    podman: podInfo,
    checks,
    nook_failed: [...pulls, ...runs].some((r) => r.isNook && r.status !== 'ok'),
  };
}

function printTable({ opts, machine, reg, images, bigRef, smallRef, pulls, runs, checks, podInfo, rootfs, work, nookVersion, totalSize }) {
  const W = work;
  const R = rootfs.R;
  const quote = (a) => (/[\s'"$&|;]/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a);
  const abbrev = (a) => (a === R ? 'R' : a.split(W + '/').join('W/'));
  // podman's storage flags are long and the same everywhere: shown once, as PG (pulls) and G (runs).
  const flags = [['PG', podInfo.pullGlobal], ['G', podInfo.global]].filter(([, f]) => f).map(([k, f]) => [k, f.map(abbrev).join(' ')]);
  const short = (argv) => {
    let s = argv.map(abbrev).map(quote).join(' ').replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256:$1…');
    for (const [k, f] of flags) s = s.replace(f, k);
    return s;
  };
  const mb = (n) => (n / MB).toFixed(1);
  const big = images.big;
  const out = [];
  out.push(`nook image benchmark, as ${USER.name} (uid ${USER.uid}); ${machine.kernel}; ${machine.cpus} CPUs; cgroups ${machine.cgroups}`);
  out.push(`${nookVersion ?? 'nook: no version'}; registry ${reg.version} at ${reg.host}`);
  out.push(`B = ${bigRef}: ${big.length} gzip layers, ${mb(totalSize)} MB (${big.map((l) => mb(l.size)).join(' + ')}), ` +
    `${mb(big.reduce((a, l) => a + l.uncompressed, 0))} MB as tar, ${big.reduce((a, l) => a + l.files, 0)} files; the first layer has busybox`);
  out.push(`S = ${smallRef}: 1 layer, ${mb(images.small.size)} MB, the rootfs R (${rootfs.version.replace(/ multi-call binary\.?/, '')}, ${rootfs.applets} applets)`);
  out.push('');
  const section = (title, rows, header, cells) => {
    out.push(title);
    const table = rows.map((r) => {
      const label = r.label + (r.floor ? ' (floor)' : '');
      if (r.stats) return [label, ...cells(r)];
      return [label, r.status === 'failed' ? `failed: ${r.fail}` : `skipped: ${r.skip}`];
    });
    const { w, lines } = tableLines(header, table);
    out.push(...lines, '');
    return w[0];
  };
  const ms = (r) => [r.stats.median.toFixed(1), r.stats.mean.toFixed(1), r.stats.p90.toFixed(1)];
  const w1 = section(`pull B: ${opts.runs} runs per command after one untimed try, interleaved; each into an empty store, removed after the run;\n` +
    `MB/s = B's ${mb(totalSize)} MB compressed over the median`,
    pulls, ['command', 'median ms', 'mean ms', 'p90 ms', 'MB/s', 'vs nook pull'], (r) => [...ms(r), r.mbps.toFixed(1), fmtRatio(r.ratio)]);
  const w2 = section(`run S true: ${opts.runRuns} runs per command after ${opts.warmup} warm-up, interleaved`,
    runs, ['command', 'median ms', 'mean ms', 'p90 ms', 'vs nook run IMAGE'], (r) => [...ms(r), fmtRatio(r.ratio)]);
  const w = Math.max(w1, w2);
  out.push(`commands, run as ${USER.name} with cwd /tmp and PATH=/usr/bin:/bin (W = ${W}, removed at the end; R = W/rootfs; IMAGE = S):`);
  for (const r of [...pulls, ...runs]) if (r.argv) out.push(`  ${r.label.padEnd(w)}  ${short(r.argv)}${r.note ? `   [${r.note}]` : ''}`);
  out.push('');
  if (podInfo.installed) {
    out.push(`podman: ${podInfo.version}; storage driver ${podInfo.storageDriver ?? 'none'}; attempts, in order:`);
    for (const [k, f] of flags) out.push(`  (${k} = ${f})`);
    for (const a of podInfo.attempts) {
      out.push(`  ${a.ok ? 'ok    ' : 'FAILED'}  ${short(a.argv)}`);
      if (!a.ok) out.push(`          ${a.error}`);
    }
    if (podInfo.workaround) out.push(`  workaround used for podman run: ${podInfo.workaround}`);
    out.push('');
  }
  out.push('goals:');
  for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench images: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
