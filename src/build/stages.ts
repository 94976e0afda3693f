/**
 * A parsed Dockerfile as a build plan: its stages, what each stage's FROM
 * resolves to, which stages depend on which (FROM <stage>, COPY --from,
 * RUN --mount from=), the stages the target needs (others are skipped), and
 * docker's ARG scoping:
 *   - ARGs before the first FROM are global: usable in FROM lines only,
 *     unless a stage re-declares them with `ARG NAME` (then it inherits the value);
 *   - an ARG in a stage is in scope from its line to the end of that stage;
 *   - `--build-arg` overrides a declared ARG's default; build args never
 *     declared are reported once ("were not consumed"), except docker's
 *     predefined proxy ARGs, which RUN sees without a declaration;
 *   - TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, TARGETSTAGE and
 *     the BUILD* ones are set automatically (global scope; a stage
 *     re-declares them), overridable with --build-arg as in BuildKit.
 */
import { NookError } from '../errors';
import type { ArgInstruction, FromInstruction, Instruction, ParsedDockerfile } from './dockerfile/instructions';
import { substituteWord, type Env } from './substitute';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PlanOptions {
  /** `--build-arg K=V` (the CLI resolves a bare `--build-arg K` from its environment, as docker does). */
  buildArgs?: ReadonlyMap<string, string>;
  /** `--target STAGE`: a stage name (case-insensitive) or index; default the last stage. */
  target?: string;
  /** The platform the image is for (TARGET* args) and the one building it (BUILD* args). */
  targetPlatform: Platform;
  buildPlatform: Platform;
}

