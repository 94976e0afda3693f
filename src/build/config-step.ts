/**
 * What each Dockerfile instruction does to the image configuration being
 * built, without touching files: ENV LABEL WORKDIR USER CMD ENTRYPOINT EXPOSE
 * VOLUME SHELL STOPSIGNAL HEALTHCHECK ONBUILD MAINTAINER ARG change the
 * config (and the ARG scope) only; for RUN and COPY/ADD this module gives
 * the exact argv, environment and substituted arguments the engine needs.
 *
 * History (`created_by`) follows BuildKit's modern form (`ENV A=b`,
 * `WORKDIR /app`, `CMD ["nginx" "-g" "daemon off;"]`, `RUN |1 V=2 /bin/sh -c
 * make`), not the legacy builder's `/bin/sh -c #(nop) ...`, without
 * BuildKit's ` # buildkit` suffix.
 */
import os from 'node:os';
import path from 'node:path';
import { NookError } from '../errors';
import type { ContainerConfig, ImageConfig } from '../image/config';
import { parseChmod, type ModeChange } from './chmod';
import { heredocBody, heredocMarker } from './dockerfile/heredoc';
import type { CommandForm, CopyInstruction, Instruction, Mount, RunInstruction } from './dockerfile/instructions';
import { FlagProblem, parseMount } from './dockerfile/flags';
import type { ArgScope, Platform } from './stages';
import { substituteHeredoc, substituteWord, substituteWords } from './substitute';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
/** The PATH BuildKit gives a scratch image and a RUN whose environment has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface StageState {
  config: ImageConfig;
  /** CMD was given in this stage: a later ENTRYPOINT keeps it (an inherited CMD is reset, as docker does). */
  cmdSet: boolean;
  /**
   * The environment substitution and RUN see, in BuildKit's order: the
   * config's Env, then each ENV and each valued ARG as reached (the later
   * one wins). ARG values stay out of the image's Env.
   */
  env: Map<string, string>;
}

export interface StepContext {
  /** The ARGs in scope in this stage (ARG instructions declare into it). */
  scope: ArgScope;
  /** The escape character of the Dockerfile. */
  escape: string;
  /** File name for messages (`Dockerfile`). */
  file: string;
}

export interface ConfigStepResult {
  /** The history entry's created_by; absent when BuildKit records no history entry (ONBUILD). */
  createdBy?: string;
  /**
   * WORKDIR (not /): the directory that must exist afterwards. BuildKit runs
   * mkdir -p owned by the current USER and records a layer for it.
   */
  mkdir?: string;
}

/**
 * The state a stage starts from: the base image's config (cloned; its
 * OnBuild triggers are taken out and returned, as they run now and are not
 * inherited further), or BuildKit's empty config for `FROM scratch`
 * (WorkingDir /). PATH is added to the Env when missing, as BuildKit does.
 */
export function startStage(base: ImageConfig | undefined, platform: Platform): { state: StageState; onbuild: string[] } {
  const config: ImageConfig = base
    ? structuredClone(base)
    : {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: { WorkingDir: '/' },
        rootfs: { type: 'layers', diff_ids: [] },
        history: [],
      };
  config.config ??= {};
  const onbuild = config.config.OnBuild ?? [];
  delete config.config.OnBuild;
  delete config.created;
  const env = envMap(config.config.Env);
  if (!env.has('PATH')) {
    config.config.Env = [...(config.config.Env ?? []), `PATH=${DEFAULT_PATH}`];
    env.set('PATH', DEFAULT_PATH);
  }
  return { state: { config, cmdSet: false, env }, onbuild };
}

const envMap = (env: readonly string[] | null | undefined) =>
  new Map((env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));

/**
 * The environment of a RUN (NAME=VALUE list): the stage's environment
 * (config Env, ENVs and ARGs in order), then the proxy build args docker
 * predefines, unless the stage sets them. ARGs are not persisted into the image.
 */
export function runEnvironment(state: StageState, predefined: ReadonlyMap<string, string> = new Map()): string[] {
  const out = [...state.env].map(([k, v]) => `${k}=${v}`);
  for (const [k, v] of predefined) if (!state.env.has(k)) out.push(`${k}=${v}`);
  return out;
}

const shellOf = (config: ImageConfig) => config.config?.Shell ?? DEFAULT_SHELL;
const commandArgv = (c: CommandForm, config: ImageConfig) => (c.form === 'exec' ? [...c.argv] : [...shellOf(config), c.command]);

