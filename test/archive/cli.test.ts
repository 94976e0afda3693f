/**
 * The save, load and import commands, called in-process with NOOK_ROOT
 * pointing at a temp store: what they print, and what they refuse.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { importCommand, loadCommand, saveCommand } from '../../src/cli/archive';
import { formatBytes } from '../../src/cli/format';
import { NookError } from '../../src/errors';
import { ImageStore } from '../../src/image/store/store';
import { makeLayer } from '../helpers/layers';
import { REPO } from '../helpers/paths';
import { skipAllIf } from '../helpers/skip';
import { cleanup, legacyDockerArchive, readTar, ROOTFS, sha, tempDir, WHY_NO_OWNERS } from './helpers';

beforeAll(() => {
  process.env.NOOK_SELF = path.join(REPO, 'build/nook');
});
afterEach(async () => {
  delete process.env.NOOK_ROOT;
  await cleanup();
});
skipAllIf(WHY_NO_OWNERS);

type Command = (argv: string[]) => Promise<number>;

/** Runs a command against the store at `root`, collecting what it prints. */
async function run(cmd: Command, argv: string[], root: string): Promise<{ code: number; out: string }> {
  const write = process.stdout.write;
  let out = '';
  process.env.NOOK_ROOT = root;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await cmd(argv), out };
  } finally {
    process.stdout.write = write;
  }
}

async function refused(cmd: Command, argv: string[], root: string): Promise<NookError> {
  try {
    await run(cmd, argv, root);
  } catch (e) {
    expect(e).toBeInstanceOf(NookError);
    expect((e as NookError).exitCode).toBe(125);
    return e as NookError;
  }
  throw new Error(`${argv.join(' ')} succeeded, but should have been refused`);
}

const rootfsGz = makeLayer(ROOTFS, { compression: 'gzip' });

function file(data: Buffer, name: string): string {
  const f = path.join(tempDir(), name);
  fs.writeFileSync(f, data);
  return f;
}

describe('nook import', () => {
  it('prints the new image id and names the image', async () => {
    const root = tempDir();
    const { code, out } = await run(importCommand, [file(rootfsGz, 'rootfs.tar.gz'), 'myroot:1'], root);
    expect(code).toBe(0);
    const store = new ImageStore(root);
    const [rec] = store.images();
    expect(out).toBe(`${rec.id}\n`);
    expect(store.refs()).toEqual({ 'docker.io/library/myroot:1': rec.id });
    const config = store.config(rec) as { history?: { comment?: string }[] };
    expect(config.history?.[0].comment).toMatch(/^Imported from .*rootfs.tar.gz$/);
  });

  it('gives a name without a tag the tag latest, and takes --message', async () => {
    const root = tempDir();
    await run(importCommand, ['-m', 'my root', file(rootfsGz, 'r.tgz'), 'ghcr.io/me/root'], root);
    const store = new ImageStore(root);
    expect(Object.keys(store.refs())).toEqual(['ghcr.io/me/root:latest']);
    expect((store.config(store.images()[0]) as { history?: { comment?: string }[] }).history?.[0].comment).toBe('my root');
  });

  it('refuses a missing file, a URL, a digest as name, a --change it cannot apply and wrong arguments', async () => {
    const root = tempDir();
    expect((await refused(importCommand, [path.join(root, 'nope.tar')], root)).message).toMatch(/nope.tar: no such file/);
    expect((await refused(importCommand, ['https://example.com/rootfs.tar'], root)).message).toMatch(/reads local files, not URLs/);
    expect((await refused(importCommand, [file(rootfsGz, 'r.tgz'), `x@${sha('x')}`], root)).message).toMatch(/cannot name an image with a digest/);
    expect((await refused(importCommand, ['-c', 'RUN true', file(rootfsGz, 'r.tgz')], root)).message).toMatch(/RUN is not an instruction commit can apply/);
    expect((await refused(importCommand, [], root)).message).toMatch(/takes a tarball and, optionally, a name/);
    expect((await refused(importCommand, [file(Buffer.from('not a tar'.repeat(100)), 'x.tar'), 'x:1'], root)).message).toMatch(/x.tar is not a tar archive/);
    expect(new ImageStore(root).images()).toEqual([]);
  });
});

