/**
 * podman's `top` format descriptors (psgo's AIX-style names: `nook top CTR
 * pid,user,huser,args`), computed from the host's /proc: nothing of the
 * container's runs (podman's CVE-2022-1227 was its top running the image's
 * nsenter). Names are looked up in the container's /etc/passwd and
 * /etc/group (read inside its root, through /proc/PID/root) for user and
 * group, in the host's for huser and hgroup.
 */
import fs = require('node:fs');
import { readFileInRoot } from '../sandbox/rootfs-view';
import { parseGroup, parsePasswd } from '../sandbox/users';

interface Proc {
  hostPid: number;
  status: Map<string, string>;
  stat: string[]; // fields after the command name: stat[0] is the state (field 3)
  init: number; // host pid of the container's init, whose root and id maps are the container's
}

const CLK_TCK = 100;

function readProc(pid: number, init: number): Proc | undefined {
  try {
    const statText = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = new Map<string, string>();
    for (const l of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const i = l.indexOf(':');
      if (i > 0) status.set(l.slice(0, i), l.slice(i + 1).trim());
    }
    return { hostPid: pid, status, stat: statText.slice(statText.lastIndexOf(')') + 2).split(' '), init };
  } catch {
    return undefined; // exited meanwhile
  }
}

/** An id as seen inside (through init's map: "inside outside count" lines), or the host id when unmapped. */
function inside(mapFile: string, id: number): number {
  let text = '';
  try {
    text = fs.readFileSync(mapFile, 'utf8');
  } catch {
    return id;
  }
  for (const l of text.trim().split('\n')) {
    const [a, b, n] = l.trim().split(/\s+/).map(Number);
    if (id >= b && id < b + n) return a + (id - b);
  }
  return id;
}

/** Go's time.Duration String(), as psgo prints ELAPSED and TIME: "1m2.5s", "3h0m0s". */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Number((seconds % 60).toFixed(9)).toString();
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

function hostNames(file: string): Map<number, string> {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    /* none */
  }
  const out = new Map<number, string>();
  for (const e of file.endsWith('passwd') ? parsePasswd(text).map((p) => [p.uid, p.name] as const) : parseGroup(text).map((g) => [g.gid, g.name] as const))
    if (!out.has(e[0])) out.set(e[0], e[1]);
  return out;
}

function containerNames(init: number, file: '/etc/passwd' | '/etc/group'): Map<number, string> {
  let text = '';
  try {
    text = readFileInRoot(`/proc/${init}/root`, file);
  } catch {
    /* unreadable: numbers */
  }
  const out = new Map<number, string>();
  for (const e of file === '/etc/passwd' ? parsePasswd(text).map((p) => [p.uid, p.name] as const) : parseGroup(text).map((g) => [g.gid, g.name] as const))
    if (!out.has(e[0])) out.set(e[0], e[1]);
  return out;
}

type Column = { header: string; value: (p: Proc, ctx: Context) => string };

interface Context {
  uptime: number;
  names: (kind: 'user' | 'group' | 'huser' | 'hgroup') => Map<number, string>;
}

const field = (p: Proc, key: string, i = 0) => Number((p.status.get(key) ?? '').split(/\s+/)[i]);
const nsPid = (p: Proc) => {
  const list = (p.status.get('NSpid') ?? '').split(/\s+/);
  return list[list.length - 1] || String(p.hostPid);
};
const named = (map: Map<number, string>, id: number) => map.get(id) ?? String(id);
const ttyName = (nr: number) => {
  if (!nr) return '?';
  const major = (nr >> 8) & 0xfff;
  const minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
  return major === 136 ? `pts/${minor}` : major === 4 ? `tty${minor}` : '?';
};
const startSeconds = (p: Proc) => Number(p.stat[19]) / CLK_TCK;
const cpuSeconds = (p: Proc) => (Number(p.stat[11]) + Number(p.stat[12])) / CLK_TCK;

