/**
 * `nook build`'s engine: walks the stages the target needs, in order, each
 * instruction changing the stage's config (metadata instructions) or adding
 * a layer (RUN in the sandbox, COPY/ADD through the build helper), each
 * layer-making step looked up in the build cache first. Writes the target
 * stage as an image into the store. Never sees argv: the CLI makes the
 * options and prints what `BuildIO` is told.
 */
import crypto = require('node:crypto');
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { NookError } from '../errors';
import type { ImageConfig } from '../image/config';
import type { NewLayer } from '../image/layer/commit-layer';
import { writeImage } from '../image/write-image';
import { CACHE_DIR, MOUNTS_DIR, readCachedStep, writeCachedStep, type HistoryRecord } from '../image/store/build-cache';
import { StoreHelper } from '../image/store/helper-client';
import type { ImageRecord, ImageStore, LayerRecord } from '../image/store/store';
import type { HostIdentity } from '../sandbox/idmap';
import type { BindMount, TmpfsMount } from '../sandbox/spec';
import { MS } from '../../ffi/linux';
import {
  applyConfigInstruction,
  expandMounts,
  historyEntry,
  runCommand,
  runCreatedBy,
  runEnvironment,
  startStage,
  type StageState,
  type StepContext,
} from './config-step';
import type { Instruction, Mount, RunInstruction } from './dockerfile/instructions';
import { parseDockerfile, parseOnbuildTriggers } from './dockerfile/parse';
import { ArgScope, planBuild, type BuildPlan, type Platform, type Stage } from './stages';
import { runStep, type StepEnv } from './run-step';
import { copyStep, mkdirStep, type CopyInput, type FileStepEnv } from './copy-step';
import { BuildHelper } from './helper/client';
import { DigestMemo } from './context/digest-memo';
import { resolveInContext } from './context/sources';

export interface BuildOptions {
  store: ImageStore;
  host: HostIdentity;
  /** `path`: where it was read from (for `<Dockerfile>.dockerignore`), when from a file. */
  dockerfile: { text: string; name: string; path?: string };
  /** The build context directory; undefined for a Dockerfile read from stdin with no context. */
  context?: string;
  buildArgs: Map<string, string>;
  target?: string;
  noCache: boolean;
  network: 'host' | 'none';
  platform: Platform;
  buildPlatform: Platform;
  /** --label K=V: set on the final image. */
  labels: Record<string, string>;
  /** --secret id=ID,src=FILE: files RUN --mount=type=secret can see. */
  secrets: Map<string, string>;
  format: 'oci' | 'docker';
  /** Names for the image (as `nook tag`). */
  tags: string[];
  /** SOURCE_DATE_EPOCH: file times clamped to it, and the image's `created`. */
  sourceDateEpoch?: number;
  /** A quiet build sends the commands' output here (/dev/null). */
  outputFd?: number;
  signal: AbortSignal;
}

export interface BuildIO {
  /** `STEP 3/9: RUN make`. */
  step(n: number, total: number, text: string): void;
  /** The step's result came from the cache. */
  cached(): void;
  warn(message: string): void;
  /** The image a FROM or COPY --from names, from the store or pulled. */
  image(ref: string, platform?: string): Promise<ImageRecord>;
}

/** Where a stage is: the image it started from (undefined: scratch), every layer, and what it added. */
interface StageResult {
  root: ImageRecord | undefined;
  /** Every layer of the stage so far, bottom first (the root image's included). */
  layers: LayerRecord[];
  /** Layers added on top of the root image (by this stage or the stages it builds on). */
  added: LayerRecord[];
  state: StageState;
  /** History entries added since the root image. */
  history: HistoryRecord[];
  /** Names everything this state depends on: the cache key of the next step builds on it. */
  chain: string;
  /**
   * When this state came to be: the base image's time, then that of each
   * layer made (now, or SOURCE_DATE_EPOCH), or recorded with a cached one.
   * Metadata steps and the image take it, so a build that is all cache hits
   * writes the very same image again.
   */
  created: string;
}

const sha = (parts: unknown[]) => crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');

/** Builds the target stage and writes it into the store as an image; returns its record. */
export async function build(opts: BuildOptions, io: BuildIO): Promise<ImageRecord> {
  const df = parseDockerfile(opts.dockerfile.text, { file: opts.dockerfile.name });
  for (const w of df.warnings) io.warn(w);
  const plan = planBuild(df, { buildArgs: opts.buildArgs, target: opts.target, targetPlatform: opts.platform, buildPlatform: opts.buildPlatform });
  const total = plan.needed.reduce((n, i) => n + 1 + plan.stages[i].instructions.length, 0);
  // Held for the whole build: garbage collection must not take a new layer before an image or a cache record names it.
  const storeLock = await opts.store.lockShared();
  const run = new BuildRun(opts, io, plan, df.file, df.escape, total);
  try {
    for (const i of plan.needed) await run.stage(plan.stages[i]);
    for (const w of plan.warnings) io.warn(w);
    return await writeResult(opts, run.result(plan.target));
  } finally {
    await run.close();
    storeLock.release();
  }
}

