#!/usr/bin/env node
// Container lifecycle benchmark: what a detached container costs while it
// runs (its supervisor's resident memory, next to podman's conmon where
// podman works), and how long `nook exec C true` takes next to
// `nook run --rootfs R true` (and `podman exec`), and what a network costs
// `nook run IMAGE true` (--network pasta against none, and against rootless
// podman's run with its pasta, or slirp4netns), in one interleaved run.
//
//   make bench          (runs this after the start-up and image benchmarks)
//   node test/bench/containers.mjs [--runs N] [--warmup N] [--format table|json] [--nook PATH]
//
// Run as an unprivileged user (`nookbench` when started as root). Exit status
// 0 even when a goal is missed, 1 when nook fails, 2 on bad usage.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  USER, buildRootfs, die, findPodmanRun, fmtRatio, initUser, machineInfo, measure, ok, onCleanup, parseArgs, podmanContext,
  podmanNetContext, podmanNetMode, progress, r3, reachable, runAs, runCleanup, tableLines, tunAccess, userDir, userEnv, whyFailed,
} from './common.mjs';

const GOAL_SUPERVISOR_RSS_KB = 5 * 1024;
/** What --network pasta may add to `nook run ... true` (issue 15). */
const GOAL_PASTA_EXTRA_MS = 25;

const NOOK_NET_IMAGE = 'localhost/nookbench-net:latest';
const PODMAN_NET_IMAGE = 'localhost/nookbench-net:latest';

/**
 * The network rows (issue 15): `nook run --network none|pasta IMAGE true`
 * and rootless podman's `run --network none|pasta IMAGE true` (slirp4netns
 * where this podman has no pasta), all through the same 0666-tun wrapper
 * (tunAccess) so that only the network differs, from an image of the same
 * busybox rootfs. info gets podman's attempts.
 */
function networkRows(work, nk, R, env, info) {
  const tun = tunAccess(work);
  const nookLabel = (m) => `nook run --network ${m} IMAGE true${tun.suffix ?? ''}`;
  const podLabel = (m) => `podman --runtime runc run --network ${m} IMAGE true${tun.suffix ?? ''}`;
  const rows = [];
  if (tun.skip) rows.push(...['none', 'pasta'].map((m) => ({ key: `net-${m}`, label: nookLabel(m), skip: tun.skip })));
  else {
    const tarball = path.join(userDir(path.join(work, 'net')), 'rootfs.tar');
    const t = runAs(['/usr/bin/tar', '-C', R, '-cf', tarball, '.'], env);
    const imp = ok(t) ? runAs(nk('import', tarball, NOOK_NET_IMAGE), env) : t;
    for (const m of ['none', 'pasta']) {
      rows.push(ok(imp)
        ? { key: `net-${m}`, label: nookLabel(m), argv: tun.wrap(nk('run', '--network', m, NOOK_NET_IMAGE, 'true')), env, spawn: tun.spawn, isNook: true }
        : { key: `net-${m}`, label: nookLabel(m), fail: `nook import: ${whyFailed(imp)}`, isNook: true });
    }
  }
  const pn = podmanNetContext(work, tun, R, PODMAN_NET_IMAGE);
  const mode = pn.ctx ? podmanNetMode(pn.ctx, PODMAN_NET_IMAGE, info) : pn;
  info.mode = mode.mode ?? null;
  for (const [key, m] of [['podman-net-none', 'none'], ['podman-net', mode.mode ?? 'pasta']]) {
    const row = { key, label: podLabel(m) };
    if (mode.mode) Object.assign(row, { argv: pn.ctx.pod('run', '--rm', '--network', m, PODMAN_NET_IMAGE, 'true'), env: pn.ctx.env, spawn: pn.ctx.spawn, note: key === 'podman-net' ? mode.note : undefined });
    else if (mode.skip) row.skip = mode.skip;
    else row.fail = mode.fail;
    rows.push(row);
  }
  return rows;
}
const DETACHED = 5;

function usage() {
  return `Usage: node test/bench/containers.mjs [--runs N] [--warmup N] [--format table|json] [--nook PATH]\n`;
}

/** VmRSS and Pss (kB) of a process. */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  let pss = NaN;
  try {
    pss = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    /* no smaps_rollup */
  }
  return { rss, pss };
}

