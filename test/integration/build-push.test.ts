/**
 * Build → push → pull → run, and what tools no nook code wrote make of a
 * built image: `skopeo inspect` and `skopeo copy` of what nook pushed, and
 * `umoci unpack` of the copy, whose file tree (owners, modes, links, with the
 * whiteouts and the opaque directory applied) must be the tree a container
 * of the image sees.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOk, importBase, makeContext } from '../helpers/build';
import { env, ok } from '../helpers/containers';
import { startRegistry, tempDir, type RegistryServer } from '../helpers/registry';
import { need } from '../helpers/users';

const PLAIN = '--tls-verify=false';
let registry: RegistryServer;

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

/** The directories the build changes, as a listing: path, type and permission bits (stat's %f), owner, size or link target. */
const DIRS = ['/app', '/data', '/opaque', '/etc'];
// What the runtime adds to a container (not the image's): /etc/mtab is made when the image has none.
const SKIP = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/etc/mtab']);
const LIST_SCRIPT = `for f in $(find ${DIRS.join(' ')} | sort); do if [ -L "$f" ]; then echo "$f link $(readlink "$f")"; else stat -c '%n %f %u:%g %s' "$f"; fi; done`;

function listTree(rootfs: string): string {
  const out: string[] = [];
  const walk = (rel: string) => {
    const st = fs.lstatSync(path.join(rootfs, rel));
    if (st.isSymbolicLink()) out.push(`${rel} link ${fs.readlinkSync(path.join(rootfs, rel))}`);
    else out.push(`${rel} ${st.mode.toString(16)} ${st.uid}:${st.gid} ${st.size}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(path.join(rootfs, rel))) walk(path.posix.join(rel, name));
  };
  for (const d of DIRS) walk(d);
  const sorted = out.sort((a, b) => (a.split(' ')[0] < b.split(' ')[0] ? -1 : 1));
  return sorted.filter((l) => !SKIP.has(l.split(' ')[0])).join('\n') + '\n';
}

describe('a built image, pushed', () => {
  it('pulls back into a fresh store as it ran before, and skopeo and umoci see the same tree as nook run', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: [
        'FROM base:1',
        'RUN mkdir -p /opaque/old /data && echo old > /opaque/old/f && echo keep > /data/keep && echo gone > /data/gone',
        'RUN rm /etc/somefile /data/gone && rm -rf /opaque && mkdir /opaque && echo new > /opaque/new && chown 1000:1000 /opaque/new && chmod 640 /opaque/new',
        'COPY --chown=1000:1000 app/ /app/',
        'RUN chmod 4755 /app/tool && ln /app/tool /app/tool-hardlink && ln -s tool /app/tool-link',
        'USER 1000',
        'RUN touch /app/made-by-user',
      ].join('\n'),
      'app/tool': '#!/bin/sh\necho tool\n',
      'app/readme': 'readme\n',
    });
    const ref = `${registry.host}/built/tree:v1`;
    await buildOk(e, dir, ['-t', ref]);
    const seen = await ok(e, ['run', '--rm', '-u', '0', ref, 'sh', '-c', LIST_SCRIPT]);
    const expectLines = ['/app/made-by-user 81a4 1000:1000', '/app/tool 89ed 1000:1000', '/opaque/new 81a0 1000:1000 4', '/data/keep 81a4 0:0 5'];
    for (const l of expectLines) expect(seen).toContain(l);
    expect(seen).not.toMatch(/\/etc\/somefile|\/data\/gone|\/opaque\/old/);

    await ok(e, ['push', PLAIN, ref]);
    const fresh = env(e.user);
    expect(await ok(fresh, ['run', '--rm', PLAIN, '-u', '0', ref, 'sh', '-c', LIST_SCRIPT])).toBe(seen);

    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', PLAIN, `docker://${ref}`], { encoding: 'utf8' })) as { Layers: string[] };
    const local = JSON.parse(await ok(e, ['image', 'inspect', ref])) as { RootFS: { Layers: string[] } }[];
    expect(inspect.Layers).toHaveLength(local[0].RootFS.Layers.length);

    const work = tempDir('nook-umoci-');
    try {
      const policy = fs.existsSync('/etc/containers/policy.json') ? [] : ['--insecure-policy'];
      execFileSync('skopeo', [...policy, 'copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${work}/layout:v1`], { stdio: 'pipe' });
      execFileSync('umoci', ['unpack', '--image', `${work}/layout:v1`, `${work}/bundle`], { stdio: 'pipe' });
      expect(listTree(path.join(work, 'bundle', 'rootfs'))).toBe(seen.split('\n').filter((l) => l && !SKIP.has(l.split(' ')[0])).join('\n') + '\n');
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
