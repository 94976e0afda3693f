import { describe, expect, it } from 'vitest';
import { volumeMountOf } from '../../src/container/volumes';
import { nameMatches } from '../../src/cli/volume';
import { MS } from '../../ffi/linux';

describe('volumeMountOf (the local driver options nook can mount)', () => {
  it('no options: the volume\'s own directory; o= flags', () => {
    expect(volumeMountOf({}, 'v')).toEqual({ kind: 'data', flags: 0, readOnly: false });
    expect(volumeMountOf({ o: 'noexec,nosuid,ro' }, 'v')).toEqual({ kind: 'data', flags: MS.NOEXEC | MS.NOSUID, readOnly: true });
    expect(volumeMountOf({ o: 'noexec,exec' }, 'v')).toEqual({ kind: 'data', flags: 0, readOnly: false });
  });

  it('type=tmpfs: the tmpfs data and flags', () => {
    expect(volumeMountOf({ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,uid=1000,mode=750,noexec,ro' }, 'v')).toEqual({ kind: 'tmpfs', data: 'size=64m,uid=1000,mode=750', flags: MS.NOEXEC | MS.RDONLY });
    expect(() => volumeMountOf({ type: 'tmpfs', o: 'mode=999' }, 'v')).toThrow(/invalid value in o=: mode=999/);
    expect(() => volumeMountOf({ type: 'tmpfs', o: 'huge=1' }, 'v')).toThrow(/invalid volume option o=huge=1/);
  });

  it('a bind: docker\'s type=none,o=bind or podman\'s type=bind, device an existing directory', () => {
    expect(volumeMountOf({ type: 'none', o: 'bind', device: '/tmp' }, 'v')).toEqual({ kind: 'bind', device: '/tmp', flags: 0, readOnly: false });
    expect(volumeMountOf({ type: 'bind', device: '/tmp', o: 'ro,nodev' }, 'v')).toEqual({ kind: 'bind', device: '/tmp', flags: MS.NODEV, readOnly: true });
    expect(() => volumeMountOf({ type: 'bind', device: '/no/such/dir/nook' }, 'v')).toThrow("create v: invalid volume option device for driver 'local': stat /no/such/dir/nook: no such file or directory");
    expect(() => volumeMountOf({ type: 'bind', device: '/etc/passwd' }, 'v')).toThrow(/is not a directory/);
    expect(() => volumeMountOf({ type: 'none', o: 'bind' }, 'v')).toThrow(/needs device=DIRECTORY/);
    expect(() => volumeMountOf({ type: 'bind', device: 'tmp' }, 'v')).toThrow(/tmp is not an absolute path/);
  });

  it('what needs mount privileges, and unknown keys, are refused', () => {
    expect(() => volumeMountOf({ type: 'nfs', device: ':/srv', o: 'addr=10.0.0.1' }, 'v')).toThrow();
    expect(() => volumeMountOf({ type: 'ext4', device: '/dev/sda1' }, 'v')).toThrow(/not supported/);
    expect(() => volumeMountOf({ size: '10G' }, 'v')).toThrow('invalid option key: "size"');
  });
});

describe('volume ls name filter', () => {
  it('is docker\'s: an unanchored regular expression, or the exact name', () => {
    expect(nameMatches('vol_1.+', 'vol_1_x')).toBe(true);
    expect(nameMatches('vol_1.+', 'vol_1')).toBe(false);
    expect(nameMatches('vol_1*', 'vol_2_x')).toBe(true);
    expect(nameMatches('^data$', 'mydata')).toBe(false);
    expect(nameMatches('at', 'data')).toBe(true);
    expect(nameMatches('a[', 'a[')).toBe(true);
    expect(nameMatches('a[', 'ba[')).toBe(false);
  });
});
