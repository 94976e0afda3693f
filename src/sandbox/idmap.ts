/**
 * User-namespace id maps: which ids exist inside, and how the parent writes
 * them for the cloned child.
 *
 * - Real root: the identity map over all ids, written directly.
 * - A user with /etc/subuid and /etc/subgid ranges and newuidmap/newgidmap:
 *   container root is the user, 1..N are the subordinate ids (as podman).
 * - Otherwise: only the user is mapped (to root inside), written directly to
 *   /proc/PID/{uid,gid}_map, which the kernel allows for one's own id only;
 *   `singleIdCause` says why (no range, no helpers), so that whatever then
 *   needs another id names the fix for this host (moreIdsHint). A helper
 *   that is there but lacks its privilege (not setuid root, no file
 *   capability) is not a reason to map one id: it fails the run, and
 *   helperFailure names that fix.
 * `--userns keep-id` maps the user's own ids to the same numbers inside.
 */
import fs = require('node:fs');
import os = require('node:os');
import { NookError } from '../errors';
import { findExecutable } from '../util/which';
import type { Native } from '../../ffi/native';
import type { ProcessUser } from './spec';
import { O } from '../../ffi/linux';


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
  /** Why only one id is mapped, in words (kept in container records). */
  singleIdReason?: string;
  /** Why only one id is mapped, for the fix moreIdsHint gives. */
  singleIdCause?: SingleIdCause;
}

/** Why a user's namespace maps only the user's own id. */
export type SingleIdCause =
  /** No range in /etc/subuid or /etc/subgid (`files`: the ones without); `missingHelpers` are not installed either. */
  | { kind: 'no-range'; files: string[]; missingHelpers: string[] }
  /** Ranges, but newuidmap and/or newgidmap (`missing`) are not installed. */
  | { kind: 'no-helper'; missing: string[] };

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
  if (uid === 0) return { uid, gid, userName, subUids: [], subGids: [], newuidmap: null, newgidmap: null };
  const subUids = parseSubIdFile(readOr('/etc/subuid', ''), userName, uid);
  const subGids = parseSubIdFile(readOr('/etc/subgid', ''), userName, uid);
  // Looked up even without ranges, for the hint (a few stat calls).
  const newuidmap = findExecutable('newuidmap');
  const newgidmap = findExecutable('newgidmap');
  return { uid, gid, userName, subUids, subGids, newuidmap, newgidmap };
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
  const cause = singleIdCause(host);
  return {
    uid: [{ inside: opts.keepId ? host.uid : 0, outside: host.uid, count: 1 }],
    gid: [{ inside: opts.keepId ? host.gid : 0, outside: host.gid, count: 1 }],
    method: 'direct',
    setgroups: false,
    singleIdReason: describeCause(cause, host.userName),
    singleIdCause: cause,
  };
}

function singleIdCause(host: HostIdentity): SingleIdCause {
  const missingHelpers = [host.newuidmap ? '' : 'newuidmap', host.newgidmap ? '' : 'newgidmap'].filter(Boolean);
  const files = [host.subUids.length ? '' : '/etc/subuid', host.subGids.length ? '' : '/etc/subgid'].filter(Boolean);
  if (files.length) return { kind: 'no-range', files, missingHelpers };
  return { kind: 'no-helper', missing: missingHelpers };
}

function describeCause(cause: SingleIdCause, userName: string): string {
  switch (cause.kind) {
    case 'no-range':
      return `user ${userName} has no range in ${cause.files.join(' or ')}`;
    case 'no-helper':
      return `${cause.missing.join(' and ')}, which map${cause.missing.length > 1 ? '' : 's'} subordinate ids, ${cause.missing.length > 1 ? 'are' : 'is'} not installed`;
  }
}

export function isMapped(ranges: IdRange[], id: number): boolean {
  return ranges.some((r) => id >= r.inside && id - r.inside < r.count);
}

/**
 * The ids a process will run as, which must exist in the namespace's map
 * (`where` says which: "the sandbox", "the container"). Supplementary groups
 * outside the map are left out, and all of them when setgroups is denied.
 */
export function mappedUser(user: ProcessUser, mapping: IdMapping, userName: string, where: string): ProcessUser {
  for (const [kind, id, ranges] of [['uid', user.uid, mapping.uid], ['gid', user.gid, mapping.gid]] as const)
    if (!isMapped(ranges, id)) throw new NookError(`${kind} ${id} does not exist in ${where}`, { hint: moreIdsHint(mapping, userName, { kind, id }) });
  const groups = mapping.setgroups ? user.groups.filter((g) => isMapped(mapping.gid, g)) : [];
  return { uid: user.uid, gid: user.gid, groups };
}

/** An id that was needed and is not mapped. */
export interface NeededId {
  kind: 'uid' | 'gid';
  id: number;
}

const INSTALL_UIDMAP = 'Debian/Ubuntu: `sudo apt-get install uidmap`; Fedora/RHEL: `sudo dnf install shadow-utils`; Arch: `sudo pacman -S shadow`';

/**
 * The advice given whenever an id that isn't mapped is needed: why it is not
 * (the cause of a single-id mapping, or a subordinate range smaller than the
 * id), and the fix for that cause. `need` is the id, when known.
 */
