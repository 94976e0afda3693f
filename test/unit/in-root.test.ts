/**
 * ffi/in-root.c through nook's native layer: paths of a rootfs resolve as
 * if it were /, whatever symlinks it holds, and files nook reads from it
 * must be regular files (a FIFO there would hang nook).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../ffi/native';
import { MAX_ROOTFS_FILE, readFileInRoot } from '../../src/sandbox/rootfs-view';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-in-root-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const root = path.join(tmp, 'root');
const outside = path.join(tmp, 'outside');
fs.mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
fs.mkdirSync(outside);
fs.writeFileSync(path.join(outside, 'secret'), 'host secret');
fs.writeFileSync(path.join(root, 'etc/passwd'), 'inside passwd');
fs.writeFileSync(path.join(root, 'usr/lib/x'), 'lib x');
fs.symlinkSync('/usr/lib', path.join(root, 'abs')); // absolute: must stay inside
fs.symlinkSync('usr/lib', path.join(root, 'rel'));
fs.symlinkSync('../../../../etc', path.join(root, 'usr/escape')); // .. past the root stops at it
fs.symlinkSync(outside, path.join(root, 'host')); // a host path, as a hostile image would plant
fs.symlinkSync('/proc/self/root/' + outside.slice(1), path.join(root, 'magic')); // through a magic link, if it were followed
fs.symlinkSync('loop2', path.join(root, 'loop1'));
fs.symlinkSync('loop1', path.join(root, 'loop2'));
fs.writeFileSync(path.join(root, 'etc/huge'), Buffer.alloc(MAX_ROOTFS_FILE + 1, 'a'));
const fifo = path.join(root, 'etc/fifo');

describe('files read inside a root', () => {
  it('follows absolute and relative symlinks inside the root', () => {
    expect(readFileInRoot(root, '/abs/x')).toBe('lib x');
    expect(readFileInRoot(root, '/rel/x')).toBe('lib x');
    expect(readFileInRoot(root, '/usr/escape/passwd')).toBe('inside passwd');
    expect(readFileInRoot(root, '/../../etc/passwd')).toBe('inside passwd');
  });

  it('never reaches the host through a planted symlink, absolute or through /proc', () => {
    expect(readFileInRoot(root, '/host/secret')).toBe('');
    expect(readFileInRoot(root, '/magic/secret')).toBe('');
  });

  it('reads a missing file as empty and refuses symlink loops', () => {
    expect(readFileInRoot(root, '/etc/none')).toBe('');
    expect(() => readFileInRoot(root, '/loop1')).toThrow(/loop|symbolic/i);
  });

  it('refuses a FIFO without blocking, a directory, and a file over the cap', () => {
    expect(spawnMkfifo(fifo)).toBe(true);
    expect(() => readFileInRoot(root, '/etc/fifo')).toThrow(/not a regular file/);
    expect(() => readFileInRoot(root, '/etc')).toThrow(/not a regular file/);
    expect(() => readFileInRoot(root, '/etc/huge')).toThrow(/larger than 4 MiB/);
  });

  it('returns -EINVAL for a non-regular file and -ENOENT for a missing one', () => {
    const n = loadNative();
    expect(n.openFileInRoot(root, '/etc')).toBe(-os.constants.errno.EINVAL);
    expect(n.openFileInRoot(root, '/host/secret')).toBe(-os.constants.errno.ENOENT);
  });
});

function spawnMkfifo(p: string): boolean {
  if (!fs.existsSync(p)) require('node:child_process').execFileSync('mkfifo', [p]);
  return fs.statSync(p).isFIFO();
}

/** Both resolvers directly: openat2 where the kernel has it, and the walk that stands in for it elsewhere. */
describe.each(['nook_resolve_in_root', 'nook_walk_in_root'])('%s', (fn) => {
  const n = loadNative();
  const lib = n.koffi.load(path.join(__dirname, '../../build/out/libnook-exec.so'));
  const resolve = lib.func(`int ${fn}(int root, const char *path, int create, uint32_t mode)`);
  const rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  afterAll(() => fs.closeSync(rootFd));
  /** The host path an fd names. */
  const where = (p: string, create = 0): string => {
    const fd = resolve(rootFd, p, create, 0o755);
    if (fd < 0) return `errno ${n.errno()}`;
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } finally {
      fs.closeSync(fd);
    }
  };

  it('resolves symlinks and .. inside the root', () => {
    expect(where('/abs/x')).toBe(path.join(root, 'usr/lib/x'));
    expect(where('/rel/../../etc/passwd')).toBe(path.join(root, 'etc/passwd')); // rel is usr/lib: its .. is /usr
    expect(where('/usr/escape/passwd')).toBe(path.join(root, 'etc/passwd'));
    expect(where('/../../..')).toBe(root);
    expect(where('/loop1')).toBe(`errno ${os.constants.errno.ELOOP}`);
  });

  it('creates what is missing inside the root, where a planted link would have pointed at the host', () => {
    expect(where('/host/made/here', 1)).toBe(path.join(root, outside.slice(1), 'made/here'));
    expect(fs.existsSync(path.join(outside, 'made'))).toBe(false);
    expect(where('/magic/file', 2)).toBe(path.join(root, 'proc/self/root', outside.slice(1), 'file'));
    expect(fs.statSync(path.join(root, 'proc/self/root', outside.slice(1), 'file')).isFile()).toBe(true);
    expect(where('/etc/passwd/sub', 1)).toBe(`errno ${os.constants.errno.ENOTDIR}`);
  });

  it('gives a file it creates the mode asked for, and the directories made on the way to it 0755', () => {
    const fd = resolve(rootFd, `/made-${fn}/a/b/file`, 2, 0o600);
    expect(fd).toBeGreaterThanOrEqual(0);
    fs.closeSync(fd);
    expect(fs.statSync(path.join(root, `made-${fn}/a/b/file`)).mode & 0o7777).toBe(0o600 & ~process.umask());
    for (const d of [`made-${fn}`, `made-${fn}/a`, `made-${fn}/a/b`]) expect(fs.statSync(path.join(root, d)).mode & 0o7777).toBe(0o755 & ~process.umask());
  });
});