/** How a RUN is run: its argv, and a script file the engine mounts read-only for a `RUN <<EOF` starting with `#!`. */
export interface RunCommand {
  argv: string[];
  script?: { path: string; content: string };
}

/**
 * The exact command of a RUN, as BuildKit builds it: exec form as given;
 * shell form wrapped in the stage's SHELL. With heredocs: `RUN <<EOF` alone
 * runs the body in the shell (or, starting with `#!`, as a script file at
 * /dev/pipes/NAME); heredocs inside a longer command are handed to the
 * shell with their bodies after the line, as the shell expects them.
 */
export function runCommand(ins: RunInstruction, config: ImageConfig): RunCommand {
  if (ins.command.form === 'exec' || ins.heredocs.length === 0) return { argv: commandArgv(ins.command, config) };
  const first = ins.heredocs[0];
  const whole = heredocMarker(ins.command.command.trim());
  if (ins.heredocs.length === 1 && whole?.name === first.name) {
    const body = heredocBody(first);
    if (body.startsWith('#!')) {
      const script = { path: `/dev/pipes/${first.name}`, content: body };
      return { argv: [...shellOf(config), script.path], script };
    }
    return { argv: [...shellOf(config), body] };
  }
  let full = ins.command.command;
  for (const h of ins.heredocs) full += '\n' + h.content + h.name;
  return { argv: [...shellOf(config), full] };
}

/** A RUN's created_by: `RUN |N K=V... argv`, the ARGs declared in the stage shown with their current values as BuildKit does. */
export function runCreatedBy(argv: string[], state: StageState, scope: ArgScope): string {
  const shown = scope.declared().map((k) => `${k}=${state.env.get(k) ?? ''}`);
  return ['RUN', ...(shown.length ? [`|${shown.length}`, ...shown] : []), ...argv].join(' ');
}

/** COPY/ADD with its words substituted (ENV and ARGs in scope), heredoc files expanded unless their delimiter was quoted. */
export interface ExpandedCopy {
  kind: 'COPY' | 'ADD';
  sources: string[];
  files: { name: string; content: string }[];
  dest: string;
  from?: string;
  chown?: string;
  /** --chmod as written (after substitution), and what it does to each entry's mode. */
  chmodText?: string;
  chmod?: ModeChange;
  link: boolean;
  parents: boolean;
  exclude: string[];
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
  createdBy: string;
}

export function expandCopy(ins: CopyInstruction & { source: Instruction['source'] }, state: StageState, ctx: StepContext): ExpandedCopy {
  const sub = substituter(ins, state, ctx);
  const sources = ins.sources.map(sub);
  const files = ins.heredocSources.map((h) => ({
    name: h.name,
    content: h.expand ? guard(ins, ctx, () => substituteHeredoc(heredocBody(h), state.env)) : heredocBody(h),
  }));
  const dest = sub(ins.dest);
  const chown = ins.chown === undefined ? undefined : sub(ins.chown);
  const chmodText = ins.chmod === undefined ? undefined : sub(ins.chmod);
  const chmod = chmodText === undefined ? undefined : parseChmod(chmodText);
  if (chmod && 'error' in chmod)
    throw new NookError(`${where(ins, ctx)}: ${ins.kind} --chmod: ${chmod.error}`, {
      hint: 'use --chmod=755, --chmod=0644 or a symbolic mode such as --chmod=u+x',
    });
  const from = ins.from; // no variables in --from (stages.ts refuses them, as BuildKit does)
  // BuildKit's created_by: no --from, --link or --exclude in it
  const words: string[] = [ins.kind];
  if (ins.parents) words.push('--parents');
  if (chown !== undefined) words.push(`--chown=${chown}`);
  if (chmodText !== undefined) words.push(`--chmod=${chmodText}`);
  words.push(...sources, ...files.map((f) => `<<${f.name}`), dest);
  return {
    kind: ins.kind,
    sources,
    files,
    dest,
    from,
    chown,
    chmodText,
    chmod: chmod && 'change' in chmod ? chmod.change : undefined,
    link: ins.link,
    parents: ins.parents,
    exclude: ins.exclude.map(sub),
    checksum: ins.checksum === undefined ? undefined : sub(ins.checksum),
    keepGitDir: ins.keepGitDir,
    unpack: ins.unpack,
    createdBy: words.join(' '),
  };
}

/** RUN --mount values parsed again with every option value substituted, as BuildKit does. */
export function expandMounts(ins: RunInstruction & { source: Instruction['source'] }, state: StageState, ctx: StepContext): Mount[] {
  const sub = substituter(ins, state, ctx);
  return ins.mountSpecs.map((spec) =>
    guard(ins, ctx, () => {
      try {
        return parseMount(spec, sub);
      } catch (e) {
        if (e instanceof FlagProblem) throw new NookError(e.message, { hint: 'see RUN --mount in the Dockerfile reference' });
        throw e;
      }
    }),
  );
}