/** What a stage starts from. */
export type StageBase = { kind: 'scratch' } | { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

/** Another stage or an image a stage reads files from. */
export type StageInput = { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

export interface Stage {
  index: number;
  /** `AS name` (lower-case), if any. */
  name?: string;
  from: FromInstruction & { source: Instruction['source'] };
  /** The FROM image after substitution with the global ARGs. */
  base: StageBase;
  /** `FROM --platform=...` after substitution, if given. */
  platform?: string;
  /** Instructions after FROM, in order. */
  instructions: Instruction[];
  /** Where each `COPY --from` / `RUN --mount from=` of this stage reads, keyed by its instruction (mounts in order). */
  inputs: Map<Instruction, StageInput[]>;
  /** Indexes of the stages this one needs (base and inputs), without duplicates. */
  dependsOn: number[];
}

export interface BuildPlan {
  stages: Stage[];
  /** The target stage's index. */
  target: number;
  /** The stages the target needs, target included, in an order that builds each after what it needs. */
  needed: number[];
  /** Global ARG values after overrides (unset ones absent), platform ARGs included: the FROM-line scope. */
  globalArgs: Map<string, string>;
  /** Build args that are always available to RUN without an ARG (the proxy ones given with --build-arg). */
  predefinedArgs: Map<string, string>;
  buildArgs: Map<string, string>;
  /** `[Warning] One or more build-args [X] were not consumed`, and the like. */
  warnings: string[];
}

export const PROXY_ARGS = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
];

/** The ARGs BuildKit sets automatically (platform.go defaultArgs); TARGETSTAGE is the --target name or "default". */
export function platformArgs(target: Platform, build: Platform, targetStage = 'default'): Map<string, string> {
  const spec = (p: Platform) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
  return new Map([
    ['BUILDPLATFORM', spec(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', spec(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage],
  ]);
}

const where = (df: ParsedDockerfile, ins: Instruction) => `${df.file}:${ins.source.line}`;

export function planBuild(df: ParsedDockerfile, opts: PlanOptions): BuildPlan {
  const buildArgs = new Map(opts.buildArgs ?? []);
  const automatic = platformArgs(opts.targetPlatform, opts.buildPlatform, opts.target);
  // --build-arg may override them, as BuildKit allows
  for (const k of automatic.keys()) if (buildArgs.has(k)) automatic.set(k, buildArgs.get(k)!);
  const declared = new Set<string>();
  const substitute = (word: string, env: Env, ins: Instruction) => {
    try {
      return substituteWord(word, env, { escape: df.escape });
    } catch (e) {
      throw new NookError(`${where(df, ins)}: ${(e as Error).message}`, { hint: (e as NookError).hint, cause: e });
    }
  };

  // Global ARGs: everything before the first FROM.
  const globalArgs = new Map(automatic);
  let i = 0;
  for (; i < df.instructions.length && df.instructions[i].kind === 'ARG'; i++) {
    const ins = df.instructions[i] as ArgInstruction & { source: Instruction['source'] };
    for (const arg of ins.args) {
      declared.add(arg.name);
      const value = buildArgs.get(arg.name) ?? (arg.default === undefined ? undefined : substitute(arg.default, globalArgs, ins));
      if (value !== undefined) globalArgs.set(arg.name, value);
    }
  }

  const stages: Stage[] = [];
  for (; i < df.instructions.length; i++) {
    const ins = df.instructions[i];
    if (ins.kind === 'FROM') {
      const index = stages.length;
      const image = substitute(ins.image, globalArgs, ins);
      if (image === '')
        throw new NookError(`${where(df, ins)}: FROM ${ins.image} is empty after substitution`, {
          hint: 'give the ARG a default (ARG NAME=image) before the first FROM, or pass --build-arg NAME=image',
        });
      if (ins.stageName && stages.some((s) => s.name === ins.stageName))
        throw new NookError(`${where(df, ins)}: duplicate stage name ${ins.stageName}`, { hint: 'give each stage its own name' });
      const byName = stages.find((s) => s.name !== undefined && s.name === image.toLowerCase());
      const base: StageBase = byName ? { kind: 'stage', index: byName.index } : image.toLowerCase() === 'scratch' ? { kind: 'scratch' } : { kind: 'image', ref: image };
      stages.push({
        index,
        name: ins.stageName,
        from: ins,
        base,
        platform: ins.platform === undefined ? undefined : substitute(ins.platform, globalArgs, ins),
        instructions: [],
        inputs: new Map(),
        dependsOn: byName ? [byName.index] : [],
      });
    } else stages[stages.length - 1].instructions.push(ins);
  }

  // Inputs of each stage. Like BuildKit, --from takes no variables (the stage graph is known before any ARG is).
  for (const stage of stages) {
    const resolve = (from: string, ins: Instruction): StageInput => {
      if (substituteWord(from, new Map(), { escape: df.escape }) !== from)
        throw new NookError(`${where(df, ins)}: variable expansion is not supported for --from=${from}`, {
          hint: 'define a stage with FROM using an ARG from the global scope (FROM ${IMAGE} AS src) and copy --from=src',
        });
      if (/^\d+$/.test(from)) {
        const n = Number(from);
        if (n >= stage.index)
          throw new NookError(`${where(df, ins)}: --from=${from} refers to stage ${n}, which is not before this one (stage ${stage.index})`, {
            hint: 'a stage can only read from stages defined above it',
          });
        return { kind: 'stage', index: n };
      }
      const named = stages.find((s) => s.name === from.toLowerCase());
      if (named && named.index === stage.index)
        throw new NookError(`${where(df, ins)}: --from=${from} refers to the stage it is in`, { hint: 'read from another stage or an image' });
      if (named && named.index < stage.index) return { kind: 'stage', index: named.index };
      if (named)
        throw new NookError(`${where(df, ins)}: --from=${from} refers to a stage defined below this one`, {
          hint: 'move the stage above, a stage can only read from stages defined before it',
        });
      return { kind: 'image', ref: from };
    };
    for (const ins of stage.instructions) {
      if (ins.kind === 'ARG') for (const arg of ins.args) declared.add(arg.name);
      const froms: string[] = [];
      if (ins.kind === 'COPY' && ins.from !== undefined) froms.push(ins.from);
      if (ins.kind === 'RUN') for (const m of ins.mounts) if ((m.type === 'bind' || m.type === 'cache') && m.from) froms.push(m.from);
      if (froms.length === 0) continue;
      const inputs = froms.map((f) => resolve(f, ins));
      stage.inputs.set(ins, inputs);
      for (const input of inputs) if (input.kind === 'stage' && !stage.dependsOn.includes(input.index)) stage.dependsOn.push(input.index);
    }
  }

  const target = findTarget(df, stages, opts.target);
  const needed = neededStages(stages, target);

  const warnings: string[] = [];
  const predefinedArgs = new Map<string, string>();
  const unused: string[] = [];
  for (const [k, v] of buildArgs) {
    if (PROXY_ARGS.includes(k)) predefinedArgs.set(k, v);
    else if (!declared.has(k) && !automatic.has(k)) unused.push(k);
  }
  if (unused.length > 0) warnings.push(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed`);
  return { stages, target, needed, globalArgs, predefinedArgs, buildArgs, warnings };
}

function findTarget(df: ParsedDockerfile, stages: Stage[], target: string | undefined): number {
  if (target === undefined) return stages.length - 1;
  const byName = stages.find((s) => s.name === target.toLowerCase());
  if (byName) return byName.index;
  const names = stages.filter((s) => s.name).map((s) => s.name);
  throw new NookError(`target stage ${JSON.stringify(target)} could not be found in ${df.file}`, {
    hint: names.length ? `the named stages are: ${names.join(', ')}` : 'name a stage with FROM IMAGE AS NAME to build it as a target',
  });
}

/** The target and everything it needs, each after its dependencies (stage indexes only point backwards, so ascending order works). */
function neededStages(stages: Stage[], target: number): number[] {
  const need = new Set<number>();
  const visit = (i: number) => {
    if (need.has(i)) return;
    need.add(i);
    for (const d of stages[i].dependsOn) visit(d);
  };
  visit(target);
  return [...need].sort((a, b) => a - b);
}

/**
 * The ARGs in scope in one stage, as the engine walks its instructions:
 * `declare` each ARG when reached; `values()` is what substitution and RUN
 * see (ENV of the same name overrides it: see config-step's runEnvironment).
 */
export class ArgScope {
  private readonly args = new Map<string, string>();
  private readonly names: string[] = [];

  constructor(
    private readonly globalArgs: ReadonlyMap<string, string>,
    private readonly buildArgs: ReadonlyMap<string, string>,
  ) {}

  /**
   * `ARG NAME[=default]`: the --build-arg value if given, else the default
   * (substituted by `expand` with the scope so far), else the global ARG's
   * value (re-declaring a global ARG), else unset. Returns the value.
   */
  declare(arg: { name: string; default?: string }, expand: (word: string) => string): string | undefined {
    const value =
      this.buildArgs.get(arg.name) ?? (arg.default !== undefined ? expand(arg.default) : this.globalArgs.get(arg.name));
    if (value !== undefined) this.args.set(arg.name, value);
    else this.args.delete(arg.name);
    if (!this.names.includes(arg.name)) this.names.push(arg.name);
    return value;
  }

  /** Every ARG declared so far in this stage, valued or not, in order (RUN's created_by lists them). */
  declared(): string[] {
    return [...this.names];
  }

  /** Declared ARGs that have a value, in declaration order. */
  values(): Map<string, string> {
    return new Map(this.args);
  }
}
