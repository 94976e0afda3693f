import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileSeccomp, defaultFilter, defaultFilterKey, defaultProfile } from '../../src/sandbox/seccomp';
import type { SeccompArch } from '../../src/sandbox/seccomp';
import { DEFAULT_FILTERS, DEFAULT_PROFILE_KEY_INPUTS } from '../../src/sandbox/seccomp/default-filters';
import { generateDefaultFilters, PRECOMPILED_ARCHES, PRECOMPILED_CAP_SETS, PRECOMPILED_KERNEL } from '../../src/sandbox/seccomp/generate';
import { filterKey, keyInputs, parseKernel } from '../../src/sandbox/seccomp/key';
import { capabilitySet } from '../../src/sandbox/capabilities';

const ARCHES: SeccompArch[] = ['x86_64', 'aarch64'];
const capsOf = (add: string[], drop: string[]) => capabilitySet(add, drop, false).names.map((n) => `CAP_${n}`);

describe('seccomp: docker\'s default profile compiled ahead of time', () => {
  it('default-filters.ts is what the generator writes from today\'s profile and compiler (else: make seccomp-filters)', () => {
    const file = path.join(__dirname, '../../src/sandbox/seccomp/default-filters.ts');
    expect(fs.readFileSync(file, 'utf8')).toBe(generateDefaultFilters());
    expect(DEFAULT_PROFILE_KEY_INPUTS).toEqual(keyInputs(defaultProfile()));
  });

  it('every precompiled filter is byte for byte what compileSeccomp gives at run time', () => {
    const keys = Object.keys(DEFAULT_FILTERS);
    expect(keys.length).toBe(PRECOMPILED_ARCHES.length * PRECOMPILED_CAP_SETS.length);
    for (const arch of PRECOMPILED_ARCHES)
      for (const caps of PRECOMPILED_CAP_SETS) {
        const key = filterKey(DEFAULT_PROFILE_KEY_INPUTS, arch, caps, parseKernel(PRECOMPILED_KERNEL));
        const runtime = compileSeccomp(defaultProfile(), arch, [...caps], { kernel: PRECOMPILED_KERNEL });
        expect(Buffer.from(DEFAULT_FILTERS[key], 'base64').equals(runtime), key).toBe(true);
      }
  });

  it('covers docker\'s default set, --cap-drop ALL, and cap changes the profile does not look at, on both architectures', () => {
    for (const arch of ARCHES)
      for (const caps of [capsOf([], []), capsOf([], ['ALL']), capsOf(['NET_ADMIN'], []), capsOf([], ['NET_RAW', 'MKNOD']), capsOf(['IPC_LOCK'], ['CHOWN'])])
        expect(DEFAULT_FILTERS[defaultFilterKey(arch, caps, { kernel: '6.8' })], `${arch} ${caps.join(',')}`).toBeDefined();
  });

  it('defaultFilter() equals compileSeccomp() for precompiled and other capability sets and kernels', () => {
    const sets = [capsOf([], []), capsOf([], ['ALL']), capsOf(['NET_ADMIN'], []), capsOf(['SYS_ADMIN'], []), capsOf(['SYS_PTRACE', 'BPF'], ['SYS_CHROOT']), capsOf(['ALL'], [])];
    for (const arch of ARCHES)
      for (const caps of sets)
        for (const kernel of ['4.4', '5.10', '6.8', undefined]) {
          const opts = kernel ? { kernel } : undefined;
          const got = defaultFilter(arch, caps, opts);
          expect(got.equals(compileSeccomp(defaultProfile(), arch, caps, opts)), `${arch} ${caps.join(',')} ${kernel}`).toBe(true);
        }
  });

  it('keys on the capabilities and kernel versions the profile names, and nothing else', () => {
    const inputs = { caps: ['CAP_SYS_ADMIN', 'CAP_SYS_CHROOT'], minKernels: ['4.8', '5.6'] };
    expect(filterKey(inputs, 'x86_64', ['CAP_CHOWN', 'sys_chroot'], [5, 4])).toBe('x86_64 CAP_SYS_CHROOT 4.8+ 5.6-');
    expect(filterKey(inputs, 'aarch64', ['SYS_ADMIN', 'CAP_SYS_CHROOT', 'CAP_NET_ADMIN'], [6, 1])).toBe('aarch64 CAP_SYS_ADMIN CAP_SYS_CHROOT 4.8+ 5.6+');
    expect(filterKey(inputs, 'x86_64', [], [4, 4])).toBe('x86_64 4.8- 5.6-');
  });
});
