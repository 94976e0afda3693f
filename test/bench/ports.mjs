#!/usr/bin/env node
// Published-port throughput: 1 GB sent from the host to a receiver in a
// container through `-p`, for each of nook's ways in (the built-in port proxy
// with --network none, pasta, slirp4netns), next to the same receiver reached
// directly with --network host (no proxy: the ceiling) and to rootless
// podman's `run -p` (runc; its default network and port handler, slirp4netns
// and rootlessport on Debian 12's podman 4.3). pasta, slirp4netns and podman
// open /dev/net/tun: they run through the 0666-tun wrapper (common.mjs
// tunAccess) where the host's node is not 0666.
//
//   make bench          (runs this after the container benchmark)
//   node test/bench/ports.mjs [--runs N] [--format table|json] [--nook PATH]
//
// Run as an unprivileged user (`nookbench` when started as root). Exit status
// 0 even when slower than hoped or podman cannot run (its row says why), 1
// when nook fails (a nook whose slirp4netns cannot publish ports yet makes a
// skipped row), 2 on bad usage.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  REPO, USER, buildRootfs, die, initUser, machineInfo, ok, onCleanup, parseArgs, podmanNetContext, progress, r3, reachable, runAs, runCleanup,
  sh, tableLines, tunAccess, userDir, userEnv, whyFailed,
} from './common.mjs';

const BYTES = 1 << 30;
const PODMAN_IMAGE = 'localhost/nookbench-sink:latest';

function usage() {
  return `Usage: node test/bench/ports.mjs [--runs N] [--format table|json] [--nook PATH]\n`;
}

/** A port nobody listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Names (of those given) of the user's running processes, by their executable's base name. */
function userProcesses(names) {
  const found = new Set();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (fs.statSync(`/proc/${pid}`).uid !== USER.uid) continue;
      const base = path.basename(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]);
      if (names.includes(base)) found.add(base);
    } catch {
      /* gone */
    }
  }
  return [...found].sort();
}

/** Sends BYTES to 127.0.0.1:port and waits for the receiver's count; seconds, or throws. */
function sendOnce(port) {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 20, 0x78);
    const t0 = process.hrtime.bigint();
    const sock = net.connect(port, '127.0.0.1');
    let sent = 0;
    let answer = '';
    const pump = () => {
      while (sent < BYTES) {
        sent += chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
      sock.end();
    };
    sock.on('connect', pump);
    sock.on('data', (d) => (answer += d));
    sock.on('error', reject);
    sock.on('close', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (Number(answer.trim()) !== BYTES) reject(new Error(`the receiver got ${answer.trim() || 'nothing'} of ${BYTES} bytes`));
      else resolve(secs);
    });
  });
}

