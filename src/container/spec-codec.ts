/**
 * The container record: the SandboxSpec as `nook run` decided it, as JSON
 * in config.json, so that `nook start`, a restart and `nook exec` run the
 * container exactly so. It holds decisions made on this host at create
 * time (the id map, the compiled seccomp filter, the image's layer paths),
 * so it carries a version, and is checked when read: a record written by an
 * older or newer nook is refused with a clear error, never half-understood.
 *
 * The capability mask is a bigint and the seccomp filter a Buffer, which
 * JSON can't hold: they are a decimal string and base64.
 */
import { NookError } from '../errors';
import type { SandboxSpec } from '../sandbox/spec';
import type { RootSource } from './compose';
import type { RunRequest } from './request';

/** Bump when the record's meaning changes; a nook reads only its own version. */
export const RECORD_VERSION = 1;

interface EncodedSecurity {
  caps: string;
  capNames: string[];
  noNewPrivs: boolean;
  seccomp?: string;
  maskPaths: boolean;
}

export type EncodedSpec = Omit<SandboxSpec, 'security'> & { security: EncodedSecurity };

/** What config.json's `spec` holds. */
export interface ContainerRecord {
  version: typeof RECORD_VERSION;
  spec: EncodedSpec;
  /**
   * The typed request the spec was composed from, and where the container's
   * / comes from: `nook start` and restarts compose the container again
   * from them on the host as it is then (id map, users, seccomp filter).
   */
  request?: StoredRequest;
}

export interface StoredRequest {
  request: RunRequest;
  root: RootSource;
}

export function encodeSpec(spec: SandboxSpec, request?: StoredRequest): ContainerRecord {
  const { security, ...rest } = spec;
  return {
    version: RECORD_VERSION,
    ...(request ? { request } : {}),
    spec: {
      ...rest,
      security: {
        caps: security.caps.toString(),
        capNames: security.capNames,
        noNewPrivs: security.noNewPrivs,
        seccomp: security.seccomp?.toString('base64'),
        maskPaths: security.maskPaths,
      },
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The first field of a version-1 record that is missing or of the wrong type, if any. */
function recordProblem(r: Record<string, unknown>): string | undefined {
  const spec = r.spec;
  if (!isObject(spec)) return 'spec';
  if (!isStrings(spec.argv) || spec.argv.length === 0) return 'spec.argv';
  if (!isStrings(spec.env)) return 'spec.env';
  for (const k of ['rootfs', 'cwd', 'hostname'] as const) if (typeof spec[k] !== 'string') return `spec.${k}`;
  const idmap = spec.idmap;
  if (!isObject(idmap) || !Array.isArray(idmap.uid) || !Array.isArray(idmap.gid) || (idmap.method !== 'helpers' && idmap.method !== 'direct'))
    return 'spec.idmap';
  const sec = spec.security;
  if (!isObject(sec)) return 'spec.security';
  if (typeof sec.caps !== 'string' || !/^\d+$/.test(sec.caps)) return 'spec.security.caps';
  if (!isStrings(sec.capNames)) return 'spec.security.capNames';
  if (sec.seccomp !== undefined && typeof sec.seccomp !== 'string') return 'spec.security.seccomp';
  if (typeof sec.noNewPrivs !== 'boolean' || typeof sec.maskPaths !== 'boolean') return 'spec.security';
  for (const k of ['binds', 'tmpfs', 'ulimits'] as const) if (!Array.isArray(spec[k])) return `spec.${k}`;
  return undefined;
}

/** The record's spec, after checking its version and shape; a NookError (exit 125) says what is wrong. */
export function decodeSpec(raw: unknown, what = 'the container'): SandboxSpec {
  const hint = 'remove it (nook rm -f) and run it again with this nook, or use the nook that created it';
  if (!isObject(raw)) throw new NookError(`${what} has no readable record (config.json's spec)`, { hint });
  const v = raw.version;
  if (v !== RECORD_VERSION) {
    const which =
      typeof v !== 'number' ? 'an older nook (a record without a version)' : v > RECORD_VERSION ? `a newer nook (record version ${v})` : `an older nook (record version ${v})`;
    throw new NookError(`${what} was created by ${which}; this nook reads record version ${RECORD_VERSION} only`, { hint });
  }
  const problem = recordProblem(raw);
  if (problem) throw new NookError(`${what}'s record (version ${RECORD_VERSION}) is damaged: ${problem} is missing or malformed`, { hint });
  const e = raw.spec as EncodedSpec;
  return {
    ...e,
    security: {
      caps: BigInt(e.security.caps),
      capNames: e.security.capNames,
      noNewPrivs: e.security.noNewPrivs,
      seccomp: e.security.seccomp === undefined ? undefined : Buffer.from(e.security.seccomp, 'base64'),
      maskPaths: e.security.maskPaths,
    },
  };
}

/**
 * The stored request of a record decodeSpec accepted, if it has one that
 * looks whole (a record written before requests were kept has none: its
 * spec is used as it is).
 */
export function storedRequest(raw: unknown): StoredRequest | undefined {
  if (!isObject(raw) || !isObject(raw.request)) return undefined;
  const { request, root } = raw.request;
  if (!isObject(request) || !isObject(root) || typeof root.rootfs !== 'string') return undefined;
  const p = request.process;
  if (!isObject(p) || !isStrings(p.args) || !isStrings(p.env) || !isObject(request.network) || !isObject(request.mounts) || !isObject(request.security))
    return undefined;
  return raw.request as unknown as StoredRequest;
}
