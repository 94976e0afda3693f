/**
 * What a sandbox should be, fully decided: the CLI (and later the image and
 * container layers) fill this in; plan.ts turns it into syscalls.
 */
import type { IdMapping } from './idmap';

export interface BindMount {
  source: string; // absolute host path
  target: string; // absolute path inside the sandbox
  readOnly: boolean;
}

export interface TmpfsMount {
  target: string;
  options: string; // tmpfs mount data, e.g. "mode=1777,size=64m"
  flags: number;   // MS_* flags
}

export interface ProcessUser {
  uid: number;
  gid: number;
  /** Supplementary groups; only set when the id mapping allows setgroups(). */
  groups: number[];
}

/** An image's root filesystem: its layers under a writable layer of the container's own, joined by overlayfs. */
export interface OverlayRoot {
  /** The store's l/ directory, where the layers' short links live. */
  linkDir: string;
  /** Short link names of the layers, topmost first. */
  lowers: string[];
  /** The layers' host directories, topmost first (to read the image before it is mounted). */
  lowerDirs: string[];
  upper: string;
  work: string;
}

export interface SandboxSpec {
  rootfs: string;             // absolute host path of the directory that becomes / (with overlay: the mount point)
  overlay?: OverlayRoot;      // an image's layers, mounted on rootfs
  argv: string[];             // command and arguments, argv[0] looked up in PATH when it has no '/'
  env: string[];              // final environment, K=V
  cwd: string;                // working directory inside
  user: ProcessUser;
  hostname: string;
  network: 'none' | 'host';   // 'none': own network namespace with loopback up
  readOnly: boolean;          // read-only /
  binds: BindMount[];
  tmpfs: TmpfsMount[];
  tty: boolean;               // allocate a pty for the command
  ttySize?: { rows: number; cols: number }; // its initial size: the user's terminal's
  interactive: boolean;       // keep stdin attached
  idmap: IdMapping;
}
