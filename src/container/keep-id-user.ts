/**
 * podman's --userns keep-id: the user runs under their own uid, which the
 * image's /etc/passwd usually lacks (`id -un` would say "unknown ID"). The
 * container gets a copy of that file with an entry for the user added, and
 * of /etc/group with their group, bind-mounted writable from the
 * container's own directory (as /etc/hosts is): the container may change
 * them (adduser), the image's layers are never written.
 *
 * The entry's home is /home/NAME when something is mounted there, else the
 * working directory (podman's rule); HOME follows it. A container started
 * again keeps its files, changes included.
 */
import fs = require('node:fs');
import path = require('node:path');
import type { RootView } from '../sandbox/rootfs-view';
import type { BindMount } from '../sandbox/spec';
import { parseGroup, parsePasswd } from '../sandbox/users';
import { keepIdPasswd } from './host-files';

export interface KeepIdUser {
  /** The files and where they go. */
  binds: BindMount[];
  /** The home of the added entry (HOME), when one was added. */
  home?: string;
}

/** A name safe in a passwd line: the host's, or "user" when it holds a separator or a control character. */
function safeName(name: string): string {
  return /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(name) ? name : 'user';
}

export function keepIdUserFiles(
  dir: string,
  view: RootView,
  user: { uid: number; gid: number; name: string },
  cwd: string,
  mountTargets: readonly string[],
): KeepIdUser {
  const name = safeName(user.name);
  const out: KeepIdUser = { binds: [] };
  // A container started again keeps the files it had, with whatever it changed in them.
  const kept = (file: string, target: string) => {
    if (!fs.existsSync(path.join(dir, file))) return false;
    out.binds.push({ source: path.join(dir, file), target, readOnly: false, optional: true });
    return true;
  };
  if (kept('passwd', '/etc/passwd')) {
    out.home = parsePasswd(fs.readFileSync(path.join(dir, 'passwd'), 'utf8')).find((e) => e.uid === user.uid)?.home;
    kept('group', '/etc/group');
    return out;
  }
  let passwd: string;
  let group: string;
  try {
    passwd = view.readFile('/etc/passwd');
  } catch {
    return out; // no /etc/passwd to extend: nothing to mount on
  }
  try {
    group = view.readFile('/etc/group');
  } catch {
    group = '';
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const entries = parsePasswd(passwd);
  if (!entries.some((e) => e.uid === user.uid)) {
    const login = entries.some((e) => e.name === name) ? `${name}${user.uid}` : name;
    const wanted = `/home/${login}`;
    const home = mountTargets.some((t) => path.posix.normalize(t) === wanted) ? wanted : cwd;
    const bind = keepIdPasswd(dir, passwd, { name: login, uid: user.uid, gid: user.gid, home });
    if (bind) {
      out.binds.push(bind);
      out.home = home;
    }
  }
  if (group && !parseGroup(group).some((g) => g.gid === user.gid)) {
    const taken = parseGroup(group).some((g) => g.name === name);
    const file = path.join(dir, 'group');
    fs.writeFileSync(file, `${group}${group.endsWith('\n') ? '' : '\n'}${taken ? `${name}${user.gid}` : name}:x:${user.gid}:\n`, { mode: 0o644 });
    out.binds.push({ source: file, target: '/etc/group', readOnly: false, optional: true });
  }
  return out;
}
