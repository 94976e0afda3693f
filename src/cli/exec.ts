/**
 * `nook exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] [--privileged] CONTAINER CMD...`:
 * a new process in a running container, joining its namespaces, its cgroup,
 * and its capability and seccomp policy (sandbox/join.ts does the joining).
 * Defaults come from the container: its environment, working directory and
 * user, as docker does.
 */
import { NookError, UsageError } from '../errors';
import { decodeSpec } from '../container/spec-codec';
import { liveState } from '../container/status';
import { ContainerStore } from '../container/state';
import { capabilitySet } from '../sandbox/capabilities';
import { hostIdentity, mappedUser } from '../sandbox/idmap';
import { DirView } from '../sandbox/rootfs-view';
import type { ProcessUser, SandboxSpec, SecuritySpec } from '../sandbox/spec';
import { resolveUser } from '../sandbox/users';
import { terminalSize } from '../sandbox/terminal-size';
import { parseArgs, flagHelp, stringList, type FlagSpec } from './args';
import { mergeEnv } from '../container/compose';
import { expandEnv } from './run-request';

const EXEC_FLAGS: readonly FlagSpec[] = [
  { name: 'interactive', short: 'i', type: 'boolean', help: 'keep stdin attached (otherwise it is /dev/null)' },
  { name: 'tty', short: 't', type: 'boolean', help: 'allocate a pseudo-terminal' },
  { name: 'env', short: 'e', type: 'string', multiple: true, value: 'K=V', help: "set an environment variable (on top of the container's)" },
  { name: 'workdir', short: 'w', type: 'string', value: 'DIR', help: "working directory, which must exist (default: the container's)" },
  { name: 'user', short: 'u', type: 'string', value: 'USER[:GROUP]', help: "run as this user (default: the container's; names from its /etc/passwd)" },
  { name: 'privileged', type: 'boolean', help: "every capability in the container's user namespace, and no seccomp filter" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function execCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, EXEC_FLAGS, 'exec');
  if (flags.help) {
    process.stdout.write(`Usage: nook exec [FLAGS] CONTAINER COMMAND [ARG...]\n\nRuns a command in a running container.\n\nFlags:\n${flagHelp(EXEC_FLAGS)}\n`);
    return 0;
  }
  const [ref, ...cmd] = positionals;
  if (!ref || !cmd.length) throw new UsageError('nook exec needs a container and a command', 'e.g. nook exec web sh -c "ps"');
  const dir = ContainerStore.open().resolve(ref);
  const state = liveState(dir);
  if (state.display !== 'running' || state.pid === undefined)
    throw new NookError(`container ${ref} is not running`, { hint: `start it first: nook start ${ref}` });
  const container = decodeSpec(dir.config().spec, `container ${ref}`);
  const host = hostIdentity();

  const user = execUser(container, state.pid, flags.user as string | undefined, host.userName);
  const cwd = (flags.workdir as string | undefined) ?? container.cwd;
  if (!cwd.startsWith('/')) throw new UsageError(`the working directory must be an absolute path: "${cwd}"`);
  const tty = Boolean(flags.tty);
  const spec: SandboxSpec = {
    ...container,
    argv: cmd,
    env: mergeEnv(container.env, user.home ? [`HOME=${user.home}`] : [], tty ? ['TERM=xterm'] : [], stringList(flags.env).flatMap(expandEnv)),
    cwd,
    user: user.ids,
    tty,
    ttySize: tty ? terminalSize() : undefined,
    interactive: Boolean(flags.interactive),
    security: flags.privileged ? privileged(container.security) : container.security,
    init: false,
  };
  const { joinSandbox } = await import('../sandbox/join');
  return joinSandbox({ pid: state.pid, pidStart: state.pidStart, cgroupPath: state.cgroup, name: ref }, spec, host);
}

/**
 * -u USER[:GROUP], resolved in the container's /etc/passwd and /etc/group as it sees them now (its writable
 * layer and mounts included, through its init's /proc/PID/root); without it, the container's user.
 */
function execUser(container: SandboxSpec, pid: number, flag: string | undefined, userName: string): { ids: ProcessUser; home?: string } {
  if (flag === undefined) return { ids: container.user };
  const resolved = resolveUser(new DirView(`/proc/${pid}/root`), flag, { uid: 0, gid: 0 });
  return { ids: mappedUser(resolved, container.idmap, userName, 'the container'), home: resolved.home };
}

/** --privileged: every capability, no seccomp filter; the container's masked paths stay (they are mounts). */
function privileged(sec: SecuritySpec): SecuritySpec {
  const all = capabilitySet([], [], true);
  return { ...sec, caps: all.mask, capNames: all.names, seccomp: undefined };
}
