// The image benchmark's registry and images (images.mjs; build.mjs takes the
// registry, tarLayer and the content generators from here): Debian's
// docker-registry on a free port of 127.0.0.1, and the test images, built
// here (the same bytes every time: the content comes from seeded generators)
// and pushed through the registry's HTTP API.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { die, findBusybox, firstLine, onCleanup, progress, which } from './common.mjs';
import { prng } from '../helpers/prng.mjs';

/** The tag of both images. */
export const TAG = '1';
export const MB = 1e6;
const LAYER_SHARES = [0.4, 0.35, 0.25]; // of --image-mb, compressed, as the issue asks (~40, ~35, ~25 MB)

// ---------------------------------------------------------------- the registry

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * docker-registry serving from work/registry, as ourselves; killed at cleanup.
 * In a process group of its own, so that a Ctrl-C does not take it away
 * under the pull that is running; its log goes to a file, because a pipe
 * nobody reads during a spawnSync would fill up and stall it.
 */
export async function startRegistry(work) {
  const exe = which('docker-registry') ?? which('registry');
  if (!exe) die('no docker-registry: apt-get install docker-registry');
  const dir = path.join(work, 'registry');
  fs.mkdirSync(path.join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(config, [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'storage')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n'));
  const logFile = path.join(dir, 'log');
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(exe, ['serve', config], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  let exited = null;
  proc.on('exit', (code, sig) => (exited = sig ? `killed by ${sig}` : `exit status ${code}`));
  proc.on('error', (e) => (exited = e.message));
  onCleanup(() => exited === null && proc.kill('SIGKILL'));
  const version = firstLine(spawnSync(exe, ['--version'], { encoding: 'utf8' }).stdout).replace(exe, path.basename(exe)) || exe;
  const base = `http://127.0.0.1:${port}`;
  const logTail = () => fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' / ');
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
    if (exited !== null) die(`${exe} stopped (${exited}): ${logTail()}`);
    try {
      const r = await fetch(`${base}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200) return { host: `127.0.0.1:${port}`, base, version };
    } catch {}
  }
  die(`${exe} did not answer GET ${base}/v2/ within 15 s: ${logTail()}`);
}

async function http(method, url, body, headers = {}) {
  const r = await fetch(url, { method, body, headers });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text };
}

/** POST an upload, then PUT the blob in one piece (a monolithic upload); skipped when the registry has it. */
async function pushBlob(base, repo, digest, data) {
  if ((await http('HEAD', `${base}/v2/${repo}/blobs/${digest}`)).status === 200) return;
  const post = await http('POST', `${base}/v2/${repo}/blobs/uploads/`);
  if (post.status !== 202) throw new Error(`POST /v2/${repo}/blobs/uploads/: HTTP ${post.status} ${post.text.slice(0, 200)}`);
  const loc = new URL(post.headers.get('location'), base).href;
  const put = await http('PUT', `${loc}${loc.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, data, { 'Content-Type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`PUT blob ${digest}: HTTP ${put.status} ${put.text.slice(0, 200)}`);
}

/** Pushes the layers, an OCI config and an OCI manifest as repo:TAG. */
export async function pushImage(base, repo, layers, history) {
  const arch = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }[process.arch] ?? process.arch;
  const created = '2024-01-01T00:00:00Z';
  const config = Buffer.from(JSON.stringify({
    created,
    architecture: arch,
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: history.map((h) => ({ created, created_by: h })),
  }));
  const configDigest = `sha256:${crypto.createHash('sha256').update(config).digest('hex')}`;
  for (const l of layers) await pushBlob(base, repo, l.digest, fs.readFileSync(l.file));
  await pushBlob(base, repo, configDigest, config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  });
  const put = await http('PUT', `${base}/v2/${repo}/manifests/${TAG}`, manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
  if (put.status !== 201) throw new Error(`PUT /v2/${repo}/manifests/${TAG}: HTTP ${put.status} ${put.text.slice(0, 200)}`);
}

// ---------------------------------------------------------------- the images


/**
 * File contents of three kinds, each from a seeded source: text (source code,
 * docs, configs: words from a made-up vocabulary; gzip gets ~3×), binary
 * (4 KiB blocks of text-like, zero-padded and random bytes, like executables
 * and libraries: ~2.5×), and packed (already compressed: random bytes, 1×).
 */
export function contentSource(seed) {
  const rnd = prng(seed);
  const key = crypto.createHash('sha256').update(`nook-bench-${seed}`).digest().subarray(0, 16);
  const aes = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16)); // a fast, seeded stream of random bytes
  const random = (n) => aes.update(Buffer.alloc(n));
  const letters = 'etaoinshrdlucmfwypvbgkjqxz_';
  const vocab = Array.from({ length: 1024 }, () => {
    let w = '';
    for (let k = 2 + Math.floor(rnd() * 9); k > 0; k--) w += letters[Math.floor(rnd() ** 1.6 * letters.length)];
    return w;
  });
  const parts = [];
  let len = 0;
  while (len < 4 << 20) {
    const indent = ' '.repeat(2 * Math.floor(rnd() * 4));
    const words = Array.from({ length: 3 + Math.floor(rnd() * 10) }, () => vocab[Math.floor(rnd() ** 3 * vocab.length)]);
    const line = `${indent}${rnd() < 0.3 ? `${words.shift()} = ` : ''}${words.join(rnd() < 0.5 ? ' ' : ', ')}${rnd() < 0.2 ? ';' : ''}\n`;
    parts.push(line);
    len += line.length;
  }
  const corpus = Buffer.from(parts.join(''));
  const text = (n) => {
    const out = Buffer.alloc(n);
    for (let o = 0; o < n; ) {
      const at = Math.floor(rnd() * (corpus.length - 1));
      o += corpus.copy(out, o, at, at + Math.min(n - o, 64 << 10));
    }
    return out;
  };
  const binary = (n) => {
    const out = Buffer.alloc(n);
    for (let o = 0; o < n; o += 4096) {
      const k = Math.min(4096, n - o);
      const r = rnd();
      if (r < 0.2) random(k).copy(out, o);
      else if (r < 0.4) random(k >> 5).copy(out, o); // mostly zeros
      else text(k).copy(out, o);
    }
    return out;
  };
  const gen = { text, binary, packed: random };
  // How well gzip -6 squeezes each kind, to size the layers before compressing them.
  const ratio = Object.fromEntries(Object.entries(gen).map(([kind, f]) => [kind, zlib.gzipSync(f(2 << 20), { level: 6 }).length / (2 << 20)]));
  return { rnd, gen, ratio };
}

const DIRS = ['usr/lib/x86_64-linux-gnu', 'usr/lib/python3/dist-packages', 'usr/share/doc', 'usr/share/locale', 'usr/include', 'opt/app/lib', 'var/lib/app'];
const EXT = { text: ['txt', 'py', 'conf', 'h', 'md', 'json', 'js', ''], binary: ['so', 'so.1', 'bin', ''], packed: ['gz', 'png', 'jar', 'zip'] };

/** Fills dir with files of mixed sizes and kinds until gzip would make about `target` bytes of them and what is there (`start`). */
function fillTree(dir, target, src, start) {
  const { rnd, gen, ratio } = src;
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const logUniform = (lo, hi) => Math.round(lo * (hi / lo) ** rnd());
  let estimate = start;
  let files = 0;
  let bytes = 0;
  let cur = null;
  while (estimate < target) {
    if (!cur || rnd() < 0.04) {
      cur = path.join(dir, pick(DIRS), `pkg${Math.floor(rnd() * 500)}`, ...(rnd() < 0.5 ? [`m${Math.floor(rnd() * 8)}`] : []));
      fs.mkdirSync(cur, { recursive: true, mode: 0o755 });
    }
    // Mostly small files, some medium, a few large: the mix of a distribution image.
    const r = rnd();
    let size = r < 0.95 ? logUniform(64, 64 << 10) : r < 0.997 ? logUniform(64 << 10, 1 << 20) : logUniform(1 << 20, 8 << 20);
    const k = rnd();
    const kind = size < 64 << 10 ? (k < 0.75 ? 'text' : k < 0.95 ? 'binary' : 'packed') : size < 1 << 20 ? (k < 0.35 ? 'text' : k < 0.85 ? 'binary' : 'packed') : k < 0.75 ? 'binary' : 'packed';
    size = Math.max(64, Math.min(size, Math.round((target - estimate) / ratio[kind]))); // the last file fills the layer up, no more
    const ext = pick(EXT[kind]);
    const name = path.join(cur, `f${files}${ext ? `.${ext}` : ''}`);
    fs.writeFileSync(name, gen[kind](size), { mode: kind === 'binary' && rnd() < 0.5 ? 0o755 : 0o644 });
    estimate += size * ratio[kind] + 64; // + a compressed tar header
    bytes += size;
    files++;
  }
  return { files, bytes };
}

/** A busybox with /bin/sh and /bin/true, so the big image runs too; returns its compressed size. */
function addBusybox(dir) {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true, mode: 0o755 });
  const data = fs.readFileSync(findBusybox());
  fs.writeFileSync(path.join(dir, 'bin', 'busybox'), data, { mode: 0o755 });
  for (const a of ['sh', 'true']) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  return zlib.gzipSync(data, { level: 6 }).length;
}

/** tar -c of dir (owned by root, fixed mtimes) into a gzip layer; the diff_id and digest are hashed on the way. */
export async function tarLayer(dir, file) {
  const hashing = (h, count) => new Transform({
    transform(chunk, _enc, cb) {
      h.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
  const diff = crypto.createHash('sha256');
  const blob = crypto.createHash('sha256');
  const raw = { n: 0 };
  const size = { n: 0 };
  const names = fs.readdirSync(dir).sort();
  const tar = spawn('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1704067200', '-C', dir, '-cf', '-', ...names], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  tar.stderr.on('data', (d) => (err += d));
  const status = new Promise((resolve) => tar.on('close', resolve));
  await pipeline(tar.stdout, hashing(diff, raw), zlib.createGzip({ level: 6 }), hashing(blob, size), fs.createWriteStream(file));
  if ((await status) !== 0) throw new Error(`tar -C ${dir} failed: ${err.trim()}`);
  return { file, diffId: `sha256:${diff.digest('hex')}`, digest: `sha256:${blob.digest('hex')}`, size: size.n, uncompressed: raw.n };
}

/** Builds the big image's three layers (the first with busybox) and the small image's one (the rootfs R). */
export async function buildImages(work, R, imageMb) {
  const dir = path.join(work, 'image');
  fs.mkdirSync(dir, { recursive: true });
  const old = process.umask(0o022);
  try {
    const trees = LAYER_SHARES.map((share, i) => {
      const tree = path.join(dir, `tree${i + 1}`);
      fs.mkdirSync(tree, { mode: 0o755 });
      const start = i === 0 ? addBusybox(tree) : 0;
      const src = contentSource(i + 1);
      return { tree, ...fillTree(tree, share * imageMb * MB, src, start), ratio: src.ratio };
    });
    progress('compressing the layers');
    // Concurrently: gzip runs in libuv's thread pool.
    const big = await Promise.all(trees.map((t, i) => tarLayer(t.tree, path.join(dir, `layer${i + 1}.tar.gz`))));
    big.forEach((l, i) => Object.assign(l, { files: trees[i].files }));
    for (const t of trees) fs.rmSync(t.tree, { recursive: true, force: true });
    const small = await tarLayer(R, path.join(dir, 'busybox.tar.gz'));
    return { big, small, ratio: trees[0].ratio };
  } finally {
    process.umask(old);
  }
}
