/**
 * Looking at the host from the test process: which processes exist (to prove
 * that nothing of a sandbox outlives it) and which mounts (to prove that
 * nothing is mounted on the host side).
 */
import * as fs from 'node:fs';
import { isRoot, type TestUser } from './users';

export interface HostProcess {
  pid: number;
  uid: number;
  argv: string[];
  /** In a pid namespace below the host's (NSpid lists more than one pid): a sandbox's process. */
  nested: boolean;
  /** The state letter of /proc/PID/stat (R, S, Z, ...) and the parent's pid. */
  state: string;
  ppid: number;
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null; // the process is gone
  }
}

export function hostProcesses(): HostProcess[] {
  const out: HostProcess[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = readOrNull(`/proc/${name}/status`);
    const cmdline = readOrNull(`/proc/${name}/cmdline`);
    if (status === null || cmdline === null) continue;
    // Zombies count too: they are processes nobody reaped.
    const m = status.match(/^Uid:\s+(\d+)/m);
    if (!m) continue;
    const nspid = status.match(/^NSpid:\s+(.*)$/m)?.[1].trim().split(/\s+/) ?? [];
    const argv = cmdline.split('\0').filter((_, i, a) => i < a.length - 1 || a[i] !== '');
    const state = status.match(/^State:\s+(\S)/m)?.[1] ?? '?';
    const ppid = Number(status.match(/^PPid:\s+(\d+)/m)?.[1] ?? -1);
    out.push({ pid: Number(name), uid: Number(m[1]), argv, nested: nspid.length > 1, state, ppid });
  }
  return out;
}

/** Host uids that processes of `user`'s sandboxes can have: its own, and its subordinate range. */
export function sandboxUids(user: TestUser): (uid: number) => boolean {
  const sub = user.subUids;
  return (uid) => uid === user.uid || (sub !== undefined && uid >= sub.start && uid < sub.start + sub.count);
}

/**
 * Processes that run as `user` or as one of its subordinate ids. When the
 * suite itself runs as that user (not as root), its own processes are not
 * counted: only those in a sandbox's pid namespace or with a subordinate id.
 */
export function processesOf(user: TestUser): HostProcess[] {
  const mine = sandboxUids(user);
  return hostProcesses().filter((p) => mine(p.uid) && (isRoot || p.nested || p.uid !== user.uid));
}

/**
 * processesOf, less the zombies that init has still to reap: a detached
 * container's supervisor outlives the nook that started it, so when it ends
 * its parent is PID 1, which reaps in its own time (on these machines PID 1
 * does not even catch SIGCHLD). Such a zombie has ended; nothing of it runs.
 */
export function runningProcessesOf(user: TestUser): HostProcess[] {
  return processesOf(user).filter((p) => !(p.state === 'Z' && p.ppid === 1));
}

/** Processes whose argv is exactly `argv` (use a unique argument, e.g. `sleep 1037`). */
export function processesWithArgv(argv: string[]): HostProcess[] {
  const want = argv.join('\0');
  return hostProcesses().filter((p) => p.argv.join('\0') === want);
}

/** Polls `cond` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface MountInfo {
  id: number;
  parent: number;
  dev: string; // major:minor
  root: string; // the path within the filesystem that is mounted
  mountPoint: string;
  options: string[]; // per-mount options (ro, nosuid, ...)
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undoes mountinfo's octal escapes (\040 for a space, ...). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountInfo[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right] = line.split(' - ');
      const f = left.split(' ');
      const [fsType, source, superOpts] = right.split(' ');
      return {
        id: Number(f[0]),
        parent: Number(f[1]),
        dev: f[2],
        root: unescape(f[3]),
        mountPoint: unescape(f[4]),
        options: f[5].split(','),
        fsType,
        source: unescape(source),
        superOptions: (superOpts ?? '').split(','),
      };
    });
}

/** The mount visible at `mountPoint` (the last one mounted there wins). */
export function mountAt(mounts: MountInfo[], mountPoint: string): MountInfo | undefined {
  return mounts.filter((m) => m.mountPoint === mountPoint).at(-1);
}

export function hostMountinfo(): string {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8');
}

/** major:minor of a st_dev, as mountinfo prints it. */
export function devString(dev: number): string {
  const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}
