import { describe, expect, it } from 'vitest';
import { stepFailure, userNamespaceBlocker } from '../../src/sandbox/diagnose';
import type { SandboxSpec } from '../../src/sandbox/spec';

const sysctls = (values: Record<string, string>) => (name: string) => values[name] ?? null;

describe('why user namespaces are refused', () => {
  it('names each known switch with the command that turns it back on', () => {
    expect(userNamespaceBlocker(sysctls({ 'user.max_user_namespaces': '0' }))).toMatch(/max_user_namespaces=0.*sysctl -w user.max_user_namespaces=/);
    expect(userNamespaceBlocker(sysctls({ 'kernel.unprivileged_userns_clone': '0' }))).toMatch(/unprivileged_userns_clone=1/);
    expect(userNamespaceBlocker(sysctls({ 'kernel.apparmor_restrict_unprivileged_userns': '1' }))).toMatch(/AppArmor.*apparmor_restrict_unprivileged_userns=0/);
  });

  it('says nothing when the switches allow them', () => {
    expect(userNamespaceBlocker(sysctls({ 'user.max_user_namespaces': '15000', 'kernel.unprivileged_userns_clone': '1' }))).toBeNull();
  });
});

describe('failed steps', () => {
  const spec = {
    rootfs: '/r',
    argv: ['app'],
    env: ['PATH=/bin'],
    idmap: { uid: [{ inside: 0, outside: 1000, count: 1 }], gid: [], method: 'direct', setgroups: false, singleIdReason: 'user alice has no range in /etc/subuid' },
  } as unknown as SandboxSpec;

  it('maps exec errors to 127 (not found) and 126 (cannot run)', () => {
    const exec = { op: 'EXEC' as const, args: [], what: 'execute app' };
    const missing = stepFailure(exec, 2, spec, 'alice');
    expect(missing.exitCode).toBe(127);
    expect(missing.message).toMatch(/app: executable file not found in \$PATH/);
    expect(stepFailure(exec, 13, spec, 'alice').exitCode).toBe(126);
  });

  it('explains an unmapped id with the usermod fix', () => {
    const e = stepFailure({ op: 'SETRESUID', args: [1000], what: 'switch to uid 1000' }, 22, spec, 'alice');
    expect(e.exitCode).toBe(125);
    expect(e.message).toBe('switch to uid 1000: EINVAL (Invalid argument)');
    expect(e.hint).toMatch(/no range in \/etc\/subuid.*usermod --add-subuids .* alice/);
  });
});