/** Tries until the receiver listens (the container's command starts after nook returns). */
async function send(port) {
  for (let i = 0; ; i++) {
    try {
      return await sendOnce(port);
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), { usage, defaults: { runs: process.env.BENCH_RUNS ? Math.min(Number(process.env.BENCH_RUNS), 5) : 3, warmup: 0 } });
  initUser();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-bench-ports-'));
  fs.chmodSync(work, 0o755);
  onCleanup(() => fs.rmSync(work, { recursive: true, force: true }));
  const { R } = buildRootfs(work);
  const cc = sh('cc', ['-static', '-O2', '-o', path.join(R, 'bin', 'sink'), path.join(REPO, 'test', 'bench', 'ports', 'sink.c')]);
  if (cc.status !== 0) die(`building the receiver: ${whyFailed(cc)}`);
  fs.chmodSync(path.join(R, 'bin', 'sink'), 0o755);
  if (!fs.existsSync(opts.nook)) die(`${opts.nook} does not exist: run make first`);
  const nook = reachable(opts.nook, work, 'nook');
  const env = userEnv({ XDG_CACHE_HOME: userDir(path.join(work, 'cache')), NOOK_STATE_DIR: path.join(userDir(path.join(work, 'state')), 'run'), NOOK_ROOT: userDir(path.join(work, 'store')) });
  const nk = (...args) => [nook.path, ...args];

  const tun = tunAccess(work);
  const podInfo = { attempts: [] };
  const pod = podmanNetContext(work, tun, R, PODMAN_IMAGE);

  // Each way in: how to start the receiver on host port hp (argv and spawn
  // options), how to remove it, and whether a failure is nook's (exit 1) or a
  // row to skip (a nook without slirp4netns ports says "not supported yet";
  // podman is a peer).
  const nookRun = (name, flags, port, wrapped) => ({
    argv: (wrapped ? tun.wrap : (a) => a)(nk('run', '-d', '--name', name, ...flags, '--rootfs', R, 'sink', port)),
    spawn: wrapped ? tun.spawn : {},
    rm: () => runAs(nk('rm', '-f', name), env),
    env,
  });
  const ways = [
    { key: 'proxy', label: 'nook --network none -p (built-in port proxy)', start: (hp, name) => nookRun(name, ['--network', 'none', '-p', `127.0.0.1:${hp}:9000`], '9000', false) },
    { key: 'pasta', label: `nook --network pasta -p${tun.suffix ?? ''}`, skip: tun.skip, start: (hp, name) => nookRun(name, ['--network', 'pasta', '-p', `127.0.0.1:${hp}:9000`], '9000', true) },
    { key: 'slirp4netns', label: `nook --network slirp4netns -p${tun.suffix ?? ''}`, skip: tun.skip, skipIf: /not supported/, start: (hp, name) => nookRun(name, ['--network', 'slirp4netns', '-p', `127.0.0.1:${hp}:9000`], '9000', true) },
    { key: 'host', label: 'nook --network host (no proxy)', start: (hp, name) => nookRun(name, ['--network', 'host'], String(hp), false) },
    {
      key: 'podman', label: `podman --runtime runc run -p (its default handler)${tun.suffix ?? ''}`, peer: true, skip: pod.skip, fail: pod.fail,
      start: (hp, name) => ({
        argv: pod.ctx.pod('run', '-d', '--name', name, '-p', `127.0.0.1:${hp}:9000`, PODMAN_IMAGE, '/bin/sink', '9000'),
        spawn: pod.ctx.spawn,
        rm: () => runAs(pod.ctx.pod('rm', '-f', '-t', '0', name), pod.ctx.env, pod.ctx.spawn),
        env: pod.ctx.env,
      }),
    },
  ];

  const rows = [];
  for (const way of ways) {
    const { key, label } = way;
    if (way.skip || way.fail) {
      rows.push({ key, label, peer: way.peer, skip: way.skip, fail: way.fail });
      continue;
    }
    const hp = await freePort();
    const name = `nookbench-port-${key}`;
    progress(`${label}: ${opts.runs} × 1 GB`);
    const run = way.start(hp, name);
    const r = runAs(run.argv, run.env, run.spawn);
    onCleanup(run.rm);
    if (!ok(r)) {
      run.rm();
      const why = `run -d: ${whyFailed(r)}`;
      rows.push({ key, label, peer: way.peer, ...(way.skipIf?.test(why) ? { skip: why } : { fail: why }) });
      continue;
    }
    // Which helpers carry the traffic (podman's default depends on its version and containers.conf).
    const helpers = userProcesses(['pasta', 'pasta.avx2', 'slirp4netns', 'rootlessport']);
    const secs = [];
    try {
      for (let i = 0; i < opts.runs; i++) secs.push(await send(hp));
    } catch (e) {
      run.rm();
      rows.push({ key, label, peer: way.peer, fail: e.message });
      continue;
    }
    secs.sort((a, b) => a - b);
    const median = secs[(secs.length - 1) >> 1];
    rows.push({ key, label, peer: way.peer, helpers, median, mbps: BYTES / median / 1e6 });
    run.rm();
  }
  const host = rows.find((r) => r.key === 'host');
  const podman = rows.find((r) => r.key === 'podman');
  for (const r of rows) {
    if (r.mbps && host?.mbps) r.ratio = r.mbps / host.mbps;
    if (r.mbps && podman?.mbps) r.vsPodman = r.mbps / podman.mbps;
  }

  if (opts.format === 'json') {
    process.stdout.write(JSON.stringify({
      machine: machineInfo(), user: USER.name, bytes: BYTES, runs: opts.runs, podman: pod.ctx ? { version: pod.ctx.version } : null,
      transfers: rows.map((r) => ({
        key: r.key, label: r.label, status: r.mbps ? 'ok' : r.skip ? 'skipped' : 'failed', error: r.fail ?? r.skip ?? null, helpers: r.helpers ?? null,
        median_s: r3(r.median), mb_per_s: r3(r.mbps), vs_host: r3(r.ratio), vs_podman: r3(r.vsPodman),
      })),
    }, null, 2) + '\n');
  } else {
    const out = [`nook port benchmark: 1 GB from the host into a container, median of ${opts.runs}; user ${USER.name}`, ''];
    const pct = (x) => (x ? `${(x * 100).toFixed(0)}%` : '');
    const { lines } = tableLines(['path', 'median s', 'MB/s', 'vs --network host', 'vs podman -p'], rows.map((r) =>
      r.mbps ? [r.label, r.median.toFixed(2), r.mbps.toFixed(0), pct(r.ratio), pct(r.vsPodman)] : [r.label, r.skip ? `skipped: ${r.skip}` : `failed: ${r.fail}`]));
    out.push(...lines);
    const seen = rows.filter((r) => r.helpers?.length);
    if (seen.length) out.push('', 'helpers running as the user during each transfer:', ...seen.map((r) => `  ${r.key}: ${r.helpers.join(', ')}`));
    if (pod.ctx) out.push('', `podman: ${pod.ctx.version}`);
    process.stdout.write(out.join('\n') + '\n');
  }
  runCleanup();
  // nook's failures fail the benchmark; a peer's or a skipped row's do not.
  if (rows.some((r) => r.fail && !r.peer)) process.exit(1);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
