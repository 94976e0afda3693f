import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveUser } from '../../src/sandbox/users';
import { DirView } from '../../src/sandbox/rootfs-view';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-users-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
fs.mkdirSync(path.join(root, 'etc'));
fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001:A:/home/alice:/bin/sh\n');
fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nstaff:x:50:alice\nalice:x:1001:\n');

describe('users from the rootfs', () => {
  it('resolves names to ids, home and supplementary groups', () => {
    expect(resolveUser(new DirView(root), 'alice', { uid: 0, gid: 0 })).toEqual({ uid: 1000, gid: 1001, groups: [1001, 50], home: '/home/alice' });
    expect(resolveUser(new DirView(root), 'alice:staff', { uid: 0, gid: 0 }).gid).toBe(50);
  });

  it('accepts numeric ids that the rootfs does not know', () => {
    expect(resolveUser(new DirView(root), '4242:77', { uid: 0, gid: 0 })).toEqual({ uid: 4242, gid: 77, groups: [77], home: '/' });
    expect(resolveUser(new DirView(root), '1000', { uid: 0, gid: 0 }).gid).toBe(1001);
  });

  it('defaults to the fallback user', () => {
    expect(resolveUser(new DirView(root), undefined, { uid: 0, gid: 0 })).toMatchObject({ uid: 0, gid: 0, home: '/root' });
  });

  it('names unknown users and groups', () => {
    expect(() => resolveUser(new DirView(root), 'bob', { uid: 0, gid: 0 })).toThrow(/unable to find user bob/);
    expect(() => resolveUser(new DirView(root), 'alice:nogroup', { uid: 0, gid: 0 })).toThrow(/unable to find group nogroup/);
  });
});
