/**
 * `nook run` flags for what the command may do: --cap-add, --cap-drop,
 * --privileged, --security-opt (no-new-privileges, seccomp) and --ulimit.
 */
import { NookError, UsageError } from '../errors';
import { capabilitySet } from '../sandbox/capabilities';
import { compileSeccomp, defaultFilter, hostSeccompArch, loadProfile } from '../sandbox/seccomp';
import type { Rlimit, SecuritySpec } from '../sandbox/spec';
import { stringList, type FlagSpec, type FlagValues } from './args';

export const SECURITY_FLAGS: readonly FlagSpec[] = [
  { name: 'cap-add', type: 'string', multiple: true, value: 'CAP', help: 'add a capability (or ALL) to the default set' },
  { name: 'cap-drop', type: 'string', multiple: true, value: 'CAP', help: 'drop a capability (or ALL) from the default set' },
  { name: 'privileged', type: 'boolean', help: "keep every capability of the user namespace; no seccomp filter, no masked paths" },
  {
    name: 'security-opt',
    type: 'string',
    multiple: true,
    value: 'OPT',
    help: 'no-new-privileges[=true|false] (default true), seccomp=unconfined, seccomp=PROFILE.json',
  },
  { name: 'ulimit', type: 'string', multiple: true, value: 'NAME=SOFT[:HARD]', help: 'set a resource limit, e.g. nofile=1024:2048' },
];

interface SecurityOpts {
  noNewPrivs: boolean;
  seccomp: 'default' | 'unconfined' | { file: string };
}

function parseSecurityOpts(values: string[]): SecurityOpts {
  const out: SecurityOpts = { noNewPrivs: true, seccomp: 'default' };
  for (const v of values) {
    const i = v.search(/[=:]/);
    const key = i < 0 ? v : v.slice(0, i);
    const val = i < 0 ? undefined : v.slice(i + 1);
    if (key === 'no-new-privileges') {
      if (val !== undefined && val !== 'true' && val !== 'false')
        throw new UsageError(`invalid --security-opt ${v}`, 'use no-new-privileges=true or no-new-privileges=false');
      out.noNewPrivs = val !== 'false';
    } else if (key === 'seccomp') {
      if (!val) throw new UsageError(`--security-opt seccomp needs a value`, 'use seccomp=unconfined or seccomp=/path/to/profile.json');
      out.seccomp = val === 'unconfined' ? 'unconfined' : { file: val };
    } else if (key === 'apparmor' || key === 'label') {
      throw new UsageError(`--security-opt ${key} is not supported by nook`, 'nook applies no AppArmor or SELinux profile of its own; leave the option out');
    } else {
      throw new UsageError(`unknown --security-opt "${v}"`, 'known: no-new-privileges[=true|false], seccomp=unconfined, seccomp=PROFILE.json');
    }
  }
  return out;
}

export function securityFromFlags(flags: FlagValues): SecuritySpec {
  const privileged = Boolean(flags.privileged);
  const caps = capabilitySet(stringList(flags['cap-add']), stringList(flags['cap-drop']), privileged);
  const opts = parseSecurityOpts(stringList(flags['security-opt']));
  let seccomp: Buffer | undefined;
  if (!privileged && opts.seccomp !== 'unconfined') {
    const arch = hostSeccompArch();
    const capNames = caps.names.map((n) => `CAP_${n}`);
    seccomp = opts.seccomp === 'default' ? defaultFilter(arch, capNames) : compileSeccomp(loadProfile(opts.seccomp.file), arch, capNames);
  }
  return { caps: caps.mask, capNames: caps.names, noNewPrivs: opts.noNewPrivs, seccomp, maskPaths: !privileged };
}

/** setrlimit(2) resources by docker's --ulimit names. */
const RLIMITS: Record<string, number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9,
  locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

function limitValue(s: string, whole: string): number {
  if (s === 'unlimited' || s === '-1') return -1; // RLIM_INFINITY
  if (!/^\d+$/.test(s)) throw new UsageError(`invalid --ulimit ${whole}: "${s}" is not a number`, 'e.g. --ulimit nofile=1024:2048 or --ulimit core=unlimited');
  return Number(s);
}

export function ulimitsFromFlags(flags: FlagValues): Rlimit[] {
  return stringList(flags.ulimit).map((u) => {
    const eq = u.indexOf('=');
    const name = u.slice(0, eq);
    if (eq < 0 || !(name in RLIMITS))
      throw new UsageError(`invalid --ulimit "${u}"`, `use NAME=SOFT[:HARD] with NAME one of ${Object.keys(RLIMITS).join(', ')}`);
    const [softText, hardText] = u.slice(eq + 1).split(':');
    const soft = limitValue(softText, u);
    const hard = hardText === undefined ? soft : limitValue(hardText, u);
    if (hard !== -1 && (soft === -1 || soft > hard))
      throw new NookError(`invalid --ulimit ${u}: the soft limit is above the hard limit`, { hint: 'give SOFT:HARD with SOFT <= HARD' });
    return { name, resource: RLIMITS[name], soft, hard };
  });
}
