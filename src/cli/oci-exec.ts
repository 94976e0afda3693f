/**
 * `nook oci exec [FLAGS] ID [COMMAND ARG...]`: runc's exec. The process is
 * --process FILE (an OCI process object, as conmon and containerd's shim pass
 * it), or the container's own process with COMMAND and the flags applied.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { parseArgs, type FlagSpec } from './args';
import { validateProcess, type OciProcess } from '../oci/config';
import type { OciStateStore } from '../oci/state';

const f = (name: string, type: 'string' | 'boolean', help: string, short?: string, multiple = false): FlagSpec => ({ name, type, help, short, multiple });
const EXEC_FLAGS: FlagSpec[] = [
  f('process', 'string', 'an OCI process JSON file', 'p'),
  f('detach', 'boolean', 'return once the process runs', 'd'),
  f('pid-file', 'string', 'write its pid here'),
  f('console-socket', 'string', 'unix socket that receives the pty master'),
  f('tty', 'boolean', 'give the process a terminal', 't'),
  f('cwd', 'string', 'its working directory'),
  f('env', 'string', 'an environment variable KEY=VALUE', 'e', true),
  f('user', 'string', 'uid[:gid]', 'u'),
  f('additional-gids', 'string', 'supplementary gids', 'g', true),
  f('cap', 'string', 'a capability to add', 'c', true),
  f('no-new-privs', 'boolean', 'set no_new_privs'),
  f('preserve-fds', 'string', 'pass descriptors 3..3+N-1'),
  f('apparmor', 'string', 'accepted: nook does not support AppArmor'),
  f('process-label', 'string', 'accepted: nook does not support SELinux'),
  f('cgroup', 'string', 'accepted: nook places exec\'d processes in no cgroup'),
  f('ignore-paused', 'boolean', 'accepted'),
];

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

export async function execCommand(args: string[], store: OciStateStore, _g: unknown, warn: (m: string) => void): Promise<number> {
  const { flags, positionals } = parseArgs(args, EXEC_FLAGS, 'oci exec');
  const [id, ...command] = positionals;
  if (!id) throw new NookError('exec needs a container id', { hint: 'nook oci exec ID COMMAND [ARG...]', exitCode: 1 });
  let proc: OciProcess;
  if (flags.process !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(flags.process as string, 'utf8'));
    } catch (e) {
      throw new NookError(`--process: cannot read ${flags.process}: ${(e as Error).message}`, { hint: 'an OCI process object as in config.json\'s "process"', exitCode: 1 });
    }
    proc = validateProcess(parsed, 'process', `--process ${flags.process}`);
  } else {
    const rec = store.read(id);
    const base = rec.config.process;
    if (!base) throw new NookError(`container ${id} has no process to start from`, { hint: 'give the whole process with --process FILE', exitCode: 1 });
    proc = { ...base, args: command, terminal: !!flags.tty, env: [...(base.env ?? []), ...list(flags.env)] };
    if (flags.cwd !== undefined) proc.cwd = flags.cwd as string;
    if (flags.user !== undefined) {
      const [uid, gid] = String(flags.user).split(':');
      if (!/^\d+$/.test(uid) || (gid !== undefined && !/^\d+$/.test(gid))) throw new NookError(`--user: "${flags.user}" is not uid[:gid]`, { exitCode: 1 });
      proc.user = { ...base.user, uid: Number(uid), gid: gid === undefined ? base.user.gid : Number(gid) };
    }
    const gids = list(flags['additional-gids']).map(Number);
    if (gids.length) proc.user = { ...proc.user, additionalGids: gids };
    const caps = list(flags.cap);
    if (caps.length && proc.capabilities) {
      const add = (l?: string[]) => [...new Set([...(l ?? []), ...caps])];
      proc.capabilities = { ...proc.capabilities, bounding: add(proc.capabilities.bounding), effective: add(proc.capabilities.effective), permitted: add(proc.capabilities.permitted) };
    }
    if (flags['no-new-privs']) proc.noNewPrivileges = true;
  }
  if (flags.apparmor || flags['process-label']) warn('--apparmor and --process-label are not applied: nook supports neither AppArmor nor SELinux');
  const preserve = flags['preserve-fds'] === undefined ? 0 : Number(flags['preserve-fds']);
  if (!Number.isInteger(preserve) || preserve < 0) throw new NookError(`--preserve-fds: "${flags['preserve-fds']}" is not a number`, { exitCode: 1 });
  const { execInContainer } = await import('../oci/exec');
  return execInContainer(store, {
    id, process: proc, detach: !!flags.detach, pidFile: flags['pid-file'] as string | undefined, consoleSocket: flags['console-socket'] as string | undefined, preserveFds: preserve, warn,
  });
}
