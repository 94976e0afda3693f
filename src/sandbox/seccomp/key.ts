/**
 * What a compiled filter depends on besides the profile: the architecture,
 * the capabilities the profile's includes/excludes name (of those the
 * container keeps), and which of its minKernel versions the kernel reaches.
 * Two compiles of one profile with the same key give the same bytes, so a
 * filter compiled ahead of time (default-filters.ts) stands for every
 * capability set with that key: --cap-add NET_ADMIN keeps the key of
 * docker's default set, as no rule names NET_ADMIN.
 *
 * No syscall tables here: `nook run` with the default profile loads only
 * this, index.ts and the precompiled filters.
 */
import os = require('node:os');
import type { SeccompProfile } from './profile';

export type Kernel = [number, number];

/** "cap_sys_admin", "SYS_ADMIN" and "CAP_SYS_ADMIN" all name CAP_SYS_ADMIN. */
export function capName(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

export function parseKernel(release: string): Kernel {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

let hostKernelCache: Kernel | undefined;
export function hostKernel(): Kernel {
  return (hostKernelCache ??= parseKernel(os.release()));
}

export function atLeast(kernel: Kernel, min: string): boolean {
  const [maj, min2] = parseKernel(min);
  return kernel[0] > maj || (kernel[0] === maj && kernel[1] >= min2);
}

/** The capabilities (CAP_*) and minKernel versions that a profile's rules depend on, sorted. */
export interface KeyInputs {
  caps: readonly string[];
  minKernels: readonly string[];
}

export function keyInputs(profile: SeccompProfile): KeyInputs {
  const caps = new Set<string>();
  const kernels = new Set<string>();
  for (const rule of profile.syscalls ?? [])
    for (const f of [rule.includes, rule.excludes]) {
      if (!f) continue;
      for (const c of f.caps ?? []) caps.add(capName(c));
      if (f.minKernel) kernels.add(f.minKernel);
    }
  return { caps: [...caps].sort(), minKernels: [...kernels].sort() };
}

/** e.g. "x86_64 CAP_SYS_CHROOT 4.8+": the kept capabilities that matter, and a + or - per minKernel. */
export function filterKey(inputs: KeyInputs, arch: string, caps: readonly string[], kernel: Kernel): string {
  const kept = new Set(caps.map(capName));
  const parts = [arch, ...inputs.caps.filter((c) => kept.has(c)), ...inputs.minKernels.map((k) => `${k}${atLeast(kernel, k) ? '+' : '-'}`)];
  return parts.join(' ');
}
