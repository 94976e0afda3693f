import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveInRoot } from '../../src/sandbox/mounts';

describe('resolveInRoot', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-root-'));
  fs.mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
  fs.symlinkSync('/usr/lib', path.join(root, 'abs'));
  fs.symlinkSync('usr', path.join(root, 'rel'));
  fs.symlinkSync('../../../../etc', path.join(root, 'usr/escape'));
  fs.symlinkSync('loop', path.join(root, 'loop'));

  it('keeps plain paths, including missing ones, under the root', () => {
    expect(resolveInRoot(root, '/usr/lib')).toBe(path.join(root, 'usr/lib'));
    expect(resolveInRoot(root, '/not/there')).toBe(path.join(root, 'not/there'));
  });

  it('follows absolute and relative symlinks as they resolve inside', () => {
    expect(resolveInRoot(root, '/abs/x')).toBe(path.join(root, 'usr/lib/x'));
    expect(resolveInRoot(root, '/rel/lib')).toBe(path.join(root, 'usr/lib'));
  });

  it('never leaves the root through .. or symlinks', () => {
    expect(resolveInRoot(root, '/../../etc/passwd')).toBe(path.join(root, 'etc/passwd'));
    expect(resolveInRoot(root, '/usr/escape/passwd')).toBe(path.join(root, 'etc/passwd'));
  });

  it('gives up on symlink loops', () => {
    expect(() => resolveInRoot(root, '/loop/x')).toThrow(/too many symbolic links/);
  });
});
