#!/usr/bin/env node
// Published-port throughput: 1 GB sent from the host to a receiver in a
// container through `-p` (nook's built-in port proxy), next to the same
// receiver reached directly with --network host (no proxy: the ceiling).
//
//   make bench          (runs this after the container benchmark)
//   node test/bench/ports.mjs [--runs N] [--format table|json] [--nook PATH]
//
// Run as an unprivileged user (`nookbench` when started as root). Exit status
// 0 even when slower than hoped, 1 when nook fails, 2 on bad usage.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  REPO, USER, buildRootfs, die, initUser, machineInfo, ok, onCleanup, parseArgs, progress, r3, reachable, runAs, runCleanup, sh, tableLines,
  userDir, userEnv, whyFailed,
} from './common.mjs';

const BYTES = 1 << 30;

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

  const rows = [];
  for (const [key, label, flags] of [
    ['proxy', 'nook -p (built-in port proxy)', (hp) => ['-p', `127.0.0.1:${hp}:9000`]],
    ['host', 'nook --network host (no proxy)', () => ['--network', 'host']],
  ]) {
    const hp = await freePort();
    const name = `nookbench-port-${key}`;
    progress(`${label}: ${opts.runs} × 1 GB`);
    const r = runAs(nk('run', '-d', '--name', name, ...flags(hp), '--rootfs', R, 'sink', key === 'host' ? String(hp) : '9000'), env);
    onCleanup(() => runAs(nk('rm', '-f', name), env));
    if (!ok(r)) {
      rows.push({ key, label, fail: `nook run -d: ${whyFailed(r)}` });
      continue;
    }
    const secs = [];
    try {
      for (let i = 0; i < opts.runs; i++) secs.push(await send(hp));
    } catch (e) {
      rows.push({ key, label, fail: e.message });
      continue;
    }
    secs.sort((a, b) => a - b);
    const median = secs[(secs.length - 1) >> 1];
    rows.push({ key, label, median, mbps: BYTES / median / 1e6 });
    runAs(nk('rm', '-f', name), env);
  }
  const host = rows.find((r) => r.key === 'host');
  for (const r of rows) if (r.mbps && host?.mbps) r.ratio = r.mbps / host.mbps;

  if (opts.format === 'json') {
    process.stdout.write(JSON.stringify({
      machine: machineInfo(), user: USER.name, bytes: BYTES, runs: opts.runs,
      transfers: rows.map((r) => ({ key: r.key, label: r.label, error: r.fail ?? null, median_s: r3(r.median), mb_per_s: r3(r.mbps), vs_host: r3(r.ratio) })),
    }, null, 2) + '\n');
  } else {
    const out = [`nook port benchmark: 1 GB from the host into a container, median of ${opts.runs}; user ${USER.name}`, ''];
    const { lines } = tableLines(['path', 'median s', 'MB/s', 'vs --network host'], rows.map((r) =>
      r.mbps ? [r.label, r.median.toFixed(2), r.mbps.toFixed(0), r.ratio ? `${(r.ratio * 100).toFixed(0)}%` : ''] : [r.label, `failed: ${r.fail}`]));
    out.push(...lines);
    process.stdout.write(out.join('\n') + '\n');
  }
  runCleanup();
  if (rows.some((r) => r.fail)) process.exit(1);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e}\n`);
  runCleanup();
  process.exit(1);
});
