/**
 * Set-up for the OCI client tests (test/integration/oci-clients.test.ts):
 * podman and containerd driving a runc-compatible runtime binary, the one
 * NOOK_OCI_RUNTIME names (default build/nook-runc; /usr/sbin/runc checks the
 * tests themselves). Everything is offline: the busybox image is made here,
 * from the test rootfs, as a plain tar (podman import) and as an OCI image
 * layout archive (ctr image import). Each client gets stores of its own in
 * temp directories, so the tests depend on no user's or system's state.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { runNook, show, type NookResult } from './nook';
import { REPO } from './paths';
import { isRoot, spawnIdentity, type TestUser } from './users';

/** The runtime under test: NOOK_OCI_RUNTIME, or build/nook-runc (nook invoked under runc's name). */
export const OCI_RUNTIME = process.env.NOOK_OCI_RUNTIME ? path.resolve(process.env.NOOK_OCI_RUNTIME) : path.join(REPO, 'build/nook-runc');

const PTY_RUN = path.join(__dirname, 'pty_run.py');
const ROOT: TestUser = { name: 'root', uid: 0, gid: 0, home: '/root', kind: 'root' };

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Why the runtime under test cannot be used, or null. */
export function runtimeMissing(): string | null {
  if (executable(OCI_RUNTIME)) return null;
  return `OCI runtime ${OCI_RUNTIME} is missing (build/nook-runc, a link to build/nook, comes with issue 17's OCI runtime; NOOK_OCI_RUNTIME=/usr/sbin/runc runs these tests against runc)`;
}

/** Why these programs cannot be used (the first one missing), or null. */
export function programsMissing(programs: string[], pkg: string): string | null {
  const missing = programs.find((p) => !executable(p));
  return missing ? `${missing} is missing (apt-get install ${pkg})` : null;
}

/** A tar of `rootfs` with every file owned by 0:0, as an image layer's would be. */
export function rootfsTar(rootfs: string, out: string): string {
  execFileSync('tar', ['-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', out, '.']);
  fs.chmodSync(out, 0o644);
  return out;
}

function sha256(data: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

/**
 * An OCI image layout archive (index.json, oci-layout, blobs/sha256) with one
 * uncompressed layer, the layer tar `layer`, named `ref` for containerd
 * (io.containerd.image.name) and by its tag for others.
 */
export function ociArchive(layer: string, ref: string, out: string): string {
  const dir = fs.mkdtempSync(`${out}.d-`);
  try {
    const blobs = path.join(dir, 'blobs/sha256');
    fs.mkdirSync(blobs, { recursive: true });
    const blob = (data: Buffer) => {
      const digest = sha256(data);
      fs.writeFileSync(path.join(blobs, digest.slice('sha256:'.length)), data);
      return { digest, size: data.length };
    };
    const layerData = fs.readFileSync(layer);
    const layerBlob = blob(layerData);
    const config = blob(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
          // Uncompressed: the diff id is the layer's own digest.
          rootfs: { type: 'layers', diff_ids: [layerBlob.digest] },
        }),
      ),
    );
    const manifest = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerBlob }],
        }),
      ),
    );
    const tag = ref.slice(ref.lastIndexOf(':') + 1);
    fs.writeFileSync(
      path.join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    execFileSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', out, '.']);
    fs.chmodSync(out, 0o644);
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface PtyRun {
  /** The program's exit code, or -N when signal N killed it. */
  status: number;
  /** What appeared on the terminal, \r\n turned into \n. */
  output: string;
  timedOut: boolean;
}

/** Runs `file args` on a new pty (test/helpers/pty_run.py) as `user`; at each `expect` types `send`. */
export function runOnPtyAs(
  user: TestUser,
  env: Record<string, string>,
  argv: string[],
  steps: { expect: string; send: string }[],
  size: [number, number] = [30, 99],
  timeoutSec = 40,
): Promise<PtyRun> {
  const py = ['--rows', String(size[0]), '--cols', String(size[1])];
  for (const s of steps) py.push('--expect', s.expect, '--send', s.send);
  py.push('--timeout', String(timeoutSec), '--', ...argv);
  const child = spawn('/usr/bin/python3', [PTY_RUN, ...py], { ...spawnIdentity(user), cwd: '/tmp', env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code !== 0) return reject(new Error(`pty_run.py failed (${code}): ${Buffer.concat(err).toString()}${text}`));
      const r = JSON.parse(text) as { status: number; output: string; timed_out: boolean };
      resolve({ status: r.status, output: Buffer.from(r.output, 'base64').toString('utf8').replace(/\r+\n/g, '\n'), timedOut: r.timed_out });
    });
  });
}

