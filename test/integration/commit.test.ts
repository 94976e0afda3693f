/**
 * `nook diff`, `nook commit` and `nook history` end to end, as the
 * unprivileged test users: a container run from a test image pulled from a
 * real registry changes, adds and deletes files and replaces a directory of
 * the image (overlayfs makes it opaque); diff lists exactly that, and the
 * committed image, run again, has exactly that tree. With subordinate ids a
 * file chowned to another id keeps its owner; without, everything is root's.
 * Also: a running container (paused while read, running after), and the
 * copy fallback (NOOK_OVERLAY=copy).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { env as containerEnv, type Env } from '../helpers/containers';
import { registryWithTestImages } from '../helpers/images';
import { rootfs, show } from '../helpers/nook';
import { need, testUsers, type TestUser } from '../helpers/users';
import { scratchDir } from '../helpers/files';

const fixture = registryWithTestImages();

const PLAIN = '--tls-verify=false';

async function ok(e: Env, args: string[], extra: Record<string, string> = {}): Promise<string> {
  const r = await e.nook(args, { env: { ...e.opts.env, ...extra }, timeoutMs: 60_000 });
  expect(r.code, `nook ${args.join(' ')}\n${show(r)}`).toBe(0);
  return r.stdout;
}

/** What the test image looks like after the container's script, listed from inside a container. */
const LIST = 'cd /; for f in etc/motd etc/new etc/gone opt/suid opt/data opt/data/a opt/data/c opt/data/fresh opt/alice-file; do if [ -e $f ]; then echo "$f $(stat -c "%u:%g %a" $f) $(test -f $f && xargs < $f)"; else echo "$f -"; fi; done';

/** Changes (or adds) /etc/motd, adds a file (chowned when ids allow), deletes one, and replaces /opt/data by a new directory. */
function script(owner: string, deleted: string): string {
  return `echo changed >> /etc/motd && echo new > /etc/new && chown ${owner} /etc/new && rm /${deleted} && rm -r /opt/data && mkdir /opt/data && echo fresh > /opt/data/fresh`;
}

/** docker's order: by path. */
const byPath = (lines: string[]) => [...lines].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1));

const EXPECTED_DIFF = {
  // The layers image: /etc/motd exists, /opt/data holds c (its layer 2 made it opaque).
  sub: ['C /etc', 'C /etc/motd', 'A /etc/new', 'C /opt', 'C /opt/data', 'D /opt/data/c', 'A /opt/data/fresh', 'D /opt/suid'],
  // The root-only image: no /etc/motd, /opt/data holds a and b.
  nosub: ['C /etc', 'A /etc/motd', 'A /etc/new', 'D /etc/gone', 'C /opt', 'C /opt/data', 'D /opt/data/a', 'D /opt/data/b', 'A /opt/data/fresh'],
};

