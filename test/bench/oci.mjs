#!/usr/bin/env node
// OCI runtime benchmark (issue 17): nook as a runc-compatible runtime
// (build/nook-runc, nook invoked under runc's name) next to runc and crun.
//
//   (a) create + start + kill -9 + delete of a busybox bundle (config from
//       `runc spec --rootless`, rootfs from busybox-static, --root a temp dir),
//       one sample being the four runtime invocations in one `sh -c`: runc,
//       the runtime under test, and crun inside `unshare -Urm` with cgroup v2
//       hidden (crun refuses this host's hybrid cgroups otherwise; its bundle
//       maps container root to the unshare's root, that is the same user).
//       Goal: runtime under test / runc <= 1.5 (means).
//   (b) `podman --runtime X run --rm --network none IMAGE true` (rootless,
//       podman's own storage in the temp dir) for runc and the runtime under
//       test. Goal: <= 1.1 (means).
//
//   node test/bench/oci.mjs [--runs N] [--warmup N] [--format table|json] [--runtime PATH]
//
// Everything runs rootless as an unprivileged user (the current one, or
// `nookbench` when started as root): runc's rootless mode needs no root here.
// The runtime under test is skipped, with a message, while it does not exist.
// Exit status 0 even when a goal is missed, 1 when the runtime under test
// fails, 2 on bad usage.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  REPO, USER, buildRootfs, die, fmtRatio, initUser, machineInfo, measure, ok, onCleanup, parseArgs, podmanContext, progress, r3,
  reachable, runAs, runCleanup, setName, tableLines, userDir, userEnv, which, whyFailed, firstLine, CGROUP2_HYBRID,
} from './common.mjs';

setName('bench-oci');
const GOAL_LIFECYCLE = 1.5;
const GOAL_PODMAN = 1.1;
const IMAGE = 'localhost/nookbench-oci:latest';

function usage() {
  return `Usage: node test/bench/oci.mjs [--runs N] [--warmup N] [--format table|json] [--runtime PATH]\n` +
    `  --runtime PATH   the runc-compatible runtime under test (default build/nook-runc)\n`;
}

/** One sample of (a): the four calls, under an id of its own (the shell's pid), so that a failed sample leaves nothing in the way of the next. */
const LIFECYCLE = 'rt=$1 root=$2 bundle=$3 id=b$$; "$rt" --root "$root" create --bundle "$bundle" "$id" && "$rt" --root "$root" start "$id" && "$rt" --root "$root" kill "$id" KILL && "$rt" --root "$root" delete --force "$id"';

function lifecycleRow(key, label, runtime, root, bundle, wrap = (a) => a) {
  return { key, label, argv: wrap(['/bin/sh', '-c', LIFECYCLE, 'sh', runtime, root, bundle]), env: userEnv(), group: 'a' };
}

