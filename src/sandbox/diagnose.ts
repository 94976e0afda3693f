/**
 * Turns a failed setup step into a message a user can act on: what nook was
 * doing, the errno, and the most likely cause on this host.
 */
import fs = require('node:fs');
import os = require('node:os');
import { Resolve, type PlanOp } from '../../ffi/plan-format';
import { NookError, describeErrno } from '../errors';
import { moreIdsHint } from './idmap';
import type { SandboxSpec } from './spec';

const { ENOENT, EPERM, EACCES, EINVAL, ENOSPC, EROFS, ENOTDIR, ELOOP, ENOSYS } = os.constants.errno;
const EUSERS = 87; // not in Node's errno table

function sysctl(name: string): string | null {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Why the kernel might refuse an unprivileged user namespace on this host, or null when no setting explains it. */
export function userNamespaceBlocker(read: (name: string) => string | null = sysctl): string | null {
  if (read('user.max_user_namespaces') === '0')
    return 'user namespaces are disabled: user.max_user_namespaces=0; enable them with `sudo sysctl -w user.max_user_namespaces=15000`';
  if (read('kernel.unprivileged_userns_clone') === '0')
    return 'unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone=0; enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`';
  if (read('kernel.apparmor_restrict_unprivileged_userns') === '1')
    return (
      'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 23.10 and later); ' +
      'allow them with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for nook with `userns,`'
    );
  return null;
}

export function cloneFailure(errno: number): NookError {
  const blocker = userNamespaceBlocker();
  let hint: string;
  if (blocker) hint = blocker;
  else if (errno === ENOSPC || errno === EUSERS)
    hint = 'the limit on namespaces was reached (see /proc/sys/user/max_*_namespaces); raise it or end other sandboxes';
  else if (errno === EPERM)
    hint = 'user namespaces are refused here; inside a container, its seccomp profile or missing privileges may forbid them';
  else hint = 'this kernel may lack user, pid or mount namespace support';
  return new NookError(`creating the sandbox's namespaces (clone): ${describeErrno(errno)}`, { hint });
}

function execFailure(spec: SandboxSpec, errno: number): NookError {
  const cmd = spec.argv[0];
  if (errno === ENOENT || errno === ENOTDIR) {
    const msg = cmd.includes('/')
      ? `${cmd}: no such file or directory in the sandbox (or its interpreter is missing)`
      : `${cmd}: executable file not found in $PATH (${spec.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? ''})`;
    return new NookError(msg, { exitCode: 127, hint: `check that ${cmd} exists in the rootfs ${spec.rootfs}` });
  }
  // EACCES in docker's (runc's) words, which scripts match: "exec /x: permission denied".
  return new NookError(errno === EACCES ? `exec ${cmd}: permission denied` : `${cmd}: cannot execute: ${describeErrno(errno)}`, {
    exitCode: 126,
    hint: errno === EACCES ? 'the file is not executable, or sits on a noexec mount' : undefined,
  });
}

/** A plan step that failed, with what the kernel said: callers may recover from some (overlayfs refused). */
export class StepError extends NookError {
  constructor(
    readonly step: PlanOp,
    readonly errno: number,
    message: string,
    hint?: string,
  ) {
    super(message, { hint });
    this.name = 'StepError';
  }
}

export function stepFailure(step: PlanOp, errno: number, spec: SandboxSpec, userName: string): NookError {
  if (step.op === 'EXEC') return execFailure(spec, errno);
  const base = `${step.what}: ${describeErrno(errno)}`;
  let hint: string | undefined;
  switch (step.op) {
    case 'SETRESUID':
    case 'SETRESGID':
    case 'SETGROUPS':
      if (errno === EINVAL) {
        const id = Number(step.args[0]);
        const need = step.op === 'SETGROUPS' || !Number.isInteger(id) ? undefined : { kind: step.op === 'SETRESUID' ? ('uid' as const) : ('gid' as const), id };
        hint = moreIdsHint(spec.idmap, userName, need);
      }
      break;
    case 'RESOLVE':
      if (errno === EACCES || errno === EROFS || errno === EPERM)
        hint = `the rootfs ${spec.rootfs} is not writable here; create that path in it beforehand`;
      else if (errno === ENOTDIR) hint = 'a component of that path inside the rootfs is not a directory';
      else if (errno === ELOOP) hint = 'the symbolic links of that path inside the rootfs loop';
      else if (errno === ENOENT && step.args[1] === Resolve.EXISTING) hint = 'that path does not exist inside the container';
      break;
    case 'CHDIR_AT':
      hint = `the working directory must be a directory inside the rootfs`;
      break;
    case 'PIVOT_ROOT':
      if (errno === EINVAL)
        hint = 'pivot_root is impossible while / is the initramfs (rootfs); boot with a real root filesystem or switch_root first';
      break;
    case 'MOUNT':
    case 'MOUNT_AT': {
      const fstype = step.op === 'MOUNT' ? step.args[2] : step.args[1];
      if (fstype === 'proc' && errno === EPERM)
        hint = "the kernel refuses a new /proc when the host's /proc is partly hidden by other mounts (as inside many containers)";
      else if (fstype === 'sysfs' && errno === EPERM)
        hint = "the kernel refuses a new sysfs here; try --network host, which binds the host's /sys instead";
      else if (errno === ENOENT) hint = `the source of the mount does not exist on the host`;
      break;
    }
    case 'INIT_IMAGE':
    case 'INIT':
      // --init runs its PID 1 from an executable memfd (nothing of nook's stays in the container).
      if (sysctl('vm.memfd_noexec') === '2') hint = 'vm.memfd_noexec=2 forbids executable memfds, which --init needs; run without --init';
      else if (errno === EPERM || errno === EACCES || errno === ENOSYS)
        hint = '--init needs memfd_create and execveat (or execve of /proc/self/fd/N); a seccomp profile or security module may refuse them';
      break;
  }
  return new StepError(step, errno, base, hint);
}