describe('nook save and nook load', () => {
  it('round-trips through a file, printing what docker load prints', async () => {
    const src = tempDir();
    await run(importCommand, [file(rootfsGz, 'r.tgz'), 'myroot:1'], src);
    const out = path.join(tempDir(), 'myroot.tar');
    expect((await run(saveCommand, ['-o', out, 'myroot:1'], src)).out).toBe('');

    const dst = tempDir();
    const loaded = await run(loadCommand, ['-i', out], dst);
    const layerId = new ImageStore(src).images()[0].layers[0];
    expect(loaded.out).toBe(`${sha(makeLayer(ROOTFS)).slice(7, 19)}: Loaded layer (${formatBytes(makeLayer(ROOTFS).length)})\nLoaded image: myroot:1\n`);
    expect(layerId.diffId).toBe(sha(makeLayer(ROOTFS)));
    // Again, quietly: the layer exists, only the image is named.
    expect((await run(loadCommand, ['-q', '--input', out], dst)).out).toBe('Loaded image: myroot:1\n');
    expect(new ImageStore(dst).images().map((r) => r.id)).toEqual(new ImageStore(src).images().map((r) => r.id));
  });

  it('names an image without a name by its id', async () => {
    const root = tempDir();
    const { archive, configDigest } = legacyDockerArchive(null, [makeLayer(ROOTFS)]);
    expect((await run(loadCommand, ['-q', '-i', file(archive, 'a.tar')], root)).out).toBe(`Loaded image ID: ${configDigest}\n`);
  });

  it('writes an OCI layout with --format oci', async () => {
    const root = tempDir();
    await run(importCommand, [file(rootfsGz, 'r.tgz'), 'myroot:1'], root);
    const out = path.join(tempDir(), 'oci.tar');
    await run(saveCommand, ['--format', 'oci', '-o', out, 'myroot'], root);
    const tar = await readTar(fs.readFileSync(out));
    expect(JSON.parse(tar.get('index.json')!.content.toString()).manifests[0].annotations['io.containerd.image.name']).toBe('docker.io/library/myroot:1');
  });

  it('refuses, creating no file: an unknown image, a missing directory, an unknown format', async () => {
    const root = tempDir();
    await run(importCommand, [file(rootfsGz, 'r.tgz'), 'myroot:1'], root);
    const dir = tempDir();
    expect((await refused(saveCommand, ['-o', path.join(dir, 'x.tar'), 'myroot:1', 'nosuch:2'], root)).message).toBe('No such image: nosuch:2');
    const missing = await refused(saveCommand, ['-o', path.join(dir, 'sub', 'x.tar'), 'myroot:1'], root);
    expect(missing.message).toMatch(/cannot write .*sub\/x.tar: the directory .*sub does not exist/);
    expect(missing.hint).toMatch(/create it first/);
    expect((await refused(saveCommand, ['--format', 'zip', '-o', path.join(dir, 'x.tar'), 'myroot:1'], root)).message).toBe('unknown archive format "zip"');
    expect((await refused(saveCommand, ['-o', dir, 'myroot:1'], root)).message).toMatch(/it is a directory/);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect((await refused(saveCommand, [], root)).message).toMatch(/needs at least one image/);
  });

  it('load refuses a missing file and arguments', async () => {
    const root = tempDir();
    expect((await refused(loadCommand, ['-i', path.join(root, 'none.tar')], root)).message).toMatch(/none.tar: no such file/);
    expect((await refused(loadCommand, ['image.tar'], root)).hint).toBe('read a file with -i: nook load -i image.tar');
  });
});
