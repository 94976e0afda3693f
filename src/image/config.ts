/**
 * The image configuration (OCI image-spec config.json, which Docker's
 * container.image.v1 matches): how to run the image, and the uncompressed
 * digests (diff_ids) of its layers in order, bottom first.
 */
import { NookError } from '../errors';

export interface ContainerConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
  ArgsEscaped?: boolean;
  /** Docker's HealthConfig: Test is ["NONE"], ["CMD", argv...] or ["CMD-SHELL", command]; durations in nanoseconds. */
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | null;
  /** ONBUILD triggers, each an instruction line, run when a build uses this image as its base. */
  OnBuild?: string[] | null;
  /** SHELL: the shell for shell-form RUN, CMD and ENTRYPOINT (default ["/bin/sh", "-c"]). */
  Shell?: string[] | null;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

/**
 * Checks the types of everything nook reads from a config against the OCI
 * image spec (config.md), so a hostile or broken image fails here, naming the
 * field, rather than deep inside a run. Optional fields may be absent or
 * null (Go's encoder writes null for empty lists); fields nook does not know
 * are left alone. Returns why the config is invalid, or undefined.
 */
export function configProblem(doc: unknown): string | undefined {
  if (!isObject(doc)) return 'it is not a JSON object';
  for (const k of ['architecture', 'os', 'variant', 'created', 'author', 'os.version'] as const)
    if (!optional(doc[k], isString)) return `${k} is not a string`;
  if (!optional(doc['os.features'], isStringList)) return 'os.features is not a list of strings';
  const rootfs = doc.rootfs;
  if (!isObject(rootfs)) return 'rootfs is missing or not an object';
  if (rootfs.type !== 'layers') return 'rootfs.type is not "layers"';
  const ids = rootfs.diff_ids;
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d)))
    return 'rootfs.diff_ids is not a list of sha256 digests';
  if (!optional(doc.history, (h) => Array.isArray(h) && h.every(historyEntry))) return 'history is not a list of history entries';
  if (!optional(doc.config, isObject)) return 'config is not an object';
  return doc.config ? containerConfigProblem(doc.config as Record<string, unknown>) : undefined;
}

function containerConfigProblem(c: Record<string, unknown>): string | undefined {
  for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) {
    if (!optional(c[k], isString)) return `config.${k} is not a string`;
    if (typeof c[k] === 'string' && c[k].includes('\0')) return `config.${k} contains a NUL byte`;
  }
  for (const k of ['Entrypoint', 'Cmd', 'Env', 'OnBuild', 'Shell'] as const) {
    if (!optional(c[k], isStringList)) return `config.${k} is not a list of strings`;
    const list = (c[k] ?? []) as string[];
    const i = list.findIndex((s) => s.includes('\0'));
    if (i >= 0) return `config.${k}[${i}] contains a NUL byte`;
  }
  const env = (c.Env ?? []) as string[];
  const bad = env.findIndex((e) => e.indexOf('=') < 1);
  if (bad >= 0) return `config.Env[${bad}] ${JSON.stringify(env[bad].slice(0, 64))} is not NAME=VALUE`;
  for (const k of ['ExposedPorts', 'Volumes'] as const) if (!optional(c[k], isObject)) return `config.${k} is not an object`;
  if (!optional(c.Labels, (l) => isObject(l) && Object.values(l).every(isString))) return 'config.Labels is not an object of strings';
  if (!optional(c.ArgsEscaped, (b) => typeof b === 'boolean')) return 'config.ArgsEscaped is not a boolean';
  if (!optional(c.Healthcheck, (h) => isObject(h) && optional(h.Test, isStringList))) return 'config.Healthcheck is not a health check';
  return undefined;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || v === null || ok(v);
const historyEntry = (h: unknown) =>
  isObject(h) &&
  ['created', 'author', 'created_by', 'comment'].every((k) => optional(h[k], isString)) &&
  optional(h.empty_layer, (b) => typeof b === 'boolean');

export function parseImageConfig(body: Buffer | string, what: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString());
  } catch (e) {
    throw new NookError(`the image configuration of ${what} is not JSON: ${(e as Error).message}`);
  }
  const problem = configProblem(doc);
  if (problem)
    throw new NookError(`the image configuration of ${what} is invalid: ${problem}`, {
      hint: 'the image is malformed (see the OCI image spec, config.md); rebuild or push it again',
    });
  return doc as ImageConfig;
}
