/**
 * The users nook runs as in the integration tests. nook is rootless, so as
 * root the harness creates two unprivileged users and runs every sandbox as
 * one of them:
 *
 * - nooktest: has subordinate ids (SUB_RANGE in /etc/subuid and /etc/subgid),
 *   so nook maps 65536 ids through newuidmap/newgidmap;
 * - nooknosub: has none, so nook maps only the user's own id.
 *
 * Run by a normal user, the suite uses that user as whichever kind it is and
 * skips the tests that need the other kind (or real root).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { TestContext } from 'vitest';

export const SUB_USER = 'nooktest';
export const NOSUB_USER = 'nooknosub';
export const SUB_RANGE = { start: 200000, count: 65536 } as const;

export type UserKind = 'sub' | 'nosub' | 'root';

export interface SubRange {
  start: number;
  count: number;
}

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  kind: UserKind;
  /** The first ranges in /etc/subuid and /etc/subgid (the ones nook maps), for kind 'sub'. */
  subUids?: SubRange;
  subGids?: SubRange;
}

export const isRoot = process.getuid?.() === 0;

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function passwd(): PasswdEntry[] {
  return fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));
}

function findUser(name: string): PasswdEntry | undefined {
  return passwd().find((p) => p.name === name);
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Rewrites `file` (atomically, only when it changes) without `user`'s lines, plus `add` if given. */
function setSubIdLines(file: string, user: PasswdEntry, add: string | null): void {
  const old = readLines(file);
  const kept = old.filter((l) => {
    const who = l.split(':')[0];
    return who !== user.name && who !== String(user.uid);
  });
  const next = add ? [...kept, add] : kept;
  if (next.join('\n') === old.join('\n')) return;
  const tmp = `${file}.nooktest-${process.pid}`;
  fs.writeFileSync(tmp, next.map((l) => `${l}\n`).join(''), { mode: 0o644 });
  fs.renameSync(tmp, file);
}

function ensureUser(name: string): PasswdEntry {
  if (!findUser(name)) {
    try {
      execFileSync('useradd', ['-m', '-s', '/bin/sh', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      // Another test run may have created it meanwhile.
      if (!findUser(name)) throw e;
    }
  }
  const user = findUser(name);
  if (!user) throw new Error(`useradd ${name} did not create the user`);
  // HOME must exist and belong to the user: nook unpacks its native parts under ~/.cache.
  fs.mkdirSync(user.home, { recursive: true, mode: 0o755 });
  const st = fs.statSync(user.home);
  if (st.uid !== user.uid) fs.chownSync(user.home, user.uid, user.gid);
  return user;
}

/** As root: creates the two test users (idempotent) and sets their subordinate ids. */
export function setupUsers(): void {
  if (!isRoot) return;
  const sub = ensureUser(SUB_USER);
  // Exactly one range, the one the tests expect in the uid/gid maps (useradd may have picked another).
  const line = `${SUB_USER}:${SUB_RANGE.start}:${SUB_RANGE.count}`;
  setSubIdLines('/etc/subuid', sub, line);
  setSubIdLines('/etc/subgid', sub, line);
  const nosub = ensureUser(NOSUB_USER);
  setSubIdLines('/etc/subuid', nosub, null);
  setSubIdLines('/etc/subgid', nosub, null);
}

/** The user's first range in an /etc/subuid-style file, as nook reads it. */
function firstSubRange(file: string, p: PasswdEntry): SubRange | undefined {
  for (const l of readLines(file)) {
    const [who, start, count] = l.trim().split(':');
    if ((who === p.name || who === String(p.uid)) && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

function toTestUser(p: PasswdEntry): TestUser {
  const subUids = firstSubRange('/etc/subuid', p);
  const subGids = firstSubRange('/etc/subgid', p);
  const helpers = fs.existsSync('/usr/bin/newuidmap') && fs.existsSync('/usr/bin/newgidmap');
  const user: TestUser = { name: p.name, uid: p.uid, gid: p.gid, home: p.home, kind: 'nosub' };
  return subUids && subGids && helpers ? { ...user, kind: 'sub', subUids, subGids } : user;
}

export interface TestUsers {
  /** A user with subordinate ids, or null when the suite cannot use one. */
  sub: TestUser | null;
  /** A user without subordinate ids, or null. */
  nosub: TestUser | null;
  /** Real root, when the suite runs as root. */
  root: TestUser | null;
  /** The user for tests that work with either kind. */
  any: TestUser;
}

let cached: TestUsers | undefined;

export function testUsers(): TestUsers {
  if (cached) return cached;
  if (isRoot) {
    const sub = findUser(SUB_USER);
    const nosub = findUser(NOSUB_USER);
    if (!sub || !nosub) throw new Error(`users ${SUB_USER} and ${NOSUB_USER} are missing: the global setup creates them`);
    const [s, n] = [toTestUser(sub), toTestUser(nosub)];
    if (s.kind !== 'sub' || n.kind !== 'nosub') throw new Error('the subordinate ids of the test users are not as the global setup set them');
    cached = { sub: s, nosub: n, root: { name: 'root', uid: 0, gid: 0, home: '/root', kind: 'root' }, any: s };
    return cached;
  }
  const info = os.userInfo();
  const me: PasswdEntry = { name: info.username, uid: info.uid, gid: info.gid, home: info.homedir };
  const self = toTestUser(me);
  cached = { sub: self.kind === 'sub' ? self : null, nosub: self.kind === 'nosub' ? self : null, root: null, any: self };
  return cached;
}

/** The environment a login would give `user`, minus everything else: no XDG_RUNTIME_DIR, no node_modules. */
export function cleanEnv(user: TestUser): Record<string, string> {
  return { HOME: user.home, PATH: '/usr/bin:/bin' };
}

/** child_process options that run a process as `user` (nothing to change when that is already us). */
export function spawnIdentity(user: TestUser): { uid?: number; gid?: number } {
  return isRoot ? { uid: user.uid, gid: user.gid } : {};
}

const WHY_MISSING: Record<UserKind, string> = {
  sub: 'needs a user with /etc/subuid and /etc/subgid ranges: run the suite as root',
  nosub: 'needs a user without subordinate ids: run the suite as root',
  root: 'needs real root: run the suite as root',
};

/** The test user of this kind, or skips the test (with the reason) when the suite cannot use one. */
export function need(ctx: TestContext, kind: UserKind): TestUser {
  const user = testUsers()[kind];
  if (!user) ctx.skip(WHY_MISSING[kind]);
  return user;
}
