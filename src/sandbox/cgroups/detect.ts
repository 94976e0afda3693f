/**
 * What the host's cgroups look like, from nook's point of view: which
 * version is mounted at /sys/fs/cgroup (v2, v1, or the hybrid of both that
 * leaves v2 without controllers), the directory of nook's own cgroup, and
 * whether a cgroup directory is delegated to the user the way systemd's
 * Delegate=yes does it (the user owns the directory and its cgroup.procs and
 * cgroup.subtree_control). Parsing is pure and takes the text of the /proc
 * files, so that tests can feed it any layout.
 */
import fs = require('node:fs');
import path = require('node:path');

export const CGROUP_MOUNT = '/sys/fs/cgroup';

export type CgroupMode = 'v2' | 'hybrid' | 'v1' | 'none';

export interface CgroupLayout {
  mode: CgroupMode;
  /** The cgroup2 mount that holds the controllers (mode 'v2' only). */
  unified?: { mountPoint: string; root: string };
}

interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The entries of /proc/self/mountinfo (fields 4 and 5, and the type after the " - " separator). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 5 || !right[0]) continue;
    out.push({ root: unescapeOctal(left[3]), mountPoint: unescapeOctal(left[4]), fsType: right[0] });
  }
  return out;
}

/**
 * The host's cgroup version, as crun and systemd tell it: cgroup2 mounted on
 * /sys/fs/cgroup is the unified hierarchy (v2). Otherwise v1 controllers sit
 * in /sys/fs/cgroup/<controller>, with (hybrid) or without a controller-less
 * cgroup2 at /sys/fs/cgroup/unified.
 */
export function detectLayout(mountinfo: string, mountDir = CGROUP_MOUNT): CgroupLayout {
  const mounts = parseMountinfo(mountinfo);
  // The last mount on a path hides the ones before it.
  const at = (p: string) => mounts.filter((m) => m.mountPoint === p).at(-1);
  const top = at(mountDir);
  if (top?.fsType === 'cgroup2') return { mode: 'v2', unified: { mountPoint: top.mountPoint, root: top.root } };
  const v1 = mounts.some((m) => m.fsType === 'cgroup' && m.mountPoint.startsWith(`${mountDir}/`));
  if (!v1) return { mode: 'none' };
  return { mode: at(`${mountDir}/unified`)?.fsType === 'cgroup2' ? 'hybrid' : 'v1' };
}

/** The cgroup v2 path in /proc/<pid>/cgroup text (its "0::/path" line), or undefined on a v1-only host. */
export function unifiedCgroupPath(procCgroup: string): string | undefined {
  for (const line of procCgroup.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim();
  return undefined;
}

/**
 * The directory of a cgroup path under the cgroup2 mount, or undefined when
 * the path lies outside what the mount shows (a cgroup namespace whose root
 * is below the mount's, shown as "/../…", or a mount of a subtree that does
 * not hold it).
 */
export function cgroupDir(cgroupPath: string, mount: { mountPoint: string; root: string }): string | undefined {
  if (!cgroupPath.startsWith('/') || cgroupPath.split('/').includes('..')) return undefined;
  const root = mount.root === '/' ? '' : mount.root.replace(/\/$/, '');
  if (root && cgroupPath !== root && !cgroupPath.startsWith(`${root}/`)) return undefined;
  const rest = cgroupPath.slice(root.length).replace(/^\/+|\/+$/g, '');
  return rest ? path.join(mount.mountPoint, rest) : mount.mountPoint;
}

/** The pids in a cgroup.procs file. */
export function readProcs(dir: string): number[] {
  return fs
    .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

/** The controllers named in a cgroup.controllers or cgroup.subtree_control file ("" when it is missing). */
export function readControllerList(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split(/\s+/).filter(Boolean);
}

/** The files a delegated cgroup's owner must own, as systemd chowns them for Delegate=yes. */
const DELEGATED_FILES = ['cgroup.procs', 'cgroup.subtree_control'];

/**
 * Whether `uid` may manage the cgroup `dir` as a delegated subtree: create
 * children in it, move processes in and out, enable controllers for its
 * children. root may manage any cgroup.
 */
export function isDelegated(dir: string, uid: number): boolean {
  if (uid === 0) return true;
  try {
    const st = fs.statSync(dir);
    if (st.uid !== uid || !(st.mode & 0o200)) return false;
    return DELEGATED_FILES.every((f) => {
      const fst = fs.statSync(path.join(dir, f));
      return fst.uid === uid && Boolean(fst.mode & 0o200);
    });
  } catch {
    return false;
  }
}

/** Who owns a path, for messages ("root", or "uid 1000"). */
export function ownerName(p: string): string {
  try {
    const uid = fs.statSync(p).uid;
    return uid === 0 ? 'root' : `uid ${uid}`;
  } catch {
    return 'nobody (it is missing)';
  }
}
