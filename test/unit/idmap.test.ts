import { describe, expect, it } from 'vitest';
import { computeIdMapping, isMapped, parseSubIdFile, type HostIdentity } from '../../src/sandbox/idmap';

const host = (over: Partial<HostIdentity> = {}): HostIdentity => ({
  uid: 1000,
  gid: 1000,
  userName: 'alice',
  subUids: [{ start: 100000, count: 65536 }],
  subGids: [{ start: 100000, count: 65536 }],
  newuidmap: '/usr/bin/newuidmap',
  newgidmap: '/usr/bin/newgidmap',
  ...over,
});

describe('subordinate id files', () => {
  it('matches by name or uid and skips comments and bad lines', () => {
    const text = '# c\nbob:1:2\nalice:100000:65536\n1000:300000:10\nalice:x:1\nalice:5:0\n';
    expect(parseSubIdFile(text, 'alice', 1000)).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
    ]);
    expect(parseSubIdFile(text, 'carol', 1001)).toEqual([]);
  });
});

describe('id mapping', () => {
  it('maps root to the user and 1..N to the subordinate range, as podman does', () => {
    const m = computeIdMapping(host(), { keepId: false });
    expect(m.method).toBe('helpers');
    expect(m.uid).toEqual([
      { inside: 0, outside: 1000, count: 1 },
      { inside: 1, outside: 100000, count: 65536 },
    ]);
    expect(m.setgroups).toBe(true);
  });

  it('keep-id puts the user at its own id with the subordinate ids around it', () => {
    const m = computeIdMapping(host(), { keepId: true });
    expect(m.uid).toEqual([
      { inside: 0, outside: 100000, count: 1000 },
      { inside: 1000, outside: 1000, count: 1 },
      { inside: 1001, outside: 101000, count: 64536 },
    ]);
    expect(isMapped(m.uid, 0) && isMapped(m.uid, 1000) && isMapped(m.uid, 65535)).toBe(true);
  });

  it('falls back to one id, written directly, without subordinate ids or helpers', () => {
    for (const h of [host({ subUids: [] }), host({ subGids: [] }), host({ newuidmap: null })]) {
      const m = computeIdMapping(h, { keepId: false });
      expect(m.method).toBe('direct');
      expect(m.uid).toEqual([{ inside: 0, outside: 1000, count: 1 }]);
      expect(m.setgroups).toBe(false);
      expect(m.singleIdReason).toBeTruthy();
    }
    const keep = computeIdMapping(host({ subUids: [] }), { keepId: true });
    expect(keep.uid).toEqual([{ inside: 1000, outside: 1000, count: 1 }]);
  });

  it('gives real root the identity map', () => {
    const m = computeIdMapping(host({ uid: 0, gid: 0 }), { keepId: false });
    expect(m.uid).toEqual([{ inside: 0, outside: 0, count: 4294967295 }]);
    expect(m.method).toBe('direct');
    expect(m.setgroups).toBe(true);
  });
});
