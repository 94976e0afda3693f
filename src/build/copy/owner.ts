/**
 * COPY/ADD --chown and --chmod as docker reads them. --chown takes
 * `user[:group]`, each a number or a name looked up in the image's own
 * /etc/passwd and /etc/group (never the host's); a user without a group
 * gives the same number as gid, as docker documents. (--chmod is
 * ../chmod.ts.)
 */
import { NookError } from '../../errors';
import type { RootView } from '../../sandbox/rootfs-view';
import { parseGroup, parsePasswd } from '../../sandbox/users';

export interface Owner {
  uid: number;
  gid: number;
}

const isNumber = (s: string) => /^\d+$/.test(s);

/** `user[:group]` split, checked for shape (not yet resolved). */
export function parseChown(spec: string): { user: string; group?: string } {
  const parts = spec.split(':');
  if (parts.length > 2 || parts[0] === '' || parts[1] === '')
    throw new NookError(`invalid --chown=${spec}`, { hint: 'use --chown=USER[:GROUP], each a name or a number, e.g. --chown=1000:1000 or --chown=app:app' });
  return { user: parts[0], group: parts[1] };
}

function checkId(n: number, spec: string): number {
  if (n > 0xfffffffe) throw new NookError(`invalid --chown=${spec}: ${n} is not a valid id`, { hint: 'ids go from 0 to 4294967294' });
  return n;
}

/** The ids of `--chown=spec`, names resolved against the image's files in `root`. */
export function resolveChown(spec: string, root: RootView): Owner {
  const { user, group } = parseChown(spec);
  let uid: number;
  if (isNumber(user)) uid = checkId(Number(user), spec);
  else {
    const entry = parsePasswd(root.readFile('/etc/passwd')).find((p) => p.name === user);
    if (!entry)
      throw new NookError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`, {
        hint: `the image has no user ${user} in its /etc/passwd: create it in an earlier step, or use a number (--chown=1000:1000)`,
      });
    uid = entry.uid;
  }
  if (group === undefined) return { uid, gid: uid };
  if (isNumber(group)) return { uid, gid: checkId(Number(group), spec) };
  const g = parseGroup(root.readFile('/etc/group')).find((x) => x.name === group);
  if (!g)
    throw new NookError(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`, {
      hint: `the image has no group ${group} in its /etc/group: create it in an earlier step, or use a number (--chown=1000:1000)`,
    });
  return { uid, gid: g.gid };
}
