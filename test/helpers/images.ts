/**
 * Test images, built from Debian's busybox-static and pushed to a real
 * registry (Debian's docker-registry) by the tests themselves:
 *
 * - `layers`: three layers (gzip, zstd, uncompressed) with a whiteout, an
 *   opaque directory, hardlinks, symlinks, a setuid file and files owned by
 *   several uids; Env, Cmd and WorkingDir in its config;
 * - `rootonly`: one layer, every file owned by root (runs without subuids);
 * - `multi`: an index with linux/amd64 and linux/arm64 images that differ by /etc/arch;
 * - `entry`: an Entrypoint and Cmd, and a User by name.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './paths';
import { busyboxApplets, BUSYBOX } from './rootfs';
import { makeLayer, opaque, whiteout, type LayerEntry } from './layers';
import { afterAll, beforeAll } from 'vitest';
import { describeImage, pushImage, pushIndex, startRegistry, type PushOptions, type RegistryServer, type TestImage } from './registry';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** test/helpers/euid.c, built static once per run (so it runs in the busybox image). */
function euidProgram(): Buffer {
  const out = path.join(REPO, 'build', 'out', 'test-euid');
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    execFileSync('cc', ['-static', '-O2', '-o', out, path.join(REPO, 'test', 'helpers', 'euid.c')]);
  }
  return fs.readFileSync(out);
}

export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:2:3:daemon:/usr/sbin:/bin/false\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n';
export const GROUP = 'root:x:0:\ndaemon:x:3:\ntty:x:5:\nalice:x:1000:\n';

