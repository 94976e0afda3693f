/**
 * A busybox root filesystem, built once per test run from Debian's
 * busybox-static. As root it is root-owned and not writable by the test users
 * (only /tmp is, being 1777), as a real image's files would be: nook must not
 * need to write to it, so every mount point the tests use exists beforehand.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { staticProgram } from './programs';

export const BUSYBOX = '/bin/busybox';

/** Directories every rootfs has (besides bin, etc), with their modes. */
const DIRS: [string, number][] = [
  ['proc', 0o755],
  ['dev', 0o755],
  ['sys', 0o755],
  ['tmp', 0o1777],
  ['root', 0o700],
  ['home', 0o755],
  ['home/user', 0o755],
  ['mnt', 0o755],
  // Mount points and working directories the tests use.
  ['mnt/data', 0o755],
  ['mnt/ro', 0o755],
  ['srv', 0o755],
  ['srv/app', 0o755],
];

/** Files that exist in the rootfs: bind targets, and a marker for "/ is this tree". */
const FILES: [string, string][] = [
  ['etc/somefile', 'rootfs version of somefile\n'],
  ['etc/rootfs-marker', 'this is the test rootfs\n'],
  [
    'etc/passwd',
    'root:x:0:0:root:/root:/bin/sh\n' +
      'user:x:1000:1000:user:/home/user:/bin/sh\n' +
      'nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  ],
  ['etc/group', 'root:x:0:\ntty:x:5:\nuser:x:1000:user\nnogroup:x:65534:\n'],
];

export function busyboxApplets(): string[] {
  if (!fs.existsSync(BUSYBOX))
    throw new Error(`${BUSYBOX} is missing: the integration tests need a static busybox (apt-get install busybox-static)`);
  const out = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' });
  // busybox itself is the real file: a self-link would loop.
  return out.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox' && !s.includes('/'));
}

/** Builds the rootfs in a fresh directory under /tmp and returns its path. */
export function buildRootfs(): string {
  const applets = busyboxApplets();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-it-rootfs-'));
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(path.join(root, 'bin'), { mode: 0o755 });
  fs.mkdirSync(path.join(root, 'etc'), { mode: 0o755 });
  fs.copyFileSync(BUSYBOX, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of applets) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  // Tries TIOCSTI and tcsetpgrp on fds 0-2 (the terminal tests).
  fs.copyFileSync(staticProgram('tiocsti'), path.join(root, 'bin/tiocsti'));
  fs.chmodSync(path.join(root, 'bin/tiocsti'), 0o755);
  for (const [dir, mode] of DIRS) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.chmodSync(path.join(root, dir), mode); // not subject to the umask
  }
  for (const [file, text] of FILES) fs.writeFileSync(path.join(root, file), text, { mode: 0o644 });
  // An absolute symlink: as a bind target it must resolve inside the rootfs, never on the host.
  fs.symlinkSync('/srv/app', path.join(root, 'mnt/link'));
  return root;
}

export function removeRootfs(root: string): void {
  if (path.basename(root).startsWith('nook-it-rootfs-')) fs.rmSync(root, { recursive: true, force: true });
}

/** The top-level entries of the rootfs, as `ls /` inside should show them. */
export function rootfsEntries(root: string): string[] {
  return fs.readdirSync(root).sort();
}
