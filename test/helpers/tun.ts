/**
 * A /dev/net/tun the test users may open, as desktops have it (udev makes it
 * 0666), without touching the host's node (0600 on these machines): a 0666
 * node of our own, which `NookOptions.tun` bind-mounts over /dev/net/tun in
 * a private mount namespace for one nook (test/helpers/nook.ts).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot } from './users';

let node: string | undefined;

/** The 0666 node's path (made once per test file), or undefined when the suite is not root. */
export function openTunNode(): string | undefined {
  if (!isRoot) return undefined;
  if (node) return node;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-it-tun-'));
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'tun');
  execFileSync('mknod', ['-m', '0666', file, 'c', '10', '200']);
  node = file;
  return file;
}

export function removeTunNode(): void {
  if (node) fs.rmSync(path.dirname(node), { recursive: true, force: true });
  node = undefined;
}

/** Whether the host's /dev/net/tun lets anyone open it (then no node of ours is needed). */
export function hostTunOpen(): boolean {
  try {
    return (fs.statSync('/dev/net/tun').mode & 0o006) === 0o006;
  } catch {
    return false;
  }
}
