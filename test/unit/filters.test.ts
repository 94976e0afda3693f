import { describe, expect, it } from 'vitest';
import {
  CONTAINER_FILTER_KEYS, IMAGE_FILTER_KEYS, checkContainerFilters, checkImageFilters, matchContainer, matchImage, matchLabels, parseFilters, pathMatch,
  type ContainerFacts,
} from '../../src/cli/filters';
import { humanSize } from '../../src/cli/format';
import { NookError, UsageError } from '../../src/errors';
import { dirSize } from '../../src/util/dir-size';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ps = (...v: string[]) => parseFilters(v, CONTAINER_FILTER_KEYS, 'ps');
const img = (...v: string[]) => parseFilters(v, IMAGE_FILTER_KEYS, 'images');

const web: ContainerFacts = {
  id: 'abc123def4560000000000000000000000000000000000000000000000000000',
  name: 'web-1',
  labels: { tier: 'front', 'com.example.x': '' },
  status: 'running',
  created: '2026-01-02T00:00:00.000Z',
  network: 'pasta',
  mounts: [{ source: '/srv/data', target: '/data' }, { target: '/tmp' }],
  fromImage: (ref) => ref === 'nginx' || ref === 'sha256:feed',
};
const done: ContainerFacts = { ...web, id: 'ffff000000000000000000000000000000000000000000000000000000000000', name: 'job', labels: undefined, status: 'exited', exitCode: 3, fromImage: () => false };

describe('parseFilters', () => {
  it('groups values by key, keeping their order', () => {
    expect([...ps('name=a', 'status=running', 'name=b')]).toEqual([['name', ['a', 'b']], ['status', ['running']]]);
  });

  it('keeps "=" inside the value (label=k=v)', () => {
    expect(ps('label=k=v').get('label')).toEqual(['k=v']);
  });

  it('refuses a filter without "=" as a usage error, an unknown key as docker does (exit 1)', () => {
    expect(() => ps('name')).toThrow(UsageError);
    let err: unknown;
    try {
      ps('colour=red');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NookError);
    expect((err as NookError).message).toBe("invalid filter 'colour'");
    expect((err as NookError).exitCode).toBe(1);
  });

  it('checks status words and exit codes', () => {
    expect(() => checkContainerFilters(ps('status=sleeping'))).toThrow(/invalid filter 'status=sleeping'/);
    expect(() => checkContainerFilters(ps('exited=x'))).toThrow(/exited=x/);
    expect(() => checkContainerFilters(ps('status=paused', 'exited=0'))).not.toThrow();
    expect(() => checkImageFilters(img('dangling=maybe'))).toThrow(/dangling=maybe/);
  });
});