export function expectOk(what: string, r: NookResult): string {
  expect(r.code, `${what}\n${show(r)}`).toBe(0);
  return r.stdout;
}

/**
 * Rootless podman as `user`, with HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME and
 * XDG_DATA_HOME in `base`: its own storage, run root, containers.conf
 * (none) and pause process (podman's rootless user namespace).
 */
export class Podman {
  /**
   * In a new directory with a short path: with XDG_RUNTIME_DIR deeper than
   * about /tmp/nook-it-scratch-XXXXXX/podman-XXXXXX/run, podman 4.3's foreground
   * `run` waits 20 s for every container's exit (its cleanup process fails on
   * some path too long; podman then gives up waiting and cleans up itself).
   */
  static create(user: TestUser, runtime: string): Podman {
    const base = fs.mkdtempSync('/tmp/nkpod-');
    fs.chmodSync(base, 0o755);
    if (isRoot) fs.chownSync(base, user.uid, user.gid);
    return new Podman(user, base, runtime);
  }

  readonly env: Record<string, string>;
  private readonly runDir: string;

  constructor(
    readonly user: TestUser,
    readonly base: string,
    readonly runtime: string,
  ) {
    const home = path.join(base, 'home');
    this.runDir = path.join(base, 'run');
    for (const [d, mode] of [[home, 0o755], [this.runDir, 0o700]] as const) {
      fs.mkdirSync(d, { recursive: true, mode });
      if (isRoot) fs.chownSync(d, user.uid, user.gid);
    }
    this.env = {
      HOME: home,
      USER: user.name,
      LOGNAME: user.name,
      // podman finds newuidmap and conmon on PATH.
      PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
      XDG_RUNTIME_DIR: this.runDir,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local/share'),
      TMPDIR: '/tmp',
    };
  }

  /**
   * podman's global flags: the runtime under test; cgroupfs and file events, as
   * without a systemd session (explicit, so that the host's setup does not matter).
   */
  argv(args: string[]): string[] {
    return ['--runtime', this.runtime, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args];
  }

  run(args: string[], timeoutMs = 60_000): Promise<NookResult> {
    return runNook(this.argv(args), { user: this.user, bin: '/usr/bin/podman', fullEnv: this.env, timeoutMs });
  }

  async ok(args: string[]): Promise<string> {
    return expectOk(`podman ${args.join(' ')}`, await this.run(args));
  }

  pty(args: string[], steps: { expect: string; send: string }[], size?: [number, number]): Promise<PtyRun> {
    return runOnPtyAs(this.user, this.env, ['/usr/bin/podman', ...this.argv(args)], steps, size);
  }