/** `Dockerfile:7`, or for a base image's ONBUILD trigger (line 0) `Dockerfile: ONBUILD trigger "RUN x"`. */
function where(ins: Instruction, ctx: StepContext): string {
  return ins.source.line > 0 ? `${ctx.file}:${ins.source.line}` : `${ctx.file}: ONBUILD trigger ${JSON.stringify(ins.source.text)}`;
}

function guard<T>(ins: Instruction, ctx: StepContext, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof NookError) throw new NookError(`${where(ins, ctx)}: ${e.message}`, { hint: e.hint, cause: e });
    throw e;
  }
}

function substituter(ins: Instruction, state: StageState, ctx: StepContext) {
  return (word: string) => guard(ins, ctx, () => substituteWord(word, state.env, { escape: ctx.escape }));
}

const goQuoted = (list: string[]) => `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;

/** Replaces NAME's entry in a NAME=VALUE list in place, or appends it. */
function setEnv(list: string[], key: string, value: string): string[] {
  const i = list.findIndex((e) => e.slice(0, e.indexOf('=')) === key);
  const out = [...list];
  if (i < 0) out.push(`${key}=${value}`);
  else out[i] = `${key}=${value}`;
  return out;
}

const SIGNALS = os.constants.signals as Record<string, number>;

/** A signal number (1-64) or name, with or without SIG (SIGTERM, term, SIGRTMIN+3), as docker's signal.ParseSignal accepts. */
function isSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) >= 1 && Number(s) <= 64;
  const name = s.toUpperCase().replace(/^SIG/, '');
  return SIGNALS[`SIG${name}`] !== undefined || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
}

/**
 * Applies one metadata instruction (not FROM, RUN, COPY, ADD) to the stage's
 * config, substituting variables where docker does; returns its history text.
 */
export function applyConfigInstruction(state: StageState, ins: Instruction, ctx: StepContext): ConfigStepResult {
  const cfg: ContainerConfig = (state.config.config ??= {});
  const sub = substituter(ins, state, ctx);
  const fail = (message: string, hint?: string): never => {
    throw new NookError(`${where(ins, ctx)}: ${message}`, { hint });
  };
  switch (ins.kind) {
    case 'ENV': {
      // All pairs see the environment from before the instruction (`ENV A=1 B=$A` gives B the old A), as docker does.
      const pairs = ins.pairs.map((p) => ({ key: sub(p.key), value: sub(p.value) }));
      let env = cfg.Env ?? [];
      for (const p of pairs) {
        if (p.key === '' || p.key.includes('=')) fail(`ENV name ${JSON.stringify(p.key)} is not a variable name`);
        env = setEnv(env, p.key, p.value);
        state.env.set(p.key, p.value);
      }
      cfg.Env = env;
      return { createdBy: `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}` };
    }
    case 'LABEL': {
      const pairs = ins.pairs.map((p) => ({ key: sub(p.key), value: sub(p.value) }));
      cfg.Labels = { ...(cfg.Labels ?? {}) };
      for (const p of pairs) {
        if (p.key === '') fail('LABEL names cannot be empty');
        cfg.Labels[p.key] = p.value;
      }
      return { createdBy: `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}` };
    }
    case 'ARG': {
      const shown: string[] = [];
      for (const arg of ins.args) {
        const value = ctx.scope.declare(arg, sub);
        if (value !== undefined) state.env.set(arg.name, value);
        shown.push(value === undefined ? arg.name : `${arg.name}=${value}`);
      }
      return { createdBy: `ARG ${shown.join(' ')}` };
    }
    case 'WORKDIR': {
      const p = sub(ins.path);
      if (p === '') fail('WORKDIR is empty after substitution');
      const dir = path.posix.resolve('/', cfg.WorkingDir || '/', p);
      cfg.WorkingDir = dir;
      // BuildKit makes the directory (a layer, even when it exists) unless it is /
      return { createdBy: `WORKDIR ${dir}`, ...(dir === '/' ? {} : { mkdir: dir }) };
    }
    case 'USER': {
      const user = sub(ins.user);
      if (user === '') fail('USER is empty after substitution');
      cfg.User = user;
      return { createdBy: `USER ${user}` };
    }
    case 'CMD': {
      cfg.Cmd = commandArgv(ins.command, state.config);
      state.cmdSet = true;
      return { createdBy: `CMD ${goQuoted(cfg.Cmd)}` };
    }
    case 'ENTRYPOINT': {
      cfg.Entrypoint = commandArgv(ins.command, state.config);
      if (!state.cmdSet) cfg.Cmd = null;
      return { createdBy: `ENTRYPOINT ${goQuoted(cfg.Entrypoint)}` };
    }
    case 'EXPOSE': {
      // BuildKit sorts the words as written, then substitutes and splits them.
      const words = [...ins.ports].sort();
      const ports = words.flatMap((w) => guard(ins, ctx, () => substituteWords(w, state.env, { escape: ctx.escape })));
      const keys = ports.flatMap((p) => exposedPorts(p, fail));
      cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
      for (const k of keys) cfg.ExposedPorts[k] = {};
      return { createdBy: `EXPOSE [${keys.join(' ')}]` };
    }
    case 'VOLUME': {
      const paths = ins.paths.map((p) => sub(p.trim()));
      if (paths.some((p) => p.trim() === '')) fail('VOLUME path is empty after substitution');
      cfg.Volumes = { ...(cfg.Volumes ?? {}) };
      for (const p of paths) cfg.Volumes[p] = {};
      return { createdBy: `VOLUME [${paths.join(' ')}]` };
    }
    case 'SHELL':
      cfg.Shell = [...ins.shell];
      return { createdBy: `SHELL [${ins.shell.join(' ')}]` };
    case 'STOPSIGNAL': {
      const signal = sub(ins.signal);
      if (!isSignal(signal)) fail(`STOPSIGNAL ${signal} is not a signal`, 'use a name like SIGTERM or SIGQUIT, or a number');
      cfg.StopSignal = signal;
      return { createdBy: `STOPSIGNAL ${signal}` };
    }
    case 'HEALTHCHECK': {
      cfg.Healthcheck = { ...ins.health };
      // BuildKit prints the config with Go's %+v
      const h = ins.health;
      const d = (ns: number | undefined) => goDuration(ns ?? 0);
      return {
        createdBy: `HEALTHCHECK {Test:[${h.Test.join(' ')}] Interval:${d(h.Interval)} Timeout:${d(h.Timeout)} StartPeriod:${d(h.StartPeriod)} StartInterval:${d(h.StartInterval)} Retries:${h.Retries ?? 0}}`,
      };
    }
    case 'ONBUILD':
      cfg.OnBuild = [...(cfg.OnBuild ?? []), ins.expression];
      return {};
    case 'MAINTAINER':
      state.config.author = ins.author;
      return { createdBy: `MAINTAINER ${ins.author}` };
  }
  throw new Error(`applyConfigInstruction: ${ins.kind} is not a metadata instruction`);
}

/** Go's time.Duration String(): 0s, 500ms, 1.5µs, 3s, 1m30s, 1h0m0s. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  const frac = (v: number, unit: number) => String(v / unit).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${frac(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${frac(ns, 1e6)}ms`;
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const sec = frac(ns % 60e9, 1e9) + 's';
  return sign + (h ? `${h}h${m}m${sec}` : m ? `${m}m${sec}` : sec);
}