/** Pids of the user's processes whose command line starts with `prefix` (an absolute executable path or a name). */
function pidsOf(match) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = fs.statSync(`/proc/${name}`);
      if (st.uid !== USER.uid) continue;
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (match(argv)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

const signed = (ms) => `${ms < 0 ? '−' : '+'}${Math.abs(ms).toFixed(1)}`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

async function main() {
  const opts = parseArgs(process.argv.slice(2), { usage, defaults: { runs: process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : 30, warmup: 5 } });
  initUser();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-ctr-'));
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  const { R } = buildRootfs(work);
  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  const env = userEnv({ XDG_CACHE_HOME: userDir(path.join(work, 'cache')), NOOK_STATE_DIR: path.join(userDir(path.join(work, 'state')), 'run'), NOOK_ROOT: userDir(path.join(work, 'store')) });
  const nk = (...args) => [nook.path, ...args];
  onCleanup(() => runAs(nk('rm', '-f', ...Array.from({ length: DETACHED }, (_, i) => `bench${i}`)), env));

  progress(`starting ${DETACHED} detached containers`);
  for (let i = 0; i < DETACHED; i++) {
    const r = runAs(nk('run', '-d', '--name', `bench${i}`, '--rootfs', R, 'sleep', '100000'), env);
    if (!ok(r)) die(`nook run -d failed: ${whyFailed(r)}`);
  }
  const supervisors = pidsOf((a) => path.basename(a[0]) === 'nook-supervisor');
  const mem = supervisors.map(memoryOf);
  const supRss = median(mem.map((m) => m.rss));
  const supPss = median(mem.map((m) => m.pss));

  const rows = [
    { key: 'run', label: 'nook run --rootfs R true', argv: nk('run', '--rootfs', R, 'true'), env, isNook: true },
    { key: 'exec', label: 'nook exec C true', argv: nk('exec', 'bench0', 'true'), env, isNook: true },
  ];
  const netInfo = { attempts: [] };
  rows.push(...networkRows(work, nk, R, env, netInfo));

  // podman: conmon's memory and podman exec, when rootless podman works here.
  let conmon = null;
  const ctx = podmanContext(work);
  if (ctx) {
    const info = { attempts: [] };
    const tarball = path.join(ctx.P, 'rootfs.tar');
    runAs(['/usr/bin/tar', '-C', R, '-cf', tarball, '.'], ctx.env);
    ctx.global = [...ctx.base, '--storage-driver', 'vfs'];
    const imp = runAs(ctx.pod('import', tarball, 'localhost/nookbench-ctr:latest'), ctx.env, { timeout: 300_000 });
    const found = ok(imp) ? findPodmanRun(ctx, info, 'localhost/nookbench-ctr:latest') : { fail: whyFailed(imp) };
    if (found.argv) {
      // The same global flags and run flags that worked, with -d and a name.
      const runAt = found.argv.indexOf('run');
      const detached = [...found.argv.slice(0, runAt + 1), '-d', '--name', 'nookbench-ctr', ...found.argv.slice(runAt + 2, -1), 'sleep', '100000'].filter((a) => a !== '--rm');
      const d = runAs(detached, ctx.env);
      if (ok(d)) {
        onCleanup(() => runAs([...found.argv.slice(0, runAt), 'rm', '-f', 'nookbench-ctr'], ctx.env));
        const cm = pidsOf((a) => path.basename(a[0]) === 'conmon').map(memoryOf);
        if (cm.length) conmon = { rss: median(cm.map((m) => m.rss)), pss: median(cm.map((m) => m.pss)) };
        rows.push({ key: 'podman-exec', label: 'podman exec C true', argv: [...found.argv.slice(0, runAt), 'exec', 'nookbench-ctr', 'true'], env: ctx.env, note: found.note });
      } else rows.push({ key: 'podman-exec', label: 'podman exec C true', fail: `podman run -d: ${whyFailed(d)}` });
    } else rows.push({ key: 'podman-exec', label: 'podman exec C true', fail: found.fail });
  } else rows.push({ key: 'podman-exec', label: 'podman exec C true', skip: 'not installed' });

  await measure(rows, { warmup: opts.warmup, runs: opts.runs });
  const base = rows[0].stats?.median;
  for (const row of rows) if (row.stats && base) row.ratio = row.stats.median / base;

  const checks = [
    {
      id: 'a',
      description: `a detached container's supervisor stays under ${GOAL_SUPERVISOR_RSS_KB / 1024} MB resident`,
      result: supervisors.length === DETACHED && supRss <= GOAL_SUPERVISOR_RSS_KB ? 'PASS' : 'FAIL',
      detail: `median VmRSS ${supRss} kB, Pss ${supPss} kB over ${supervisors.length} supervisors` + (conmon ? `; podman's conmon: VmRSS ${conmon.rss} kB, Pss ${conmon.pss} kB` : ''),
    },
  ];
  const exec = rows.find((r) => r.key === 'exec');
  if (exec.stats && base) checks.push({ id: 'b', description: 'nook exec C true next to nook run --rootfs R true (medians)', result: 'INFO', detail: `${exec.stats.median.toFixed(1)} vs ${base.toFixed(1)} ms (${fmtRatio(exec.ratio)})` });

  const [netNone, netPasta] = ['net-none', 'net-pasta'].map((k) => rows.find((r) => r.key === k));
  if (netNone?.stats && netPasta?.stats) {
    const extra = netPasta.stats.median - netNone.stats.median;
    checks.push({
      id: 'c',
      description: `--network pasta adds at most ${GOAL_PASTA_EXTRA_MS} ms to nook run --network none IMAGE true (medians)`,
      result: extra <= GOAL_PASTA_EXTRA_MS ? 'PASS' : 'FAIL',
      detail: `${netPasta.stats.median.toFixed(1)} vs ${netNone.stats.median.toFixed(1)} ms (${signed(extra)} ms)`,
    });
  } else checks.push({ id: 'c', description: '--network pasta vs none', result: 'SKIP', detail: netPasta?.fail ?? netPasta?.skip ?? netNone?.fail ?? 'not measured' });

  // Against rootless podman: the same command with its pasta (or slirp4netns), and what its network adds over its --network none.
  const [podNone, podNet] = ['podman-net-none', 'podman-net'].map((k) => rows.find((r) => r.key === k));
  const podMode = netInfo.mode ?? 'pasta';
  if (netPasta?.stats && podNet?.stats) {
    checks.push({
      id: 'd',
      description: `nook run --network pasta IMAGE true next to podman run --network ${podMode} IMAGE true (medians)`,
      result: 'INFO',
      detail: `${netPasta.stats.median.toFixed(1)} vs ${podNet.stats.median.toFixed(1)} ms (nook ${fmtRatio(netPasta.stats.median / podNet.stats.median)} of podman's time)` + (podNet.note ? `; ${podNet.note}` : ''),
    });
  } else checks.push({ id: 'd', description: `nook --network pasta vs podman --network ${podMode}`, result: 'SKIP', detail: [netPasta?.stats ? null : `nook: ${netPasta?.fail ?? netPasta?.skip ?? 'not measured'}`, podNet?.stats ? null : `podman: ${podNet?.fail ?? podNet?.skip ?? 'not measured'}`].filter(Boolean).join('; ') });
  if (podNone?.stats && podNet?.stats) {
    const extra = podNet.stats.median - podNone.stats.median;
    const nookExtra = netNone?.stats && netPasta?.stats ? netPasta.stats.median - netNone.stats.median : null;
    checks.push({
      id: 'e',
      description: `what a network adds to run ... true: podman's --network ${podMode} over its --network none, next to nook's pasta over none (medians)`,
      result: 'INFO',
      detail: `podman ${signed(extra)} ms (${podNet.stats.median.toFixed(1)} vs ${podNone.stats.median.toFixed(1)})` + (nookExtra != null ? `; nook ${signed(nookExtra)} ms` : ''),
    });
  }

  if (opts.format === 'json') {
    process.stdout.write(JSON.stringify({
      machine: machineInfo(), user: USER.name,
      supervisor: { count: supervisors.length, rss_kb: supRss, pss_kb: supPss }, conmon, podman_network: netInfo,
      commands: rows.map((r) => ({ key: r.key, label: r.label, status: r.status, error: r.fail ?? r.skip ?? null, median_ms: r3(r.stats?.median), p90_ms: r3(r.stats?.p90), ratio_vs_nook_run: r3(r.ratio) })),
      checks,
    }, null, 2) + '\n');
  } else {
    const out = [`nook container benchmark: ${opts.runs} runs per command after ${opts.warmup} warm-up, interleaved; user ${USER.name}`, ''];
    out.push(`memory of a detached container's keeper (median of ${supervisors.length}):`);
    out.push(`  nook-supervisor   VmRSS ${supRss} kB   Pss ${supPss} kB`);
    out.push(conmon ? `  podman's conmon   VmRSS ${conmon.rss} kB   Pss ${conmon.pss} kB   (nook: ${fmtRatio(supRss / conmon.rss)} of conmon's RSS)` : '  podman\'s conmon   not measured (podman not installed or not working here)');
    out.push('');
    const { lines } = tableLines(['command', 'median ms', 'mean ms', 'p90 ms', 'vs nook run'], rows.map((r) =>
      r.stats ? [r.label, r.stats.median.toFixed(1), r.stats.mean.toFixed(1), r.stats.p90.toFixed(1), fmtRatio(r.ratio)] : [r.label, r.status === 'failed' ? `failed: ${r.fail}` : `skipped: ${r.skip}`]));
    out.push(...lines, '', 'goals:');
    for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
    process.stdout.write(out.join('\n') + '\n');
  }
  runCleanup();
  const failed = rows.filter((r) => r.isNook && r.status !== 'ok');
  if (failed.length) {
    process.stderr.write(`bench: nook failed: ${failed.map((r) => `${r.label}: ${r.fail}`).join('; ')}\n`);
    process.exit(1);
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
