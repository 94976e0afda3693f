/**
 * COPY and ADD, and the directory a WORKDIR names: steps whose files the
 * build helper writes into a writable layer over the stage's layers (as
 * root of the user namespace, resolving every path inside the root), and
 * whose layer is that writable layer's diff. Their cache keys cover what
 * they copy: the sources' checksum (contents, modes, links; not times), the
 * fetched bytes of a URL, the chain of the stage a COPY --from reads.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { ContainerRoot } from '../container/rootfs';
import { rootMode } from '../container/overlay-support';
import type { ImageConfig } from '../image/config';
import { commitLayer, type NewLayer } from '../image/layer/commit-layer';
import type { StoreHelper } from '../image/store/helper-client';
import { ImageStore, type LayerRecord } from '../image/store/store';
import { isOpaque } from '../image/unpack/whiteouts';
import type { HostIdentity } from '../sandbox/idmap';
import { expandCopy, type StageState, type StepContext } from './config-step';
import { findDockerignore, IgnoreMatcher, readDockerignore } from './context/dockerignore';
import { checksumSources, isRemoteSource, resolveCopySources } from './context/sources';
import type { DigestMemo } from './context/digest-memo';
import type { CopyInstruction, Instruction } from './dockerfile/instructions';
import type { LayerMaker } from './engine';
import type { BuildHelper } from './helper/client';
import type { BuildRoot, CopyRequest, CopySources } from './helper/protocol';
import { layersImage } from './run-step';

export interface FileStepEnv {
  store: ImageStore;
  host: HostIdentity;
  storeHelper(): StoreHelper;
  buildHelper(): BuildHelper;
  /** A directory of the build's own, removed at its end. */
  tmpDir(): string;
  /** Digests of the context's files, kept between builds. */
  digests(): DigestMemo;
  /** The Dockerfile's path, for `<Dockerfile>.dockerignore`. */
  dockerfilePath?: string;
  sourceDateEpoch?: number;
  signal: AbortSignal;
  warn(message: string): void;
}

/** What a COPY --from reads: the layers of a stage or image, and the chain that names their state. */
export interface CopyInput {
  layers: LayerRecord[];
  chain: string;
}

let tmpSeq = 0;

/** The layer dirs for an overlay, topmost first, with the store's short links. */
function overlayLowers(store: ImageStore, layers: LayerRecord[]) {
  const top = [...layers].reverse();
  return { lowerDirs: top.map((l) => store.layerDir(l.diffId)), linkDir: store.p('l'), lowers: top.map((l) => ImageStore.layerLinkName(l.diffId)) };
}

/**
 * Runs `write` on a writable layer over `layers` (the build helper mounts
 * it), and commits that layer. The layer's directory lives in the store's
 * containers/ with its lock, like a container's, so garbage collection
 * leaves its lower layers alone and takes it after a killed build.
 */
async function onStepRoot(env: FileStepEnv, layers: LayerRecord[], what: string, write: (root: BuildRoot) => Promise<void>): Promise<NewLayer> {
  env.signal.throwIfAborted();
  const mode = rootMode(env.store);
  const root = await ContainerRoot.create(env.store, layersImage(layers), what, mode);
  try {
    const lowerDirs = layers.map((l) => env.store.layerDir(l.diffId));
    const opts = { sourceDateEpoch: env.sourceDateEpoch, signal: env.signal, onWarning: env.warn };
    if (root.overlay) {
      await write({ overlay: { ...overlayLowers(env.store, layers), upper: root.overlay.upper, work: root.overlay.work, merged: root.rootfs } });
      return await commitLayer(env.store, env.storeHelper(), { upper: root.overlay.upper, lowers: lowerDirs }, opts);
    }
    await write({ rootfs: root.rootfs });
    return await commitLayer(env.store, env.storeHelper(), { rootfs: root.rootfs, lowers: lowerDirs }, opts);
  } finally {
    await root.remove();
  }
}

