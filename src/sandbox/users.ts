/**
 * User and group names as the rootfs defines them (its /etc/passwd and
 * /etc/group), for `-u NAME[:GROUP]`, HOME and supplementary groups.
 */
import { NookError } from '../errors';
import type { RootView } from './rootfs-view';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}


export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3]))
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }));
}

export function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]))
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: f[3].split(',').filter(Boolean) }));
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
}

/**
 * Resolves docker's `-u` syntax (uid, name, uid:gid, name:group) against the
 * rootfs. With no `-u`, `fallback` (uid and gid) is used.
 */
export function resolveUser(root: RootView, spec: string | undefined, fallback: { uid: number; gid: number }, extraGroups: readonly string[] = []): ResolvedUser {
  const passwd = parsePasswd(root.readFile('/etc/passwd'));
  const groups = parseGroup(root.readFile('/etc/group'));
  const [userPart, groupPart] = spec === undefined ? [String(fallback.uid), undefined] : spec.split(':', 2);
  if (userPart === '') throw new NookError(`invalid user "${spec}"`, { hint: 'use -u UID[:GID] or -u NAME[:GROUP]' });

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry)
      throw new NookError(`unable to find user ${userPart}: no matching entry in the rootfs's /etc/passwd`, {
        hint: 'use a numeric id (-u 1000:1000) or add the user to the rootfs',
      });
    uid = entry.uid;
  }

  let gid: number;
  if (groupPart === undefined || groupPart === '') gid = entry?.gid ?? (spec === undefined ? fallback.gid : 0);
  else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
  else {
    const g = groups.find((x) => x.name === groupPart);
    if (!g)
      throw new NookError(`unable to find group ${groupPart}: no matching entry in the rootfs's /etc/group`, {
        hint: 'use a numeric gid or add the group to the rootfs',
      });
    gid = g.gid;
  }

  const supplementary = entry ? groups.filter((g) => g.members.includes(entry!.name)).map((g) => g.gid) : [];
  // --group-add: gids, or names from the rootfs's /etc/group.
  const added = extraGroups.map((x) => {
    if (/^\d+$/.test(x)) return Number(x);
    const g = groups.find((y) => y.name === x);
    if (!g) throw new NookError(`unable to find group ${x}: no matching entry in the rootfs's /etc/group`, { hint: 'use a numeric gid with --group-add, or add the group to the rootfs' });
    return g.gid;
  });
  const all = [...new Set([gid, ...supplementary, ...added])];
  return { uid, gid, groups: all, home: entry?.home ?? (uid === 0 ? '/root' : '/') };
}
