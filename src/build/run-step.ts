/**
 * A RUN step: the command runs in nook's own sandbox (the namespaces, id
 * maps, seccomp profile and capabilities of `nook run`) on a writable layer
 * over the stage's layers so far, and what it changed becomes the step's
 * layer. The mount points the sandbox had to create (for --mount targets,
 * /etc/hosts and friends) are taken out of that layer first, as BuildKit does.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { composeSpec } from '../container/compose';
import { defaultRequest } from '../container/request';
import { withRootFallback } from '../container/image-root';
import type { ContainerRoot } from '../container/rootfs';
import type { ImageConfig } from '../image/config';
import { commitLayer, type NewLayer } from '../image/layer/commit-layer';
import type { StoreHelper } from '../image/store/helper-client';
import type { ImageRecord, ImageStore, LayerRecord } from '../image/store/store';
import type { HostIdentity } from '../sandbox/idmap';
import type { BindMount, TmpfsMount } from '../sandbox/spec';

export interface RunStepRequest {
  argv: string[];
  /** The whole environment of the command (config Env, ARGs in scope, PATH). */
  env: string[];
  user?: string;
  workdir?: string;
  network: 'host' | 'none';
  binds: BindMount[];
  tmpfs: TmpfsMount[];
}

export interface StepEnv {
  store: ImageStore;
  host: HostIdentity;
  /** Makes the layers (reads the writable layer inside the user namespace). */
  helper: StoreHelper;
  sourceDateEpoch?: number;
  /** /dev/null for a quiet build: the command's stdout and stderr. */
  outputFd?: number;
  signal: AbortSignal;
  warn(message: string): void;
}

/** A RUN that exited non-zero: docker's build fails with exit 1 and says the command's status. */
export class RunFailedError extends NookError {
  constructor(
    readonly what: string,
    readonly status: number,
  ) {
    // docker build exits 1 whatever the command's status, which the message gives.
    super(`${what}: exit ${status}`, { exitCode: 1, hint: 'the command failed in the build; its output is above' });
  }
}

/** The image a step's container is made from: only its layers matter to the container root. */
export function layersImage(layers: LayerRecord[]): ImageRecord {
  return { id: '', manifestDigest: '', manifestMediaType: '', platform: { os: 'linux', architecture: '' }, layers, stored: '', repoDigests: [] };
}

export async function runStep(env: StepEnv, layers: LayerRecord[], config: ImageConfig, req: RunStepRequest, what: string): Promise<NewLayer> {
  env.signal.throwIfAborted();
  return withRootFallback(env.store, layersImage(layers), what, (root) => runOnRoot(env, root, layers, config, req, what), env.warn);
}

async function runOnRoot(env: StepEnv, root: ContainerRoot, layers: LayerRecord[], config: ImageConfig, req: RunStepRequest, what: string): Promise<NewLayer> {
  try {
    const request = defaultRequest(req.argv);
    // The RUN's argv is the whole command: the image's Entrypoint and Cmd play no part.
    request.process.entrypoint = '';
    request.process.env = req.env;
    request.process.user = req.user || undefined;
    request.process.workdir = req.workdir || undefined;
    request.network.mode = req.network;
    request.mounts.binds = req.binds;
    request.mounts.tmpfs = req.tmpfs;
    const spec = composeSpec(request, env.host, {
      rootfs: root.rootfs,
      overlay: root.overlay,
      image: { name: what, config: { ...config.config, Entrypoint: null, Cmd: null } },
      hostFiles: root.hostFilesDir,
    });
    if (env.outputFd !== undefined) spec.outputFd = env.outputFd;
    const { runSandbox } = await import('../sandbox/process');
    const code = await runSandbox(spec, env.host, { cancel: env.signal });
    env.signal.throwIfAborted();
    if (code !== 0) throw new RunFailedError(what, code);
    const lowerDirs = layers.map((l) => env.store.layerDir(l.diffId));
    if (root.overlay) {
      removeMountStubs(root.overlay.upper, lowerDirs, mountTargets(req));
      return await commitLayer(env.store, env.helper, { upper: root.overlay.upper, lowers: lowerDirs }, { sourceDateEpoch: env.sourceDateEpoch, signal: env.signal, onWarning: env.warn });
    }
    removeMountStubs(root.rootfs, lowerDirs, mountTargets(req));
    return await commitLayer(env.store, env.helper, { rootfs: root.rootfs, lowers: lowerDirs }, { sourceDateEpoch: env.sourceDateEpoch, signal: env.signal, onWarning: env.warn });
  } finally {
    await root.remove();
  }
}

/** Where the sandbox mounted something, and so may have made an empty file or directory to mount on. */
function mountTargets(req: RunStepRequest): string[] {
  return [...req.binds.map((b) => b.target), ...req.tmpfs.map((t) => t.target), '/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/proc', '/sys', '/dev'];
}

const existsIn = (dirs: string[], rel: string) =>
  dirs.some((d) => {
    try {
      fs.lstatSync(path.join(d, rel));
      return true;
    } catch {
      return false;
    }
  });

/**
 * Takes the empty mount points the sandbox created out of the step's
 * changes (`dir`: the upper directory, or the copy-mode root), with the
 * empty parents it created for them. Only what no lower layer has is
 * touched, and each component is checked with lstat, never followed: the
 * command may have replaced a parent with a symlink.
 */
export function removeMountStubs(dir: string, lowerDirs: string[], targets: string[]): void {
  for (const target of targets) {
    const parts = path.posix.normalize(target).split('/').filter(Boolean);
    if (!parts.length || parts.includes('..')) continue;
    // Every parent must be a real directory in `dir`.
    let ok = true;
    for (let i = 1; i < parts.length && ok; i++) ok = isRealDir(path.join(dir, ...parts.slice(0, i)));
    if (!ok) continue;
    for (let n = parts.length; n > 0; n--) {
      const rel = parts.slice(0, n).join('/');
      if (existsIn(lowerDirs, rel) || !removeIfEmpty(path.join(dir, rel))) break;
    }
  }
}

function isRealDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Removes an empty regular file or empty directory; false when it is anything else, or absent. */
function removeIfEmpty(p: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return false;
  }
  try {
    if (st.isFile() && st.size === 0) fs.unlinkSync(p);
    else if (st.isDirectory() && fs.readdirSync(p).length === 0) fs.rmdirSync(p);
    else return false;
    return true;
  } catch {
    return false;
  }
}