/** A directory of the build's temporary space, for heredoc files and downloads. */
function freshDir(env: FileStepEnv, prefix: string): string {
  const dir = path.join(env.tmpDir(), `${prefix}-${++tmpSeq}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  return dir;
}

export async function copyStep(
  env: FileStepEnv,
  input: CopyInput | undefined,
  ins: CopyInstruction & { source: Instruction['source'] },
  state: StageState,
  ctx: StepContext,
  context: string | undefined,
): Promise<LayerMaker> {
  const ex = expandCopy(ins, state, ctx);
  const where = `${ctx.file}:${ins.source.line}`;
  const workdir = state.config.config?.WorkingDir || '/';
  if (ex.kind === 'ADD' && ex.keepGitDir) env.warn(`${where}: ADD --keep-git-dir has no effect: git sources are not supported`);
  if (ex.unpack !== undefined) env.warn(`${where}: ADD --unpack is not supported: local archives are always extracted, URLs never`);
  const base: Omit<CopyRequest, 'root' | 'sources' | 'patterns'> = {
    dest: ex.dest,
    workdir,
    chown: ex.chown,
    chmod: ex.chmodText,
    exclude: ex.exclude.length ? ex.exclude : undefined,
    parents: ex.parents || undefined,
  };
  let sources: CopySources;
  let patterns: string[];
  let add = ex.kind === 'ADD';
  let contentKey: unknown;

  const remote = ex.sources.filter(isRemoteSource);
  if ((ex.files.length > 0 || remote.length > 0) && (input || ex.sources.length > remote.length))
    throw new NookError(`${where}: ${ex.kind} mixes here-documents or URLs with other sources`, { hint: `give them in ${ex.kind} instructions of their own` });
  if (input) {
    sources = { kind: 'layers', ...overlayLowers(env.store, input.layers) };
    patterns = ex.sources;
    contentKey = ['from', input.chain];
  } else if (ex.files.length) {
    const dir = freshDir(env, 'heredoc');
    for (const f of ex.files) {
      if (f.name.includes('/') || f.name === '.' || f.name === '..') throw new NookError(`${where}: here-document name ${JSON.stringify(f.name)} is not a file name`);
      fs.writeFileSync(path.join(dir, f.name), f.content, { mode: 0o644 });
    }
    sources = { kind: 'dir', dir };
    patterns = ex.files.map((f) => f.name);
    contentKey = ['heredoc', ex.files];
    add = false;
  } else if (remote.length) {
    if (ex.kind !== 'ADD') throw new NookError(`${where}: COPY cannot fetch ${remote[0]}`, { hint: 'use ADD for URLs' });
    const git = remote.find((r) => !/^https?:\/\//i.test(r) || /\.git(#.*)?$/.test(r));
    if (git) throw new NookError(`${where}: ADD of a git repository (${git}) is not supported`, { hint: 'clone it in a RUN step, or into the build context' });
    const dir = freshDir(env, 'url');
    const { fetchUrl } = await import('./copy/fetch');
    const fetched = [];
    for (const url of remote) {
      env.signal.throwIfAborted();
      fetched.push(await fetchUrl(url, dir, { checksum: ex.checksum }));
    }
    sources = { kind: 'dir', dir };
    patterns = fetched.map((f) => f.name);
    // Docker checks the download every time, and keeps the cache when its bytes are the same.
    contentKey = ['url', fetched.map((f) => [f.name, f.sha256])];
    // A downloaded archive is never extracted, as docker does.
    add = false;
  } else {
    if (!context)
      throw new NookError(`${where}: ${ex.kind} needs a build context, and \`nook build -\` has none`, { hint: 'give a context directory: nook build -f - DIR < Dockerfile' });
    const ignoreFile = findDockerignore(context, env.dockerfilePath);
    const excludes = ignoreFile ? readDockerignore(fs.readFileSync(ignoreFile, 'utf8')) : [];
    const resolved = resolveCopySources(context, ex.sources, new IgnoreMatcher(excludes, ignoreFile ? path.basename(ignoreFile) : '.dockerignore'), {
      kind: ex.kind,
      parents: ex.parents,
      exclude: ex.exclude,
    });
    sources = { kind: 'dir', dir: context, excludes };
    patterns = ex.sources;
    contentKey = ['context', await checksumSources(context, resolved, { uid: 0, gid: 0, chmod: ex.chmod, fileDigest: env.digests().digest })];
  }
  return {
    key: [ex.kind, ex.createdBy, workdir, add, contentKey],
    createdBy: ex.createdBy,
    make: (layers: LayerRecord[]) =>
      onStepRoot(env, layers, `${where}: ${ex.kind}`, async (root) => {
        await env.buildHelper().copy({ ...base, root, sources, patterns, add }, env.warn);
      }),
  };
}

/** WORKDIR's directory, made (owned by the stage's USER, as BuildKit does) when the image lacks it; no layer when it exists. */
export function mkdirStep(env: FileStepEnv, config: ImageConfig, dir: string): LayerMaker {
  const user = config.config?.User || undefined;
  return {
    key: ['WORKDIR', dir, user ?? null],
    createdBy: `WORKDIR ${dir}`,
    make: async (lowers: LayerRecord[]) =>
      isDirInLayers(env.store, lowers, dir) ? null : onStepRoot(env, lowers, `WORKDIR ${dir}`, (root) => env.buildHelper().mkdir({ root, path: dir, chown: user })),
  };
}

/**
 * Whether `dir` is plainly a directory in the merged view of `layers` (the
 * store's extracted layers, overlay's format), looked up as overlayfs
 * would: the topmost layer that has the path decides, a whiteout or a
 * non-directory on the way hides it, an opaque directory hides what is
 * below. Anything it cannot tell for sure (a symlink on the way, a
 * directory it may not read) is a no: the build helper then decides.
 */
export function isDirInLayers(store: ImageStore, layers: LayerRecord[], dir: string): boolean {
  const parts = path.posix.normalize(dir).split('/').filter(Boolean);
  for (const layer of [...layers].reverse()) {
    const top = store.layerDir(layer.diffId);
    for (let i = 1; i <= parts.length; i++) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(top, ...parts.slice(0, i)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break; // not in this layer: look below
        return false;
      }
      if (!st.isDirectory()) return false; // a whiteout, a file or a symlink decides (or hides) here
      if (i === parts.length) return true;
      if (isOpaque(path.join(top, ...parts.slice(0, i)))) return false;
    }
  }
  return parts.length === 0;
}

