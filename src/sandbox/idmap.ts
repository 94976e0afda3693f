/**
 * User-namespace id maps: which ids exist inside, and how the parent writes
 * them for the cloned child.
 *
 * - Real root: the identity map over all ids, written directly.
 * - A user with /etc/subuid and /etc/subgid ranges and newuidmap/newgidmap:
 *   container root is the user, 1..N are the subordinate ids (as podman).
 * - Otherwise: only the user is mapped (to root inside), written directly to
 *   /proc/PID/{uid,gid}_map, which the kernel allows for one's own id only.
 * `--userns keep-id` maps the user's own ids to the same numbers inside.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import { NookError } from '../errors';
import { findExecutable } from '../util/which';

export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

export interface IdMapping {
  uid: IdRange[];
  gid: IdRange[];
  /** 'helpers': newuidmap/newgidmap; 'direct': write /proc/PID/*_map ourselves. */
  method: 'helpers' | 'direct';
  /** Whether setgroups() works inside (it must be denied for an unprivileged direct gid map). */
  setgroups: boolean;
  /** Why only one id is mapped, for messages when something needs more ids. */
  singleIdReason?: string;
}

export interface SubRange {
  start: number;
  count: number;
}

/** Parses /etc/subuid-style text for `user` (by name or numeric id); ranges in file order. */
export function parseSubIdFile(text: string, user: string, id: number): SubRange[] {
  const out: SubRange[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [who, start, count] = t.split(':');
    if (who !== user && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

export interface HostIdentity {
  uid: number;
  gid: number;
  userName: string;
  subUids: SubRange[];
  subGids: SubRange[];
  newuidmap: string | null;
  newgidmap: string | null;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

export function hostIdentity(): HostIdentity {
  const uid = process.getuid!();
  const gid = process.getgid!();
  let userName = String(uid);
  try {
    userName = os.userInfo().username;
  } catch {
    /* no passwd entry: only the numeric id can match */
  }
  return {
    uid,
    gid,
    userName,
    subUids: parseSubIdFile(readOr('/etc/subuid', ''), userName, uid),
    subGids: parseSubIdFile(readOr('/etc/subgid', ''), userName, uid),
    newuidmap: findExecutable('newuidmap'),
    newgidmap: findExecutable('newgidmap'),
  };
}

/** Maps `keep` inside to `own` outside, and the subordinate range around it (podman's keep-id layout). */
function withSubRange(own: number, sub: SubRange, keepId: boolean): IdRange[] {
  if (!keepId) return [{ inside: 0, outside: own, count: 1 }, { inside: 1, outside: sub.start, count: sub.count }];
  const below = Math.min(own, sub.count);
  const ranges: IdRange[] = [];
  if (below > 0) ranges.push({ inside: 0, outside: sub.start, count: below });
  ranges.push({ inside: own, outside: own, count: 1 });
  if (sub.count > own) ranges.push({ inside: own + 1, outside: sub.start + own, count: sub.count - own });
  return ranges;
}

export function computeIdMapping(host: HostIdentity, opts: { keepId: boolean }): IdMapping {
  if (host.uid === 0) {
    const all = [{ inside: 0, outside: 0, count: 4294967295 }];
    return { uid: all, gid: all, method: 'direct', setgroups: true };
  }
  const sub = host.subUids[0];
  const subg = host.subGids[0];
  if (sub && subg && host.newuidmap && host.newgidmap) {
    return {
      uid: withSubRange(host.uid, sub, opts.keepId),
      gid: withSubRange(host.gid, subg, opts.keepId),
      method: 'helpers',
      setgroups: true,
    };
  }
  const reason = !sub
    ? `user ${host.userName} has no range in /etc/subuid`
    : !subg
      ? `user ${host.userName} has no range in /etc/subgid`
      : `newuidmap/newgidmap are not installed`;
  return {
    uid: [{ inside: opts.keepId ? host.uid : 0, outside: host.uid, count: 1 }],
    gid: [{ inside: opts.keepId ? host.gid : 0, outside: host.gid, count: 1 }],
    method: 'direct',
    setgroups: false,
    singleIdReason: reason,
  };
}

export function isMapped(ranges: IdRange[], id: number): boolean {
  return ranges.some((r) => id >= r.inside && id - r.inside < r.count);
}

/** The advice given whenever an id that isn't mapped is needed. */
export function moreIdsHint(mapping: IdMapping, userName: string): string {
  const why = mapping.singleIdReason ? `only your own id is mapped (${mapping.singleIdReason})` : 'that id is not mapped';
  return (
    `${why}; give your user subordinate ids, e.g. ` +
    `\`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${userName}\` ` +
    `and install newuidmap/newgidmap (Debian/Ubuntu: \`sudo apt-get install uidmap\`)`
  );
}

function formatMap(ranges: IdRange[]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}`).join('\n') + '\n';
}

function runHelper(helper: string, pid: number, ranges: IdRange[], kind: 'uid' | 'gid'): void {
  const args = [String(pid), ...ranges.flatMap((r) => [String(r.inside), String(r.outside), String(r.count)])];
  const res = spawnSync(helper, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.status === 0) return;
  const output = `${res.stderr ?? ''}${res.stdout ?? ''}`.trim() || (res.error ? res.error.message : `exit status ${res.status}`);
  let hint = `check the ranges for your user in /etc/sub${kind} and that ${helper} is setuid root or has the cap_set${kind} file capability`;
  try {
    const st = fs.statSync(helper);
    if (!(st.mode & 0o4000))
      hint =
        `${helper} is not setuid root; it needs that bit or the cap_set${kind} file capability: ` +
        `\`sudo chmod u+s ${helper}\` or \`sudo setcap cap_set${kind}+ep ${helper}\` (reinstall the uidmap package to restore it)`;
  } catch {
    /* keep the general hint */
  }
  throw new NookError(`setting up the ${kind} map: ${helper} ${args.join(' ')} failed: ${output}`, { hint });
}

function writeProc(pid: number, file: string, data: string): void {
  try {
    fs.writeFileSync(`/proc/${pid}/${file}`, data);
  } catch (e) {
    throw new NookError(`writing /proc/${pid}/${file} (${data.trim().replace(/\n/g, ', ')}): ${(e as Error).message}`, {
      hint: 'the kernel refused the id map; without subordinate ids only your own uid and gid can be mapped',
    });
  }
}

/** Writes the maps of the child `pid`, which waits in its new user namespace until we are done. */
export function applyIdMapping(pid: number, mapping: IdMapping, host: HostIdentity): void {
  if (mapping.method === 'helpers') {
    runHelper(host.newuidmap!, pid, mapping.uid, 'uid');
    runHelper(host.newgidmap!, pid, mapping.gid, 'gid');
    return;
  }
  writeProc(pid, 'uid_map', formatMap(mapping.uid));
  if (!mapping.setgroups) writeProc(pid, 'setgroups', 'deny');
  writeProc(pid, 'gid_map', formatMap(mapping.gid));
}
