/**
 * The build helper's side (`nook __build-helper`), running as root of its
 * user namespace and of a private mount namespace: reads requests on stdin,
 * one at a time, and answers on fd 3.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { replyToNook, serveHelperRequests } from '../../sandbox/helper-server';
import { NookError } from '../../errors';
import { isMapped, moreIdsHint } from '../../sandbox/idmap';
import { DirView, LayeredView, type RootView } from '../../sandbox/rootfs-view';
import { resolveUser } from '../../sandbox/users';
import type { IdPolicy } from '../../image/unpack/owners';
import { isArchive, withExtractedArchive } from '../copy/archive';
import { Copier } from '../copy/copier';
import { parseChmod } from '../chmod';
import { resolveChown, type Owner } from '../copy/owner';
import { destination } from '../copy/rules';
import type { BuildHelperReply, BuildHelperRequest, BuildRoot } from './protocol';
import { openBuildRoot, openLayersView } from './root-mount';

const reply = (r: BuildHelperReply): void => replyToNook(r);

/** --chown ids nook can give: checked before anything is written, with the fix in the hint. */
function checkMapped(owner: Owner, ids: IdPolicy, spec: string): void {
  if (ids === 'any') return;
  for (const kind of ['uid', 'gid'] as const) {
    const id = owner[kind];
    if (!isMapped(ids[kind], id))
      throw new NookError(`--chown=${spec}: ${kind} ${id} is not mapped in nook's user namespace, so no file can be given it`, {
        hint: moreIdsHint(ids, ids.userName ?? '$USER', { kind, id }),
      });
  }
}

/** Reads the root's /etc files without mounting it (the layers stacked as overlayfs would show them). */
function viewOf(root: BuildRoot): RootView {
  return 'overlay' in root ? new LayeredView([root.overlay.upper, ...root.overlay.lowerDirs]) : new DirView(root.rootfs);
}

async function copy(req: Extract<BuildHelperRequest, { op: 'copy' }>): Promise<number> {
  const instruction = req.add ? 'ADD' : 'COPY';
  const chmod = req.chmod === undefined ? undefined : parseChmod(req.chmod);
  if (chmod && 'error' in chmod) throw new NookError(chmod.error, { hint: 'give an octal mode (--chmod=0644) or a symbolic one (--chmod=u+x,go-w)' });
  const dest = destination(req.dest, req.workdir);
  const root = openBuildRoot(req.root);
  try {
    const owner = req.chown === undefined ? undefined : resolveChown(req.chown, new DirView(root.dir));
    if (owner) checkMapped(owner, req.ids, req.chown!);
    const sources = req.sources.kind === 'dir' ? { dir: req.sources.dir, release: () => undefined } : openLayersView(req.sources.lowerDirs, req.sources);
    try {
      const copier = new Copier({
        instruction,
        rootDir: root.dir,
        sourceDir: sources.dir,
        sourceKind: req.sources.kind === 'dir' ? 'context' : 'image',
        excludes: req.sources.kind === 'dir' ? req.sources.excludes : undefined,
        patterns: req.patterns,
        dest,
        exclude: req.exclude,
        parents: req.parents,
        owner,
        chmod: chmod?.change,
        add: req.add
          ? { isArchive, extract: (file, into) => withExtractedArchive(file, req.ids, req.patterns.join(' '), req.chown !== undefined, into) }
          : undefined,
      });
      return (await copier.run()).files;
    } finally {
      sources.release();
    }
  } finally {
    root.release();
  }
}

async function mkdir(req: Extract<BuildHelperRequest, { op: 'mkdir' }>): Promise<void> {
  const root = openBuildRoot(req.root);
  try {
    const owner = req.chown === undefined ? undefined : resolveChown(req.chown, new DirView(root.dir));
    if (owner) checkMapped(owner, req.ids, req.chown!);
    // An empty copy to a directory destination: the same in-root creation, owners and checks.
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-workdir-'));
    try {
      await new Copier({
        instruction: 'WORKDIR',
        rootDir: root.dir,
        sourceDir: empty,
        sourceKind: 'context',
        patterns: ['.'],
        dest: destination(req.path.endsWith('/') ? req.path : `${req.path}/`),
        owner,
      }).run();
    } finally {
      fs.rmdirSync(empty);
    }
  } finally {
    root.release();
  }
}

async function populate(req: Extract<BuildHelperRequest, { op: 'populate' }>): Promise<number> {
  const src = openLayersView(req.lowerDirs);
  try {
    const copier = new Copier({
      instruction: 'VOLUME',
      rootDir: req.dataDir,
      sourceDir: src.dir,
      sourceKind: 'image',
      patterns: [req.path],
      dest: destination('/'),
    });
    const files = (await copier.run()).files;
    // The volume's top directory as the image's: resolved inside the image's view, never outside it.
    const st = statInRoot(src.dir, req.path);
    if (st) {
      fs.chownSync(req.dataDir, st.uid, st.gid);
      fs.chmodSync(req.dataDir, st.mode & 0o7777);
    }
    return files;
  } finally {
    src.release();
  }
}

/** lstat of `inner` with its symlinks resolved inside `root` (one hop at a time, never leaving it). */
function statInRoot(root: string, inner: string): fs.Stats | undefined {
  const parts = inner.split('/').filter((p) => p && p !== '.');
  const done: string[] = [];
  for (let hops = 0; parts.length; ) {
    const part = parts.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, part);
    const st = fs.lstatSync(host, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const link = fs.readlinkSync(host);
      if (link.startsWith('/')) done.length = 0;
      parts.unshift(...link.split('/').filter((p) => p && p !== '.'));
      continue;
    }
    done.push(part);
    if (!parts.length) return st;
  }
  return fs.lstatSync(root);
}

/**
 * chown -R that never follows a symlink, even one a running container swaps
 * in while the walk goes on: each directory is opened with O_NOFOLLOW and
 * its entries are reached through that descriptor (/proc/self/fd/N/NAME, one
 * component), so the walk cannot be led out of the tree.
 */
function chownTree(dir: string, uid: number, gid: number): void {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
  const walk = (p: string): void => {
    let fd: number;
    try {
      fd = fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      fs.lchownSync(p, uid, gid); // not a directory (or a symlink): its own owner only
      return;
    }
    try {
      fs.fchownSync(fd, uid, gid);
      const at = `/proc/self/fd/${fd}`;
      for (const name of fs.readdirSync(at)) walk(`${at}/${name}`);
    } finally {
      fs.closeSync(fd);
    }
  };
  walk(dir);
}

export function buildHelperMain(): Promise<number> {
  // Modes are set explicitly on everything written; no umask in between.
  process.umask(0);
  return serveHelperRequests<BuildHelperRequest>(async (req) => {
    switch (req.op) {
      case 'copy':
        reply({ id: req.id, event: 'done', files: await copy(req) });
        break;
      case 'mkdir':
        await mkdir(req);
        reply({ id: req.id, event: 'done' });
        break;
      case 'populate':
        reply({ id: req.id, event: 'done', files: await populate(req) });
        break;
      case 'chown':
        chownTree(req.dir, req.uid, req.gid);
        reply({ id: req.id, event: 'done' });
        break;
      case 'resolve-user': {
        const u = resolveUser(viewOf(req.root), req.user, { uid: 0, gid: 0 });
        reply({ id: req.id, event: 'done', user: { uid: u.uid, gid: u.gid, groups: u.groups, home: u.home } });
        break;
      }
    }
  });
}