/** The target stage as an image: its layers over the image it started from, its config with the --label labels. */
async function writeResult(opts: BuildOptions, stage: StageResult): Promise<ImageRecord> {
  const config = structuredClone(stage.state.config);
  if (Object.keys(opts.labels).length) config.config = { ...config.config, Labels: { ...(config.config?.Labels ?? {}), ...opts.labels } };
  return writeImage(opts.store, {
    base: stage.root,
    layers: stage.added.map((l) => ({ ...l, empty: false })),
    config,
    history: stage.history,
    format: opts.format,
    created: stage.created,
    names: opts.tags,
  });
}

class BuildRun {
  private readonly results = new Map<number, StageResult>();
  private stepNo = 0;
  private helper?: StoreHelper;
  private builder?: BuildHelper;
  private memo?: DigestMemo;
  private tmp?: string;
  private readonly fileEnv: FileStepEnv;

  constructor(
    private readonly opts: BuildOptions,
    private readonly io: BuildIO,
    private readonly plan: BuildPlan,
    private readonly file: string,
    private readonly escape: string,
    private readonly total: number,
  ) {
    this.fileEnv = {
      store: opts.store,
      host: opts.host,
      storeHelper: () => this.storeHelper(),
      buildHelper: () => (this.builder ??= new BuildHelper(opts.host)),
      tmpDir: () => this.tmpDir(),
      digests: () => (this.memo ??= new DigestMemo(opts.store.p(CACHE_DIR, 'context-digests.json'))),
      dockerfilePath: opts.dockerfile.path,
      sourceDateEpoch: opts.sourceDateEpoch,
      signal: opts.signal,
      warn: (m) => io.warn(m),
    };
  }

  result(index: number): StageResult {
    const r = this.results.get(index);
    if (!r) throw new Error(`stage ${index} was not built`);
    return r;
  }

  private storeHelper(): StoreHelper {
    return (this.helper ??= new StoreHelper(this.opts.host));
  }