const COLUMNS: Record<string, Column> = {
  args: {
    header: 'COMMAND',
    value: (p) => {
      try {
        const c = fs.readFileSync(`/proc/${p.hostPid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0').join(' ');
        return c || `[${p.status.get('Name') ?? ''}]`;
      } catch {
        return '';
      }
    },
  },
  comm: { header: 'COMMAND', value: (p) => p.status.get('Name') ?? '' },
  etime: { header: 'ELAPSED', value: (p, c) => goDuration(Math.max(0, Math.round((c.uptime - startSeconds(p)) * 1000) / 1000)) },
  group: { header: 'GROUP', value: (p, c) => named(c.names('group'), inside(`/proc/${p.init}/gid_map`, field(p, 'Gid', 1))) },
  hgroup: { header: 'HGROUP', value: (p, c) => named(c.names('hgroup'), field(p, 'Gid', 1)) },
  hpid: { header: 'HPID', value: (p) => String(p.hostPid) },
  huser: { header: 'HUSER', value: (p, c) => named(c.names('huser'), field(p, 'Uid', 1)) },
  nice: { header: 'NI', value: (p) => p.stat[16] },
  pcpu: {
    header: '%CPU',
    value: (p, c) => {
      const elapsed = c.uptime - startSeconds(p);
      return (elapsed > 0 ? (100 * cpuSeconds(p)) / elapsed : 0).toFixed(3);
    },
  },
  pgid: { header: 'PGID', value: (p) => p.stat[2] },
  pid: { header: 'PID', value: (p) => nsPid(p) },
  ppid: {
    header: 'PPID',
    value: (p) => {
      if (p.hostPid === p.init) return '0';
      const parent = readProc(Number(p.stat[1]), p.init);
      return parent ? nsPid(parent) : '0';
    },
  },
  rgroup: { header: 'RGROUP', value: (p, c) => named(c.names('group'), inside(`/proc/${p.init}/gid_map`, field(p, 'Gid', 0))) },
  ruser: { header: 'RUSER', value: (p, c) => named(c.names('user'), inside(`/proc/${p.init}/uid_map`, field(p, 'Uid', 0))) },
  state: { header: 'STATE', value: (p) => p.stat[0] },
  time: { header: 'TIME', value: (p) => goDuration(Math.round(cpuSeconds(p))) },
  tty: { header: 'TTY', value: (p) => ttyName(Number(p.stat[4])) },
  user: { header: 'USER', value: (p, c) => named(c.names('user'), inside(`/proc/${p.init}/uid_map`, field(p, 'Uid', 1))) },
  vsz: { header: 'VSZ', value: (p) => String(Math.floor(Number(p.stat[20]) / 1024)) },
};

/** The descriptors in top's arguments ("pid,user" or "pid user"), or undefined when any is not one (then they are ps options). */
export function parseDescriptors(args: string[]): string[] | undefined {
  const names = args.flatMap((a) => a.split(/[,\s]+/)).filter(Boolean);
  return names.length && names.every((n) => Object.hasOwn(COLUMNS, n)) ? names : undefined;
}

/** The table: a title row, then a row per process (host pids, init first). */
export function descriptorTable(pids: number[], descriptors: string[]): string[][] {
  const init = pids[0];
  let uptime = 0;
  try {
    uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    /* no /proc/uptime: elapsed times read 0 */
  }
  const cache = new Map<string, Map<number, string>>();
  const ctx: Context = {
    uptime,
    names: (kind) => {
      let m = cache.get(kind);
      if (!m) {
        m =
          kind === 'huser' ? hostNames('/etc/passwd') : kind === 'hgroup' ? hostNames('/etc/group') : containerNames(init, kind === 'user' ? '/etc/passwd' : '/etc/group');
        cache.set(kind, m);
      }
      return m;
    },
  };
  const rows = [descriptors.map((d) => COLUMNS[d].header)];
  for (const pid of pids) {
    const p = readProc(pid, init);
    if (p) rows.push(descriptors.map((d) => COLUMNS[d].value(p, ctx)));
  }
  return rows;
}
