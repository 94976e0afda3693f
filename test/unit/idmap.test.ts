import { testHost } from '../helpers/host';
import { describe, expect, it } from 'vitest';
import { computeIdMapping, isMapped, mappedUser, moreIdsHint, parseSubIdFile, type HostIdentity } from '../../src/sandbox/idmap';
import { Owners } from '../../src/image/unpack/owners';
import { NookError } from '../../src/errors';

const host = testHost;

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

describe('why only one id is mapped, and the fix for each cause', () => {
  const hintFor = (h: HostIdentity, need = { kind: 'uid' as const, id: 33 }) => moreIdsHint(computeIdMapping(h, { keepId: false }), h.userName, need);
  /** The hint a pull gives for a file owned by uid 33 (the store helper gets the same facts through its request). */
  const pullHint = (h: HostIdentity) => {
    const m = computeIdMapping(h, { keepId: false });
    const owners = new Owners({ uid: m.uid, gid: m.gid, userName: h.userName, singleIdCause: m.singleIdCause, singleIdReason: m.singleIdReason }, false, 'layer x');
    try {
      owners.resolve(33, 0, '"var/www"');
    } catch (e) {
      expect(e).toBeInstanceOf(NookError);
      return (e as NookError).hint!;
    }
    throw new Error('no error');
  };

  it('no range in /etc/subuid or /etc/subgid: add the missing ranges (and the helpers only when they are missing too)', () => {
    const both = hintFor(host({ subUids: [], subGids: [] }));
    expect(both).toBe(
      'only your own id is mapped (user alice has no range in /etc/subuid or /etc/subgid); give your user subordinate ids, e.g. ' +
        '`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice` (a range no other user has)',
    );
    const gidOnly = hintFor(host({ subGids: [] }));
    expect(gidOnly).toContain('(user alice has no range in /etc/subgid)');
    expect(gidOnly).toContain('`sudo usermod --add-subgids 100000-165535 alice`');
    expect(gidOnly).not.toMatch(/add-subuids|apt-get/);
    const nothing = hintFor(host({ subUids: [], subGids: [], newuidmap: null, newgidmap: null }));
    expect(nothing).toMatch(/--add-subuids 100000-165535 --add-subgids 100000-165535 alice`.*, and install newuidmap and newgidmap \(Debian\/Ubuntu: `sudo apt-get install uidmap`/);
  });

  it('ranges but no newuidmap/newgidmap: install uidmap, and not a word about usermod (the ranges exist)', () => {
    for (const h of [host({ newuidmap: null, newgidmap: null }), host({ newuidmap: null })]) {
      const m = computeIdMapping(h, { keepId: false });
      expect(m.method).toBe('direct');
      expect(m.singleIdCause?.kind).toBe('no-helper');
      const hint = moreIdsHint(m, 'alice', { kind: 'uid', id: 33 });
      expect(hint).toMatch(/^only your own id is mapped \(newuidmap(, which maps| and newgidmap, which map) subordinate ids, (is|are) not installed\); your ranges in \/etc\/subuid and \/etc\/subgid are there, install the helpers: Debian\/Ubuntu: `sudo apt-get install uidmap`; Fedora\/RHEL: `sudo dnf install shadow-utils`/);
      expect(hint).not.toMatch(/usermod|subordinate id range/);
      // The case of the issue: a pull of an image with files owned by other users.
      expect(pullHint(h)).toMatch(/install the helpers: Debian\/Ubuntu: `sudo apt-get install uidmap`.*; or pull with --squash-ids/);
      expect(pullHint(h)).not.toMatch(/usermod/);
    }
  });

  it('a range too small for the id: make the first range bigger', () => {
    const h = host({ subUids: [{ start: 200000, count: 1000 }] });
    const m = computeIdMapping(h, { keepId: false });
    expect(m.method).toBe('helpers');
    let err: NookError | undefined;
    try {
      mappedUser({ uid: 5000, gid: 0, groups: [] }, m, 'alice', 'the sandbox');
    } catch (e) {
      err = e as NookError;
    }
    expect(err?.message).toBe('uid 5000 does not exist in the sandbox');
    expect(err?.hint).toBe(
      'uid 5000 is beyond the ids mapped from your subordinate range (0-1000 inside): the first range for alice in /etc/subuid is too small; ' +
        'make it 65536 ids, e.g. `sudo usermod --add-subuids 100000-165535 alice` after removing the small one with --del-subuids (nook uses the first range listed)',
    );
  });

  it('each cause is also said in words, for container records', () => {
    expect(computeIdMapping(host({ subUids: [] }), { keepId: false }).singleIdReason).toBe('user alice has no range in /etc/subuid');
    expect(computeIdMapping(host({ newgidmap: null }), { keepId: false }).singleIdReason).toBe('newgidmap, which maps subordinate ids, is not installed');
    // A record written by an older nook has the words only.
    expect(moreIdsHint({ uid: [], gid: [], singleIdReason: 'newuidmap/newgidmap are not installed' }, 'alice')).toMatch(/^only your own id is mapped \(newuidmap\/newgidmap are not installed\)/);
  });
});