  /**
   * Removes the containers and the storage (from inside podman's user
   * namespace: the files belong to the subordinate ids), then ends the pause
   * process that holds that namespace, by the pid podman recorded.
   */
  async cleanup(): Promise<void> {
    const pidFile = path.join(this.runDir, 'libpod/tmp/pause.pid');
    const pause = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
    await this.run(['rm', '--all', '--force', '--time', '0']);
    await this.run(['system', 'reset', '--force']);
    if (pause > 1) {
      try {
        process.kill(pause, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    try {
      fs.rmSync(this.base, { recursive: true, force: true });
    } catch {
      // Left in the run's scratch directory (files of subordinate ids, as non-root): the global teardown's to remove.
    }
  }
}

/**
 * A private containerd (root): its own root, state, sockets and config under
 * `base`, no CRI plugin, nothing that needs a network. `ctr` talks to it in
 * namespace `ns`; `--runc-root` keeps the runtime's state under `base` too (the
 * shim's default, /run/containerd/runc/NS, would be shared with the system's).
 */
export class Containerd {
  readonly sock: string;
  readonly runcRoot: string;
  private daemon: ReturnType<typeof spawn> | undefined;
  private log: Buffer[] = [];

  constructor(
    readonly base: string,
    readonly runtime: string,
    readonly ns = 'nooktest',
  ) {
    this.sock = path.join(base, 'containerd.sock');
    this.runcRoot = path.join(base, 'runc-root');
  }

  get daemonLog(): string {
    return Buffer.concat(this.log).toString('utf8');
  }

  async start(): Promise<void> {
    const config = path.join(this.base, 'config.toml');
    fs.writeFileSync(
      config,
      [
        'version = 2',
        `root = "${path.join(this.base, 'root')}"`,
        `state = "${path.join(this.base, 'state')}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]',
        '[grpc]',
        `  address = "${this.sock}"`,
        '[ttrpc]',
        `  address = "${this.sock}.ttrpc"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '',
      ].join('\n'),
    );
    const daemon = spawn('/usr/bin/containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    this.daemon = daemon;
    daemon.stdout!.on('data', (b: Buffer) => this.log.push(b));
    daemon.stderr!.on('data', (b: Buffer) => this.log.push(b));
    const exited = new Promise<never>((_, reject) =>
      daemon.on('exit', (code, sig) => reject(new Error(`containerd exited (${code ?? sig}) while starting:\n${this.daemonLog}`))),
    );
    exited.catch(() => {});
    // Ready once it answers on its socket: ctr version asks the server.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await Promise.race([this.ctr(['version']), exited]);
      if (r.code === 0) return;
      if (Date.now() > deadline) throw new Error(`containerd did not answer on ${this.sock}:\n${show(r)}\n${this.daemonLog}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  ctr(args: string[], timeoutMs = 60_000): Promise<NookResult> {
    return runNook(['--address', this.sock, '--namespace', this.ns, ...args], {
      user: ROOT,
      bin: '/usr/bin/ctr',
      fullEnv: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' },
      timeoutMs,
    });
  }

  async ok(args: string[]): Promise<string> {
    return expectOk(`ctr ${args.join(' ')}`, await this.ctr(args));
  }

  /** `ctr run` flags that make the shim use the runtime under test, with its state under `base`. */
  runtimeFlags(): string[] {
    return ['--runc-binary', this.runtime, '--runc-root', this.runcRoot];
  }

  pty(args: string[], steps: { expect: string; send: string }[], size?: [number, number]): Promise<PtyRun> {
    return runOnPtyAs(
      ROOT,
      { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', TERM: 'xterm' },
      ['/usr/bin/ctr', '--address', this.sock, '--namespace', this.ns, ...args],
      steps,
      size,
    );
  }

  /** Kills and deletes every task, removes every container (what a test left). */
  async removeAll(): Promise<void> {
    const tasks = await this.ctr(['task', 'ls', '-q']);
    for (const id of tasks.stdout.split('\n').filter(Boolean)) {
      await this.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
      await this.waitStopped(id).catch(() => {});
      await this.ctr(['task', 'delete', '--force', id]);
    }
    for (const id of (await this.ctr(['container', 'ls', '-q'])).stdout.split('\n').filter(Boolean)) await this.ctr(['container', 'rm', id]);
  }

  /** Deletes what the tests left, stops the daemon (SIGTERM, then waits for it), removes `base`. */
  async stop(): Promise<void> {
    const daemon = this.daemon;
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      await this.removeAll();
      const gone = new Promise<void>((res) => daemon.on('exit', () => res()));
      daemon.kill('SIGTERM');
      await gone;
    }
    // Snapshots unmounted by the shims; anything still mounted under base would make rm fail: said so, not hidden.
    fs.rmSync(this.base, { recursive: true, force: true });
  }

  /** Waits until `ctr task ls` shows the task STOPPED. */
  async waitStopped(id: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.ok(['task', 'ls']);
      const row = r.split('\n').find((l) => l.split(/\s+/)[0] === id);
      if (row?.split(/\s+/)[2] === 'STOPPED') return;
      if (Date.now() > deadline) throw new Error(`task ${id} not STOPPED after ${timeoutMs} ms:\n${r}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}