export function moreIdsHint(mapping: Pick<IdMapping, 'uid' | 'gid' | 'singleIdCause' | 'singleIdReason'>, userName: string, need?: NeededId): string {
  const cause = mapping.singleIdCause;
  const addRanges = (files: string[]) =>
    `\`sudo usermod${files.includes('/etc/subuid') ? ' --add-subuids 100000-165535' : ''}${files.includes('/etc/subgid') ? ' --add-subgids 100000-165535' : ''} ${userName}\``;
  if (cause) {
    const why = `only your own id is mapped (${describeCause(cause, userName)})`;
    switch (cause.kind) {
      case 'no-range': {
        const install = cause.missingHelpers.length
          ? `, and install ${cause.missingHelpers.join(' and ')} (${INSTALL_UIDMAP})`
          : '';
        return `${why}; give your user subordinate ids, e.g. ${addRanges(cause.files)} (a range no other user has)${install}`;
      }
      case 'no-helper':
        return `${why}; your ranges in /etc/subuid and /etc/subgid are there, install the helpers: ${INSTALL_UIDMAP}`;
    }
  }
  if (mapping.singleIdReason) {
    // A record from an older nook, with the reason in words only.
    return `only your own id is mapped (${mapping.singleIdReason}); give your user subordinate ids, e.g. ${addRanges(['/etc/subuid', '/etc/subgid'])}, and install newuidmap/newgidmap (${INSTALL_UIDMAP})`;
  }
  // Subordinate ids are mapped: the needed one is beyond them.
  const ranges = need ? mapping[need.kind] : [...mapping.uid, ...mapping.gid];
  const top = Math.max(0, ...ranges.map((r) => r.inside + r.count - 1));
  const kind = need?.kind ?? 'uid';
  const file = `/etc/sub${kind}`;
  const what = need ? `${kind} ${need.id}` : 'that id';
  return (
    `${what} is beyond the ids mapped from your subordinate range (0-${top} inside): the first range for ${userName} in ${file} is too small; ` +
    `make it 65536 ids, e.g. \`sudo usermod --add-sub${kind}s 100000-165535 ${userName}\` after removing the small one with --del-sub${kind}s (nook uses the first range listed)`
  );
}

function formatMap(ranges: IdRange[]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}`).join('\n') + '\n';
}

function helperArgs(pid: number, ranges: IdRange[]): string[] {
  return [String(pid), ...ranges.flatMap((r) => [String(r.inside), String(r.outside), String(r.count)])];
}

function helperFailure(helper: string, args: string[], kind: 'uid' | 'gid', output: string): NookError {
  let hint = `check the ranges for your user in /etc/sub${kind} and that ${helper} is setuid root or has the cap_set${kind} file capability`;
  try {
    const st = fs.statSync(helper);
    if (!(st.mode & 0o4000) && /Operation not permitted|EPERM/i.test(output))
      hint =
        `${helper} is neither setuid root nor running with the cap_set${kind} capability: ` +
        `\`sudo chmod u+s ${helper}\` or \`sudo setcap cap_set${kind}+ep ${helper}\` (reinstalling the uidmap package restores it)`;
  } catch {
    /* keep the general hint */
  }
  return new NookError(`setting up the ${kind} map: ${helper} ${args.join(' ')} failed: ${output}`, { hint });
}

/**
 * Runs newuidmap and newgidmap side by side through posix_spawn (cheaper
 * than child_process for a process of Node's size), each writing its
 * messages to a pipe of its own that is read once it has exited.
 */
function runHelpers(n: Native, pid: number, mapping: IdMapping, host: HostIdentity): void {
  const jobs = [
    { helper: host.newuidmap!, kind: 'uid' as const, args: helperArgs(pid, mapping.uid) },
    { helper: host.newgidmap!, kind: 'gid' as const, args: helperArgs(pid, mapping.gid) },
  ].map((job) => {
    const pipe = new Int32Array(2);
    if (n.pipe2(pipe, O.CLOEXEC) < 0) throw new NookError(`creating a pipe for ${job.helper}: errno ${n.errno()}`);
    const child = n.spawn(job.helper, [job.helper, ...job.args, null], pipe[1]);
    fs.closeSync(pipe[1]);
    return { ...job, child, out: pipe[0] };
  });
  const failures: NookError[] = [];
  for (const job of jobs) {
    const status = job.child < 0 ? job.child : n.waitChild(job.child);
    const output = fs.readFileSync(job.out, 'utf8').trim(); // to EOF: the helper has exited
    fs.closeSync(job.out);
    if (job.child < 0) failures.push(helperFailure(job.helper, job.args, job.kind, `cannot run it: errno ${-job.child}`));
    else if (status !== 0)
      failures.push(helperFailure(job.helper, job.args, job.kind, output || `exit status ${(status >> 8) & 0xff}`));
  }
  if (failures.length) throw failures[0];
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
export function applyIdMapping(n: Native, pid: number, mapping: IdMapping, host: HostIdentity): void {
  if (mapping.method === 'helpers') return runHelpers(n, pid, mapping, host);
  writeProc(pid, 'uid_map', formatMap(mapping.uid));
  if (!mapping.setgroups) writeProc(pid, 'setgroups', 'deny');
  writeProc(pid, 'gid_map', formatMap(mapping.gid));
}
