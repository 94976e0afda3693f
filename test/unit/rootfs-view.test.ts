import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { libcFs } from '../../ffi/libc-fs';
import { LayeredView, resolveInView } from '../../src/sandbox/rootfs-view';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-view-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function layer(name: string, files: Record<string, string | { link: string } | 'whiteout' | 'opaque-dir' | 'dir'>): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(root, { recursive: true });
  for (const [p, v] of Object.entries(files)) {
    const full = path.join(root, p);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (v === 'whiteout') expect(libcFs().mknod(full, 0o020000, 0)).toBe(0);
    else if (v === 'dir') fs.mkdirSync(full, { recursive: true });
    else if (v === 'opaque-dir') {
      fs.mkdirSync(full, { recursive: true });
      const y = Buffer.from('y');
      expect(libcFs().lsetxattr(full, 'user.overlay.opaque', y, 1, 0)).toBe(0);
    } else if (typeof v === 'string') fs.writeFileSync(full, v);
    else fs.symlinkSync(v.link, full);
  }
  return root;
}

describe('LayeredView: the image as overlayfs will show it', () => {
  const bottom = layer('bottom', { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'etc/gone': 'x', 'data/old': 'old', 'usr/lib/x': 'x' });
  const middle = layer('middle', { 'etc/gone': 'whiteout', data: 'opaque-dir', 'data/new': 'new', lib: { link: 'usr/lib' } });
  const top = layer('top', { 'etc/passwd': 'root:x:0:0::/home/root:/bin/sh\n' });
  const view = new LayeredView([top, middle, bottom]);

  it('upper layers hide lower ones', () => {
    expect(view.readFile('/etc/passwd')).toContain('/home/root');
  });

  it('a whiteout deletes the file below', () => {
    expect(view.lstat('/etc/gone')).toBeUndefined();
    expect(view.readFile('/etc/gone')).toBe('');
  });

  it('an opaque directory hides everything below it', () => {
    expect(view.lstat('/data/old')).toBeUndefined();
    expect(view.lstat('/data/new')?.isFile()).toBe(true);
  });

  it('symlinks are followed within the view', () => {
    expect(resolveInView(view, '/lib/x')).toBe('/usr/lib/x');
    expect(view.hostPath('/usr/lib/x')).toBe(path.join(bottom, 'usr/lib/x'));
  });
});
