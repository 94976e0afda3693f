/**
 * A SandboxSpec as JSON, so that `nook start`, a restart and `nook exec`
 * run the container exactly as `nook run` decided it: the capability mask
 * is a bigint and the compiled seccomp filter a Buffer, which JSON can't hold.
 */
import type { SandboxSpec } from '../sandbox/spec';

interface EncodedSecurity {
  caps: string;
  capNames: string[];
  noNewPrivs: boolean;
  seccomp?: string;
  maskPaths: boolean;
}

export type EncodedSpec = Omit<SandboxSpec, 'security'> & { security: EncodedSecurity };

export function encodeSpec(spec: SandboxSpec): EncodedSpec {
  const { security, ...rest } = spec;
  return {
    ...rest,
    security: {
      caps: security.caps.toString(),
      capNames: security.capNames,
      noNewPrivs: security.noNewPrivs,
      seccomp: security.seccomp?.toString('base64'),
      maskPaths: security.maskPaths,
    },
  };
}

export function decodeSpec(raw: unknown): SandboxSpec {
  const e = raw as EncodedSpec;
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