describe('container filters', () => {
  it('name and id are regular expressions found anywhere (docker matches "/NAME")', () => {
    expect(matchContainer(ps('name=web'), web)).toBe(true);
    expect(matchContainer(ps('name=^/web-1$'), web)).toBe(true);
    expect(matchContainer(ps('name=^web'), web)).toBe(false);
    expect(matchContainer(ps('name=eb-'), web)).toBe(true);
    expect(matchContainer(ps('id=abc1'), web)).toBe(true);
    expect(matchContainer(ps('id=abc1'), done)).toBe(false);
    expect(() => matchContainer(ps('name=('), web)).toThrow(/not a regular expression/);
  });

  it('the same key is OR, different keys AND', () => {
    expect(matchContainer(ps('name=job', 'name=web'), web)).toBe(true);
    expect(matchContainer(ps('name=job', 'name=web'), done)).toBe(true);
    expect(matchContainer(ps('name=web', 'status=exited'), web)).toBe(false);
    expect(matchContainer(ps('status=exited', 'status=running'), web)).toBe(true);
  });

  it('every label filter must hold: key, key=value, key!=value', () => {
    expect(matchContainer(ps('label=tier'), web)).toBe(true);
    expect(matchContainer(ps('label=tier=front'), web)).toBe(true);
    expect(matchContainer(ps('label=tier=back'), web)).toBe(false);
    expect(matchContainer(ps('label=tier', 'label=other'), web)).toBe(false);
    expect(matchContainer(ps('label=tier!=back'), web)).toBe(true);
    expect(matchContainer(ps('label=com.example.x='), web)).toBe(true);
    expect(matchContainer(ps('label=tier'), done)).toBe(false);
    expect(matchLabels(undefined, undefined)).toBe(true);
  });

  it('exited matches exited containers with that code only', () => {
    expect(matchContainer(ps('exited=3'), done)).toBe(true);
    expect(matchContainer(ps('exited=0'), done)).toBe(false);
    expect(matchContainer(ps('exited=0'), web)).toBe(false);
    expect(matchContainer(ps('exited=0', 'exited=3'), done)).toBe(true);
  });

  it('ancestor asks the caller, network compares the mode', () => {
    expect(matchContainer(ps('ancestor=nginx'), web)).toBe(true);
    expect(matchContainer(ps('ancestor=busybox', 'ancestor=sha256:feed'), web)).toBe(true);
    expect(matchContainer(ps('ancestor=nginx'), done)).toBe(false);
    expect(matchContainer(ps('network=pasta'), web)).toBe(true);
    expect(matchContainer(ps('network=none'), web)).toBe(false);
  });

  it('volume names a mount by its source or its destination', () => {
    expect(matchContainer(ps('volume=/srv/data'), web)).toBe(true);
    expect(matchContainer(ps('volume=/data'), web)).toBe(true);
    expect(matchContainer(ps('volume=/tmp'), web)).toBe(true);
    expect(matchContainer(ps('volume=/srv'), web)).toBe(false);
    expect(matchContainer(ps('volume=/data'), done)).toBe(true);
    expect(matchContainer(ps('volume=/data'), { ...done, mounts: [] })).toBe(false);
  });

  it('publish/expose: a container port or range, tcp unless a protocol is given', () => {
    const c: ContainerFacts = {
      ...web,
      published: [{ port: 80, protocol: 'tcp' }, { port: 53, protocol: 'udp' }],
      exposed: [{ port: 80, protocol: 'tcp' }, { port: 53, protocol: 'udp' }, { port: 9000, protocol: 'tcp' }],
    };
    expect(matchContainer(ps('publish=80'), c)).toBe(true);
    expect(matchContainer(ps('publish=80/tcp'), c)).toBe(true);
    expect(matchContainer(ps('publish=80/udp'), c)).toBe(false);
    expect(matchContainer(ps('publish=53'), c)).toBe(false);
    expect(matchContainer(ps('publish=53/udp'), c)).toBe(true);
    expect(matchContainer(ps('publish=70-90'), c)).toBe(true);
    expect(matchContainer(ps('publish=81-90'), c)).toBe(false);
    expect(matchContainer(ps('publish=9000'), c)).toBe(false);
    expect(matchContainer(ps('expose=9000'), c)).toBe(true);
    expect(matchContainer(ps('expose=8990-9010/tcp'), c)).toBe(true);
    expect(matchContainer(ps('publish=81', 'publish=80'), c)).toBe(true);
    expect(matchContainer(ps('publish=80'), web)).toBe(false);
    for (const bad of ['publish=8080:80', 'publish=x', 'expose=90-80', 'expose=0', 'publish=70000'])
      expect(() => checkContainerFilters(ps(bad)), bad).toThrow(NookError);
  });

  it('health: every container is none (no healthchecks); the other words match nothing; others are refused', () => {
    expect(matchContainer(ps('health=none'), web)).toBe(true);
    expect(matchContainer(ps('health=healthy'), web)).toBe(false);
    expect(matchContainer(ps('health=healthy', 'health=none'), done)).toBe(true);
    expect(() => checkContainerFilters(ps('health=sick'))).toThrow(/Unrecognised filter value for health: sick/);
  });

  it('before/since compare created times, strictly', () => {
    const older = { ...done, created: '2026-01-01T00:00:00.000Z' };
    expect(matchContainer(new Map(), older, { before: web.created })).toBe(true);
    expect(matchContainer(new Map(), web, { before: web.created })).toBe(false);
    expect(matchContainer(new Map(), web, { since: older.created })).toBe(true);
    expect(matchContainer(new Map(), older, { since: older.created })).toBe(false);
  });
});