  private tmpDir(): string {
    return (this.tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'nook-build-')));
  }

  async close(): Promise<void> {
    this.memo?.save();
    await Promise.all([this.helper?.close(), this.builder?.close()]);
    if (this.tmp) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  private stepEnv(): StepEnv {
    return {
      store: this.opts.store,
      host: this.opts.host,
      helper: this.storeHelper(),
      sourceDateEpoch: this.opts.sourceDateEpoch,
      outputFd: this.opts.outputFd,
      signal: this.opts.signal,
      warn: (m) => this.io.warn(m),
    };
  }

  private announce(text: string): void {
    this.opts.signal.throwIfAborted();
    this.io.step(++this.stepNo, this.total, text);
  }

  private now(): string {
    const epoch = this.opts.sourceDateEpoch;
    return (epoch === undefined ? new Date() : new Date(epoch * 1000)).toISOString().replace('.000Z', 'Z');
  }

  /** FROM: the stage starts from scratch, an earlier stage, or an image (pulled when missing). */
  private async start(stage: Stage): Promise<{ result: StageResult; onbuild: string[]; baseName: string }> {
    const base = stage.base;
    if (base.kind === 'scratch') {
      const { state } = startStage(undefined, this.opts.platform);
      const created = this.opts.sourceDateEpoch === undefined ? new Date(0).toISOString() : this.now();
      return { result: { root: undefined, layers: [], added: [], state, history: [], chain: sha(['scratch', this.opts.platform]), created }, onbuild: [], baseName: 'scratch' };
    }
    if (base.kind === 'stage') {
      const prev = this.result(base.index);
      const { state, onbuild } = startStage(prev.state.config, this.opts.platform);
      return {
        result: { ...prev, layers: [...prev.layers], added: [...prev.added], history: [...prev.history], state },
        onbuild,
        baseName: this.plan.stages[base.index].name ?? String(base.index),
      };
    }
    const rec = await this.io.image(base.ref, stage.platform);
    const config = this.opts.store.config(rec);
    const { state, onbuild } = startStage(config, this.opts.platform);
    const created = this.opts.sourceDateEpoch === undefined ? (config.created ?? new Date(0).toISOString()) : this.now();
    return { result: { root: rec, layers: [...rec.layers], added: [], state, history: [], chain: sha(['image', rec.id]), created }, onbuild, baseName: base.ref };
  }

  async stage(stage: Stage): Promise<void> {
    this.announce(stage.from.source.text);
    const { result, onbuild, baseName } = await this.start(stage);
    // Images that COPY --from names: in the store, or pulled now, before the stage's first step.
    for (const inputs of stage.inputs.values())
      for (const input of inputs)
        if (input.kind === 'image' && !this.pulledInputs.has(input.ref)) {
          const rec = await this.io.image(input.ref);
          this.pulledInputs.set(input.ref, { layers: rec.layers, chain: sha(['image', rec.id]) });
        }
    const ctx: StepContext = { scope: new ArgScope(this.plan.globalArgs, this.plan.buildArgs), escape: this.escape, file: this.file };
    // The base image's ONBUILD triggers run first, right after FROM (and are not inherited further).
    const triggers = onbuild.length ? parseOnbuildTriggers(onbuild, baseName) : [];
    for (const ins of triggers) await this.instruction(stage, result, ins, ctx, true);
    for (const ins of stage.instructions) {
      this.announce(ins.source.text);
      await this.instruction(stage, result, ins, ctx, false);
    }
    this.results.set(stage.index, result);
  }

  private async instruction(stage: Stage, r: StageResult, ins: Instruction, ctx: StepContext, trigger: boolean): Promise<void> {
    if (trigger) this.io.warn(`running the base image's ONBUILD trigger: ${ins.source.text}`);
    switch (ins.kind) {
      case 'RUN':
        return this.run(r, ins, ctx);
      case 'COPY':
      case 'ADD':
        return this.layerStep(r, await copyStep(this.fileEnv, this.copyInputs(stage, ins), ins, r.state, ctx, this.opts.context));
      case 'FROM':
        throw new NookError(`${this.file}:${ins.source.line}: FROM inside a stage`);
      default: {
        const res = applyConfigInstruction(r.state, ins, ctx);
        // BuildKit writes no history entry for some (ONBUILD)
        if (res.createdBy !== undefined) r.history.push(historyEntry(res.createdBy, true, r.created));
        r.chain = sha([r.chain, res.createdBy ?? ins.source.text]);
        if (res.mkdir) await this.layerStep(r, mkdirStep(this.fileEnv, r.state.config, res.mkdir), true);
      }
    }
  }

  /** Sources of COPY --from: the layers of the stage or image it names. */
  private copyInputs(stage: Stage, ins: Instruction): CopyInput | undefined {
    const input = stage.inputs.get(ins)?.[0];
    if (!input) return undefined;
    if (input.kind === 'stage') {
      const src = this.result(input.index);
      return { layers: src.layers, chain: src.chain };
    }
    return this.pulledInputs.get(input.ref);
  }

  private readonly pulledInputs = new Map<string, CopyInput>();

  /**
   * A step that makes a layer: `step.key` names what it depends on beyond
   * the stage so far; the cache answers when it can, else `step.make()`.
   */
  private async layerStep(r: StageResult, step: LayerMaker, quietHistory = false): Promise<void> {
    const key = sha([r.chain, step.key]);
    const hit = this.opts.noCache ? undefined : this.fromCache(key);
    let layer: LayerRecord | null;
    let history: HistoryRecord;
    if (hit) {
      if (!quietHistory) this.io.cached();
      ({ layer, history } = hit);
    } else {
      const made: NewLayer | null = await step.make(r.layers, r.state.config);
      layer = made && !made.empty ? stripEmpty(made) : null;
      history = historyEntry(step.createdBy, layer === null, this.now());
      writeCachedStep(this.opts.store, key, { version: 1, layer, history });
    }
    if (history.created) r.created = history.created;
    if (layer) {
      r.layers.push(layer);
      r.added.push(layer);
    }
    // WORKDIR's directory shares the WORKDIR's history entry when it added a layer.
    if (quietHistory) {
      const last = r.history[r.history.length - 1];
      if (layer && last) delete last.empty_layer;
    } else r.history.push(history);
    r.chain = key;
  }

  private fromCache(key: string): { layer: LayerRecord | null; history: HistoryRecord } | undefined {
    const rec = readCachedStep(this.opts.store, key);
    if (!rec) return undefined;
    // A record whose layer the store lost (an interrupted prune) is a miss, not an error.
    if (rec.layer && !(this.opts.store.hasLayer(rec.layer.diffId) && fs.existsSync(this.opts.store.blobPath(rec.layer.digest)))) return undefined;
    return rec;
  }

  private async run(r: StageResult, ins: RunInstruction & { source: Instruction['source'] }, ctx: StepContext): Promise<void> {
    const config = r.state.config;
    const cmd = runCommand(ins, config);
    const mounts = expandMounts(ins, r.state, ctx);
    const createdBy = runCreatedBy(cmd.argv, r.state, ctx.scope);
    const network = ins.network === 'none' ? 'none' : ins.network === 'host' ? 'host' : this.opts.network;
    if (ins.security === 'insecure') this.io.warn(`${this.file}:${ins.source.line}: RUN --security=insecure is not supported: the command runs in the sandbox as any other`);
    const env = runEnvironment(r.state, this.plan.predefinedArgs);
    const where = `${this.file}:${ins.source.line}`;
    await this.layerStep(r, {
      // Secrets and cache mounts are left out of the key, as docker does: their contents never reach the layer.
      key: ['RUN', createdBy, network, cmd.script?.content ?? null, mounts.filter((m) => m.type === 'bind' || m.type === 'tmpfs')],
      createdBy,
      make: async (layers, cfg) => {
        const binds: BindMount[] = [];
        const tmpfs: TmpfsMount[] = [];
        if (cmd.script) {
          const file = path.join(this.tmpDir(), `script-${this.stepNo}`);
          fs.writeFileSync(file, cmd.script.content, { mode: 0o755 });
          binds.push({ source: file, target: cmd.script.path, readOnly: true });
        }
        for (const m of mounts) this.runMount(m, where, binds, tmpfs);
        return runStep(
          this.stepEnv(),
          layers,
          cfg,
          { argv: cmd.argv, env, user: cfg.config?.User, workdir: cfg.config?.WorkingDir, network, binds, tmpfs },
          `${where}: RUN ${ins.command.form === 'shell' ? ins.command.command : JSON.stringify(ins.command.argv)}`,
        );
      },
    });
  }

  /** One RUN --mount as a bind or tmpfs of the sandbox. */
  private runMount(m: Mount, where: string, binds: BindMount[], tmpfs: TmpfsMount[]): void {
    const target = (t: string | undefined) => {
      if (!t) throw new NookError(`${where}: RUN --mount=type=${m.type} needs a target`);
      return path.posix.resolve('/', t);
    };
    switch (m.type) {
      case 'secret': {
        const id = m.id ?? (m.target ? path.posix.basename(m.target) : undefined);
        const src = id === undefined ? undefined : this.opts.secrets.get(id);
        if (m.env) this.io.warn(`${where}: RUN --mount=type=secret,env= is not supported: the secret is only a file`);
        if (src === undefined) {
          if (m.required) throw new NookError(`${where}: secret ${id ?? '(no id)'} is required but was not given`, { hint: `give it: nook build --secret id=${id ?? 'ID'},src=FILE ...` });
          return;
        }
        binds.push({ source: src, target: target(m.target ?? `/run/secrets/${id}`), readOnly: true });
        return;
      }
      case 'cache': {
        if (m.from) throw new NookError(`${where}: RUN --mount=type=cache,from= is not supported`, { hint: 'leave out from=: the cache starts empty' });
        const dir = this.opts.store.p(MOUNTS_DIR, sha(['cache', m.id ?? target(m.target)]));
        fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
        binds.push({ source: dir, target: target(m.target), readOnly: m.readonly });
        return;
      }
      case 'tmpfs':
        tmpfs.push({ target: target(m.target), options: m.size ? `mode=1777,size=${m.size}` : 'mode=1777', flags: MS.NOSUID | MS.NODEV });
        return;
      case 'bind': {
        if (m.from) throw new NookError(`${where}: RUN --mount=type=bind,from=${m.from} is not supported yet`, { hint: 'COPY --from the files into the stage instead' });
        if (!this.opts.context) throw new NookError(`${where}: RUN --mount=type=bind needs a build context`, { hint: 'give a context directory instead of -' });
        // Resolved as in a chroot of the context: a symlink in it cannot hand the step a host path.
        const rel = resolveInContext(this.opts.context, m.source ?? '.');
        if (rel === undefined) throw new NookError(`${where}: RUN --mount=type=bind,source=${m.source ?? '.'}: not found in the build context`);
        const src = path.join(this.opts.context, rel);
        if (m.readwrite) this.io.warn(`${where}: RUN --mount=type=bind,rw: the context is mounted read-only`);
        binds.push({ source: src, target: target(m.target), readOnly: true });
        return;
      }
      case 'ssh':
        throw new NookError(`${where}: RUN --mount=type=ssh is not supported`, { hint: 'give the key as a secret: --secret id=key,src=FILE and RUN --mount=type=secret,id=key' });
    }
  }
}

export interface LayerMaker {
  /** JSON-able: what the step's result depends on beyond the stage so far. */
  key: unknown[];
  createdBy: string;
  /** Makes the layer (null: the step changed nothing on disk). */
  make(layers: LayerRecord[], config: ImageConfig): Promise<NewLayer | null>;
}

function stripEmpty(l: NewLayer): LayerRecord {
  return { digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: l.diffId };
}