/** A root filesystem with busybox and its applets, /etc/passwd and /etc/group. */
function baseEntries(owners: boolean): LayerEntry[] {
  const dirs: [string, number, number?][] = [
    ['bin', 0o755], ['etc', 0o755], ['tmp', 0o1777], ['root', 0o700], ['home', 0o755], ['opt', 0o755], ['opt/data', 0o755],
    ['proc', 0o755], ['dev', 0o755], ['sys', 0o755],
  ];
  const entries: LayerEntry[] = dirs.map(([p, mode]) => ({ path: `${p}/`, type: 'dir', mode }));
  if (owners) entries.push({ path: 'home/alice/', type: 'dir', mode: 0o750, uid: 1000, gid: 1000 });
  entries.push({ path: 'bin/busybox', mode: 0o755, content: fs.readFileSync(BUSYBOX) });
  for (const a of busyboxApplets()) entries.push({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  entries.push(
    { path: 'etc/passwd', content: PASSWD },
    { path: 'etc/group', content: GROUP },
    { path: 'etc/gone', content: 'deleted by an upper layer\n' },
    { path: 'opt/data/a', content: 'a\n' },
    { path: 'opt/data/b', content: 'b\n' },
  );
  return entries;
}

interface Layer {
  entries: LayerEntry[];
  compression: 'gzip' | 'zstd' | 'none';
}

function image(layers: Layer[], config: Record<string, unknown>, arch = 'amd64'): TestImage {
  const built = layers.map((l) => ({ tar: makeLayer(l.entries), blob: makeLayer(l.entries, { compression: l.compression }) }));
  const mediaTypes = { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', none: 'application/vnd.oci.image.layer.v1.tar' };
  return {
    config: {
      architecture: arch,
      os: 'linux',
      created: '2026-01-02T03:04:05Z',
      config: config,
      rootfs: { type: 'layers', diff_ids: built.map((b) => sha256(b.tar)) },
      history: layers.map(() => ({ created_by: 'nook tests' })),
    },
    layers: built.map((b) => b.blob),
    // One media type per image in the test helper: the layers say what they are by their magic bytes anyway.
    layerMediaType: mediaTypes[layers[0].compression],
  };
}

export const ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=from-image'];

export function layersImage(): TestImage {
  return image(
    [
      { entries: baseEntries(true), compression: 'gzip' },
      {
        entries: [
          whiteout('etc/gone'),
          opaque('opt/data'),
          { path: 'opt/data/c', content: 'c\n' },
          { path: 'opt/hl1', content: 'hard\n' },
          { path: 'opt/hl2', type: 'hardlink', linkname: 'opt/hl1' },
          { path: 'opt/suid', mode: 0o4755, content: '#!/bin/sh\necho suid\n' },
          // A setuid-root program that prints its effective uid (busybox drops setuid rights itself).
          { path: 'opt/euid', mode: 0o4755, content: euidProgram() },
          { path: 'opt/alice-file', uid: 1000, gid: 1000, mode: 0o640, content: 'alice\n' },
          { path: 'opt/daemon-file', uid: 2, gid: 3, content: 'daemon\n' },
        ],
        compression: 'zstd',
      },
      {
        entries: [
          { path: 'etc/motd', content: 'hello from layer 3\n', mtime: 1600000000 },
          { path: 'opt/link', type: 'symlink', linkname: 'data/c' },
        ],
        compression: 'none',
      },
    ],
    { Env: ENV, Cmd: ['sh', '-c', 'echo default-cmd $FOO'], WorkingDir: '/opt' },
  );
}

export function rootOnlyImage(marker = 'rootonly', arch = 'amd64'): TestImage {
  return image(
    [{ entries: [...baseEntries(false), { path: 'etc/arch', content: `${marker}\n` }], compression: 'gzip' }],
    { Env: ENV, Cmd: ['cat', '/etc/arch'] },
    arch,
  );
}

/** The root-only image with one more layer of `entries` on top (a hostile image's tricks, say). */
export function rootOnlyImageWith(entries: LayerEntry[], config: Record<string, unknown> = {}): TestImage {
  return image(
    [
      { entries: baseEntries(false), compression: 'gzip' },
      { entries, compression: 'gzip' },
    ],
    { Env: ENV, Cmd: ['true'], ...config },
  );
}

export function entrypointImage(): TestImage {
  return image(
    [{ entries: [...baseEntries(true), { path: 'entry.sh', mode: 0o755, content: '#!/bin/sh\necho "entry: $*"\n' }], compression: 'gzip' }],
    { Env: ENV, Entrypoint: ['/entry.sh'], Cmd: ['default', 'args'], User: 'alice', WorkingDir: '/home/alice' },
  );
}

/** Pushes the test images to the registry at `host`; returns their names there. */
export async function publishTestImages(host: string, opts: PushOptions = {}): Promise<Record<'layers' | 'rootonly' | 'multi' | 'entry', string>> {
  await pushImage(host, 'nook/layers', 'v1', layersImage(), opts);
  await pushImage(host, 'nook/rootonly', 'latest', rootOnlyImage(), opts);
  await pushImage(host, 'nook/entry', 'latest', entrypointImage(), opts);
  const amd = rootOnlyImage('amd64', 'amd64');
  const arm = rootOnlyImage('arm64', 'arm64');
  const entries = [];
  for (const [img, platform] of [[amd, { os: 'linux', architecture: 'amd64' }], [arm, { os: 'linux', architecture: 'arm64', variant: 'v8' }]] as const) {
    const d = describeImage(img);
    await pushImage(host, 'nook/multi', d.digest, img, opts);
    entries.push({ digest: d.digest, size: d.size, mediaType: d.mediaType, platform });
  }
  await pushIndex(host, 'nook/multi', 'latest', entries, opts);
  return {
    layers: `${host}/nook/layers:v1`,
    rootonly: `${host}/nook/rootonly:latest`,
    multi: `${host}/nook/multi:latest`,
    entry: `${host}/nook/entry:latest`,
  };
}

export type TestImages = Awaited<ReturnType<typeof publishTestImages>>;

/**
 * A registry (no auth) with the test images, started before the tests of the
 * file or describe block that calls this and stopped after them; its fields
 * are set once they run.
 */
export function registryWithTestImages(): { registry: RegistryServer; images: TestImages } {
  const fixture = {} as { registry: RegistryServer; images: TestImages };
  beforeAll(async () => {
    fixture.registry = await startRegistry({ auth: 'none' });
    fixture.images = await publishTestImages(fixture.registry.host);
  });
  afterAll(async () => {
    await fixture.registry?.stop();
  });
  return fixture;
}
