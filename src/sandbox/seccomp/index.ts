/**
 * seccomp for nook: docker's default profile and docker-format profile files,
 * compiled in TypeScript to the classic BPF program that the executor installs
 * with seccomp(SECCOMP_SET_MODE_FILTER) (see bpf.ts for the program's shape and
 * the rule semantics).
 *
 * Docker's default profile is compiled ahead of time for the usual capability
 * sets (default-filters.ts, keyed by key.ts's filterKey): `nook run` only
 * decodes it.
 */
import { NookError } from '../../errors';
import { compileSeccomp as compile, type CompileOptions, type SeccompArch } from './bpf';
import { dockerDefaultProfile } from './default-profile';
import { DEFAULT_FILTERS, DEFAULT_PROFILE_KEY_INPUTS } from './default-filters';
import { filterKey, hostKernel, parseKernel } from './key';
import { loadProfile as load, type SeccompProfile } from './profile';

export type { SeccompArch, CompileOptions } from './bpf';
export type { SeccompAction, SeccompArg, SeccompFilter, SeccompOp, SeccompProfile, SeccompRule } from './profile';
export { parseProfile } from './profile';

/** The seccomp architecture of this process (Node's process.arch). */
export function hostSeccompArch(): SeccompArch {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new NookError(`seccomp filters are not supported on ${process.arch}`, {
    hint: 'nook compiles seccomp filters for x86_64 and aarch64; use --security-opt seccomp=unconfined',
  });
}

/** Docker's default profile (moby's profiles/seccomp/default.json); shared, do not modify. */
export function defaultProfile(): SeccompProfile {
  return dockerDefaultProfile();
}

/** Reads a docker-format JSON profile; a NookError names the file and the bad field. */
export function loadProfile(file: string): SeccompProfile {
  return load(file);
}

/**
 * Compiles for one architecture; `caps` are the capability names the container
 * keeps (docker's includes/excludes by caps decide which rules apply, e.g.
 * CAP_SYS_ADMIN unlocks mount-related syscalls). Returns the struct
 * sock_filter array (8 bytes an instruction).
 */
export function compileSeccomp(profile: SeccompProfile, arch: SeccompArch, caps: string[], opts?: CompileOptions): Buffer {
  return compile(profile, arch, caps, opts);
}

/** The key of docker's default profile's filter for these (see key.ts), under which default-filters.ts holds it. */
export function defaultFilterKey(arch: SeccompArch, caps: readonly string[], opts: CompileOptions = {}): string {
  return filterKey(DEFAULT_PROFILE_KEY_INPUTS, arch, caps, opts.kernel ? parseKernel(opts.kernel) : hostKernel());
}

/** Docker's default profile compiled for these: the same bytes as compileSeccomp(defaultProfile(), ...), precompiled when it can be. */
export function defaultFilter(arch: SeccompArch, caps: string[], opts?: CompileOptions): Buffer {
  const pre = DEFAULT_FILTERS[defaultFilterKey(arch, caps, opts)];
  return pre !== undefined ? Buffer.from(pre, 'base64') : compileSeccomp(defaultProfile(), arch, caps, opts);
}