describe('image filters', () => {
  const tagged = { repository: 'ghcr.io/o/app', tag: '1.2', dangling: false, labels: { v: '1' }, created: '2026-01-02T00:00:00Z' };
  const none = { repository: '<none>', tag: '<none>', dangling: true, created: '2026-01-01T00:00:00Z' };

  it('dangling=true keeps untagged images, false the others', () => {
    expect(matchImage(img('dangling=true'), none)).toBe(true);
    expect(matchImage(img('dangling=true'), tagged)).toBe(false);
    expect(matchImage(img('dangling=false'), tagged)).toBe(true);
    expect(matchImage(img('dangling=false'), none)).toBe(false);
  });

  it('reference is a path.Match pattern on "repo" or "repo:tag"; never matches an untagged image', () => {
    expect(matchImage(img('reference=ghcr.io/o/app'), tagged)).toBe(true);
    expect(matchImage(img('reference=ghcr.io/o/*'), tagged)).toBe(true);
    expect(matchImage(img('reference=ghcr.io/*'), tagged)).toBe(false); // * stops at /
    expect(matchImage(img('reference=*:1.?'), tagged)).toBe(false);
    expect(matchImage(img('reference=ghcr.io/o/app:1.*'), tagged)).toBe(true);
    expect(matchImage(img('reference=nope', 'reference=ghcr.io/o/app:1.2'), tagged)).toBe(true);
    expect(matchImage(img('reference=*'), none)).toBe(false);
  });

  it('label and before/since', () => {
    expect(matchImage(img('label=v=1'), tagged)).toBe(true);
    expect(matchImage(img('label=v=2'), tagged)).toBe(false);
    expect(matchImage(new Map(), none, { before: tagged.created })).toBe(true);
    expect(matchImage(new Map(), tagged, { before: tagged.created })).toBe(false);
    expect(matchImage(new Map(), tagged, { since: none.created })).toBe(true);
  });

  it('until: a duration before now, Unix seconds, or a date', () => {
    const now = Date.parse('2026-01-03T00:00:00Z');
    expect(matchImage(img('until=24h'), tagged, { now })).toBe(false); // created exactly 24 h before: not before it
    expect(matchImage(img('until=23h59m'), tagged, { now })).toBe(true);
    expect(matchImage(img('until=2026-01-02'), none)).toBe(true);
    expect(matchImage(img('until=2026-01-02'), tagged)).toBe(false);
    expect(matchImage(img('until=1767312000.5'), tagged)).toBe(true);
    expect(() => checkImageFilters(img('until=yesterday'))).toThrow(/invalid filter 'until=yesterday'/);
  });

  it("pathMatch follows Go's path.Match", () => {
    expect(pathMatch('busybox', 'busybox')).toBe(true);
    expect(pathMatch('busy*', 'busybox')).toBe(true);
    expect(pathMatch('b?sybox', 'busybox')).toBe(true);
    expect(pathMatch('[a-c]usybox', 'busybox')).toBe(true);
    expect(pathMatch('[^a-c]usybox', 'busybox')).toBe(false);
    expect(pathMatch('busy', 'busybox')).toBe(false);
    expect(pathMatch('a.b', 'axb')).toBe(false);
  });
});

describe('humanSize (docker ps SIZE)', () => {
  it('three significant digits, decimal units, no space', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(2)).toBe('2B');
    expect(humanSize(1234)).toBe('1.23kB');
    expect(humanSize(72_900_000)).toBe('72.9MB');
    expect(humanSize(4096)).toBe('4.1kB');
  });
});

describe('dirSize (a writable layer, as docker counts it)', () => {
  it('files and symlinks, each inode once, directories not at all', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-dirsize-'));
    try {
      fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'a/b/f'), Buffer.alloc(1000));
      fs.linkSync(path.join(dir, 'a/b/f'), path.join(dir, 'hard'));
      fs.writeFileSync(path.join(dir, 'g'), 'xyz');
      fs.symlinkSync('a/b/f', path.join(dir, 'link')); // 5 bytes: its target's name
      expect(dirSize(dir)).toBe(1000 + 3 + 5);
      expect(dirSize(path.join(dir, 'missing'))).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('interleaved flags (docker takes `nook rm web -f`)', () => {
  const specs = [
    { name: 'force', short: 'f', type: 'boolean' as const, help: '' },
    { name: 'time', short: 't', type: 'string' as const, help: '' },
  ];
  it('reads flags after arguments when asked, and stops at the first argument otherwise', async () => {
    const { parseArgs } = await import('../../src/cli/args');
    expect(parseArgs(['web', '-f', 'db', '-t', '5'], specs, 'rm', { interleaved: true })).toEqual({ flags: { force: true, time: '5' }, positionals: ['web', 'db'] });
    expect(parseArgs(['web', '-f'], specs, 'rm').positionals).toEqual(['web', '-f']);
    expect(parseArgs(['-f', '--', '-web'], specs, 'rm', { interleaved: true }).positionals).toEqual(['-web']);
  });
});