/** The bundle for (a): `runc spec --rootless` (as the user), the busybox rootfs, `sleep` as the process (it must still run at kill). */
function makeBundle(dir, runc, R, mapToRoot) {
  const B = userDir(dir, 0o755);
  const spec = runAs([runc, 'spec', '--rootless'], userEnv(), { cwd: B });
  if (!ok(spec)) die(`runc spec --rootless: ${whyFailed(spec)}`);
  const file = path.join(B, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  cfg.root = { path: R, readonly: true };
  cfg.process.args = ['sleep', '1000'];
  cfg.process.terminal = false;
  // Inside `unshare -Ur` the user is root, and its own id is the only one mapped.
  if (mapToRoot) for (const k of ['uidMappings', 'gidMappings']) for (const m of cfg.linux[k] ?? []) m.hostID = 0;
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  fs.chmodSync(file, 0o644);
  return B;
}

/** Deletes what a failed sample may have left in a state directory. */
function cleanState(runtime, root, wrap = (a) => a) {
  onCleanup(() => {
    const list = runAs(wrap([runtime, '--root', root, 'list', '-q']), userEnv());
    for (const id of (list.stdout ?? '').split('\n').filter(Boolean)) runAs(wrap([runtime, '--root', root, 'delete', '--force', id]), userEnv());
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    usage,
    defaults: { runs: process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : 20, warmup: 3, runtime: path.join(REPO, 'build', 'nook-runc') },
    flags: { '--runtime': { key: 'runtime' } },
  });
  opts.runtime = path.resolve(opts.runtime);
  initUser();
  const runc = which('runc');
  if (!runc) die('runc is not installed (apt-get install runc): it is what the runtime under test is measured against');
  // A short path: podman 4.3 waits 20 s on every foreground run when its run/tmp directories are deep (see test/helpers/oci-clients.ts).
  const work = fs.mkdtempSync('/tmp/nkb-oci-');
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  const { R } = buildRootfs(work);
  const info = { runc: firstLine(runAs([runc, '--version']).stdout), crun: null, runtime: opts.runtime, podman: null };

  const nookWhy = fs.existsSync(opts.runtime) ? null : `${opts.runtime} does not exist yet (nook's OCI runtime, issue 17): skipped`;
  if (nookWhy) progress(nookWhy);
  const nook = nookWhy ? null : reachable(opts.runtime, work, path.basename(opts.runtime));
  const nookLabel = path.basename(opts.runtime);

  // (a)
  const B = makeBundle(path.join(work, 'bundle'), runc, R, false);
  const rows = [];
  const st = (name) => userDir(path.join(work, `state-${name}`));
  const runcState = st('runc');
  cleanState(runc, runcState);
  rows.push(lifecycleRow('a-runc', 'runc create+start+kill+delete', runc, runcState, B));
  if (nook) {
    const s = st('nook');
    cleanState(nook.path, s);
    rows.push({ ...lifecycleRow('a-nook', `${nookLabel} create+start+kill+delete`, nook.path, s, B), isNook: true });
  } else rows.push({ key: 'a-nook', label: `${nookLabel} create+start+kill+delete`, skip: nookWhy, group: 'a' });
  const crun = which('crun');
  if (crun) {
    info.crun = firstLine(runAs([crun, '--version']).stdout);
    const unshare = which('unshare');
    const hide = fs.existsSync(CGROUP2_HYBRID) ? `mount -t tmpfs none ${CGROUP2_HYBRID} && ` : '';
    const wrap = (a) => [unshare, '-Urm', '/bin/sh', '-c', `${hide}exec "$@"`, 'sh', ...a];
    const s = st('crun');
    cleanState(crun, s, wrap);
    rows.push({ ...lifecycleRow('a-crun', 'crun create+start+kill+delete (in unshare -Urm)', crun, s, makeBundle(path.join(work, 'bundle-crun'), runc, R, true), wrap) });
  } else rows.push({ key: 'a-crun', label: 'crun create+start+kill+delete', skip: 'crun is not installed', group: 'a' });

  // (b)
  const ctx = podmanContext(work);
  const podLabel = (name) => `podman --runtime ${name} run --rm IMAGE true`;
  if (!ctx) rows.push(...[['b-runc', 'runc'], ['b-nook', nookLabel]].map(([key, n]) => ({ key, label: podLabel(n), skip: 'podman is not installed', group: 'b' })));
  else {
    info.podman = ctx.version;
    const tarball = path.join(userDir(path.join(work, 'image')), 'rootfs.tar');
    const t = runAs(['/usr/bin/tar', '-C', R, '-cf', tarball, '.'], ctx.env);
    const imp = ok(t) ? runAs(ctx.pod('import', '--quiet', tarball, IMAGE), ctx.env, { timeout: 300_000 }) : t;
    const pod = (rt) => ctx.pod('--runtime', rt, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', 'run', '--rm', '--network', 'none', IMAGE, 'true');
    if (!ok(imp)) rows.push({ key: 'b-runc', label: podLabel('runc'), fail: `podman import: ${whyFailed(imp)}`, group: 'b' });
    else rows.push({ key: 'b-runc', label: podLabel('runc'), argv: pod(runc), env: ctx.env, group: 'b' });
    if (!nook) rows.push({ key: 'b-nook', label: podLabel(nookLabel), skip: nookWhy, group: 'b' });
    else if (!ok(imp)) rows.push({ key: 'b-nook', label: podLabel(nookLabel), fail: `podman import: ${whyFailed(imp)}`, group: 'b', isNook: true });
    else rows.push({ key: 'b-nook', label: podLabel(nookLabel), argv: pod(nook.path), env: ctx.env, group: 'b', isNook: true });
  }

  await measure(rows, { warmup: opts.warmup, runs: opts.runs });

  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
  for (const r of rows) {
    const base = byKey[r.group === 'a' ? 'a-runc' : 'b-runc'];
    r.ratio = r.stats && base?.stats ? r.stats.mean / base.stats.mean : null;
  }
  const goal = (id, key, limit, what) => {
    const r = byKey[key];
    if (!r?.stats) return { id, description: what, result: 'SKIP', detail: r?.fail ?? r?.skip ?? 'not measured' };
    if (r.ratio == null) return { id, description: what, result: 'SKIP', detail: 'runc not measured' };
    return { id, description: what, result: r.ratio <= limit ? 'PASS' : 'FAIL', detail: `${fmtRatio(r.ratio)} of runc's mean (goal <= ${limit}×)` };
  };
  const checks = [
    goal('a', 'a-nook', GOAL_LIFECYCLE, `${nookLabel} create+start+kill+delete next to runc's`),
    goal('b', 'b-nook', GOAL_PODMAN, `podman run --rm true with ${nookLabel} next to runc`),
  ];

  if (opts.format === 'json') {
    process.stdout.write(JSON.stringify({
      machine: machineInfo(), user: USER.name, versions: info,
      commands: rows.map((r) => ({ key: r.key, label: r.label, status: r.status, error: r.fail ?? r.skip ?? null, mean_ms: r3(r.stats?.mean), median_ms: r3(r.stats?.median), p90_ms: r3(r.stats?.p90), ratio_vs_runc: r3(r.ratio) })),
      checks,
    }, null, 2) + '\n');
  } else {
    const out = [`nook OCI runtime benchmark: ${opts.runs} runs per command after ${opts.warmup} warm-up, interleaved; rootless, user ${USER.name}`];
    out.push(`runc: ${info.runc}; crun: ${info.crun ?? 'not installed'}; podman: ${info.podman ?? 'not installed'}; under test: ${opts.runtime}`, '');
    const { lines } = tableLines(['command', 'mean ms', 'median ms', 'p90 ms', 'vs runc'], rows.map((r) =>
      r.stats ? [r.label, r.stats.mean.toFixed(1), r.stats.median.toFixed(1), r.stats.p90.toFixed(1), fmtRatio(r.ratio)] : [r.label, r.status === 'failed' ? `failed: ${r.fail}` : `skipped: ${r.skip}`]));
    out.push(...lines, '', 'goals:');
    for (const c of checks) out.push(`${c.result} (${c.id}) ${c.description}: ${c.detail}`);
    process.stdout.write(out.join('\n') + '\n');
  }
  runCleanup();
  const failed = rows.filter((r) => r.isNook && r.status === 'failed');
  if (failed.length) {
    process.stderr.write(`bench-oci: ${nookLabel} failed: ${failed.map((r) => `${r.label}: ${r.fail}`).join('; ')}\n`);
    process.exit(1);
  }
}

main().catch((e) => {
  process.stderr.write(`bench-oci: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