function scenario(kind: 'sub' | 'nosub', mode: 'overlay' | 'copy') {
  const image = () => (kind === 'sub' ? fixture.images.layers : fixture.images.rootonly);
  const owner = kind === 'sub' ? '1000:1000' : '0:0';
  const deleted = kind === 'sub' ? 'opt/suid' : 'etc/gone';
  let e: Env;
  let user: TestUser;
  const modeEnv: Record<string, string> = mode === 'copy' ? { NOOK_OVERLAY: 'copy' } : {};

  beforeAll(async () => {
    const u = testUsers()[kind];
    if (!u) return;
    user = u;
    e = containerEnv(user);
    await ok(e, ['pull', '-q', PLAIN, image()]);
  });

  it(`diff lists the changes, commit makes an image with exactly that tree, history shows the step (${kind}, ${mode})`, async (ctx) => {
    need(ctx, kind);
    const before = await ok(e, ['run', '--rm', image(), 'sh', '-c', LIST], modeEnv);
    await ok(e, ['run', '--name', 'changer', image(), 'sh', '-c', script(owner, deleted)], modeEnv);
    const diff = (await ok(e, ['diff', 'changer'])).trim().split('\n');
    expect(diff).toEqual(byPath(EXPECTED_DIFF[kind]));

    const id = (await ok(e, ['commit', '-m', 'my change', '-c', 'ENV COMMITTED=yes', '-c', 'CMD ["cat", "/etc/new"]', 'changer', 'committed:1'])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const after = await ok(e, ['run', '--rm', 'committed:1', 'sh', '-c', LIST], modeEnv);
    const lines = after.trim().split('\n');
    expect(lines).toContain(`etc/new ${owner} 644 new`);
    expect(lines).toContain(`${deleted} -`);
    expect(lines).toContain('opt/data/fresh 0:0 644 fresh');
    expect(lines).toContain('opt/data/a -'); // the opaque directory hides the image's content
    expect(lines.find((l) => l.startsWith('etc/motd '))).toMatch(/changed$/);
    // Everything not changed is as it was.
    const untouched = (text: string) => text.trim().split('\n').filter((l) => /^(etc\/gone|opt\/alice-file|opt\/suid) /.test(l) && !l.startsWith(`${deleted} `));
    expect(untouched(after)).toEqual(untouched(before));
    // The -c changes, and the default command.
    expect(await ok(e, ['run', '--rm', 'committed:1', 'sh', '-c', 'echo $COMMITTED $FOO'], modeEnv)).toBe('yes from-image\n');
    expect(await ok(e, ['run', '--rm', 'committed:1'], modeEnv)).toBe('new\n');

    const history = JSON.parse(await ok(e, ['history', '--format', 'json', 'committed:1'])) as { ID: string; CreatedBy: string; Comment: string; Size: number }[];
    expect(history[0]).toMatchObject({ ID: id.slice(7, 19), CreatedBy: `sh -c ${script(owner, deleted)}`, Comment: 'my change' });
    expect(history[0].Size).toBeGreaterThan(0);
    expect(history.slice(1).every((h) => h.ID === '<missing>')).toBe(true);
    const table = await ok(e, ['history', 'committed:1']);
    expect(table.split('\n')[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(table.split('\n')[1]).toContain('my change');
    expect((await ok(e, ['history', '-q', '--no-trunc', 'committed:1'])).split('\n')[0]).toBe(id);
    expect((await ok(e, ['image', 'history', '--format', '{{.ID}}: {{.Comment}}', 'committed:1'])).split('\n')[0]).toBe(`${id.slice(7, 19)}: my change`);

    // Reproducible: with SOURCE_DATE_EPOCH, the same container commits to the same image twice.
    const epoch = { SOURCE_DATE_EPOCH: '1700000000' };
    const r1 = (await ok(e, ['commit', '-m', 'again', 'changer'], epoch)).trim();
    const r2 = (await ok(e, ['commit', '-m', 'again', '--pause=false', 'changer'], epoch)).trim();
    expect(r2).toBe(r1);
    expect(r1).not.toBe(id);
    const dated = JSON.parse(await ok(e, ['inspect', '--type', 'image', r1]))[0];
    expect(dated.Created).toBe('2023-11-14T22:13:20Z');

    // A container with nothing changed commits to an image with an empty_layer entry.
    await ok(e, ['run', '--name', 'idle', image(), 'true'], modeEnv);
    expect(await ok(e, ['diff', 'idle'])).toBe('');
    await ok(e, ['commit', 'idle', 'same:1']);
    const same = JSON.parse(await ok(e, ['inspect', '--type', 'image', 'same:1']))[0];
    const base = JSON.parse(await ok(e, ['inspect', '--type', 'image', image()]))[0];
    expect(same.RootFS.Layers).toEqual(base.RootFS.Layers);
    await ok(e, ['rm', 'changer', 'idle']);
  });
}

describe('commit, diff and history: user with subordinate ids, overlayfs', () => scenario('sub', 'overlay'));
describe('commit, diff and history: user without subordinate ids, overlayfs', () => scenario('nosub', 'overlay'));
describe('commit, diff and history: copy fallback', () => scenario('sub', 'copy'));

describe('commit of a running container', () => {
  it('pauses it while reading and leaves it running', async (ctx) => {
    const user = need(ctx, 'sub');
    const e = containerEnv(user);
    await ok(e, ['pull', '-q', PLAIN, fixture.images.rootonly]);
    const sig = scratchDir(user, 'sig-');
    // Counts on while it runs; the file it writes is part of the layer. It is replaced whole (written
    // aside, then renamed): a pause can stop a shell between the truncation and the write of a plain
    // `echo > file` (a cgroup freezer would too), and the layer would then hold that moment's empty file.
    const id = (await ok(e, ['run', '-d', '--name', 'busy', '-v', `${sig}:/sig`, fixture.images.rootonly, 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; echo $i > /sig/count; sleep 0.05; done'])).trim();
    // A failure below must not leave it running for the tests that check that nothing is left.
    onTestFinished(async () => {
      await e.nook(['rm', '-f', 'busy'], { env: e.opts.env, timeoutMs: 60_000 });
    });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const count = () => Number(fs.readFileSync(path.join(sig, 'count'), 'utf8').trim() || '0');
    await until(() => count() > 2);
    expect((await ok(e, ['diff', 'busy'])).split('\n')).toEqual(expect.arrayContaining(['C /tmp', 'A /tmp/count']));
    const image = (await ok(e, ['commit', 'busy', 'busy:1'])).trim();
    expect(image).toMatch(/^sha256:/);
    // Still running and counting: resumed.
    const at = count();
    await until(() => count() > at + 2);
    const ps = JSON.parse(await ok(e, ['ps', '--format', 'json'])) as { Names: string[]; State: string }[];
    expect(ps.find((p) => p.Names.includes('busy'))?.State).toBe('running');
    // The committed file is whole: a number, as written at the moment of the commit.
    expect(await ok(e, ['run', '--rm', 'busy:1', 'cat', '/tmp/count'])).toMatch(/^\d+\n$/);
    await ok(e, ['rm', '-f', 'busy']);
  });
});

describe('commit and diff errors', () => {
  it('name the problem, exit 1 as docker, and leave no image behind', async () => {
    const e = containerEnv(testUsers().any);
    await ok(e, ['run', '--name', 'fromdir', '--rootfs', rootfs(), '--', 'true']);
    for (const args of [['diff', 'fromdir'], ['commit', 'fromdir', 'x:1']]) {
      const r = await e.nook(args);
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr).toMatch(/container fromdir has no writable layer: it was run from a directory, not an image/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    }
    const bad = await e.nook(['commit', '-c', 'RUN make', 'fromdir']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/RUN is not an instruction commit can apply/);
    const missing = await e.nook(['diff', 'nosuch']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nosuch/);
    expect(fs.existsSync(path.join(e.store, 'images')) ? fs.readdirSync(path.join(e.store, 'images')) : []).toEqual([]);
  });
});

/** Waits for `cond`, polling (it depends on another process's progress), for at most 10 s. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the container');
    await new Promise((r) => setTimeout(r, 20));
  }
}