/** `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` → docker's ExposedPorts keys (`80/tcp`...). */
function exposedPorts(spec: string, fail: (m: string, h?: string) => never): string[] {
  // [ip:][hostport:]port: docker accepts (and ignores) the mapping parts.
  const m = /^(?:(?:\[[0-9a-fA-F:.]+\]|[0-9.]+)?:)?(?:[\d-]*:)?(\d+)(?:-(\d+))?(?:\/([a-zA-Z]+))?$/.exec(spec);
  const hint = 'EXPOSE PORT[/PROTOCOL], e.g. 80, 80/tcp, 53/udp or 8000-8010/tcp';
  if (!m) return fail(`EXPOSE ${spec} is not a port`, hint);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) fail(`EXPOSE ${spec}: protocol ${m[3]} is not tcp, udp or sctp`, hint);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (end > 65535 || end < start) fail(`EXPOSE ${spec}: ports go from 0 to 65535`, hint);
  return Array.from({ length: end - start + 1 }, (_, i) => `${start + i}/${proto}`);
}

/** A history entry as docker writes it (empty_layer only when true). */
export function historyEntry(createdBy: string, emptyLayer: boolean, created?: string): NonNullable<ImageConfig['history']>[number] {
  return { ...(created ? { created } : {}), created_by: createdBy, ...(emptyLayer ? { empty_layer: true } : {}), comment: 'nook build' };
}
