/**
 * For the archive tests: stores in temp dirs, tar archives read into memory,
 * and archives built by hand the way docker and OCI tools write them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { StoreHelper } from '../../src/image/store/helper-client';
import { ImageStore } from '../../src/image/store/store';
import { computeIdMapping, hostIdentity, isMapped, type IdRange } from '../../src/sandbox/idmap';
import { makeLayer, type LayerEntry } from '../helpers/layers';

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const hex = (digest: string) => digest.slice(7);

const made: string[] = [];

export function tempDir(prefix = 'nook-archive-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/**
 * Removes the temp dirs made so far. Run by a user other than root, a store
 * holds files owned by that user's subordinate ids, which only nook's store
 * helper (in the user namespace) may remove, as nook itself does.
 */
export async function cleanup(): Promise<void> {
  const left: string[] = [];
  for (const d of made.splice(0)) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      left.push(d);
    }
  }
  if (left.length === 0) return;
  const helper = new StoreHelper();
  try {
    await helper.remove(left);
  } finally {
    await helper.close();
  }
}

/** The ids nook maps for whoever runs the tests: all of them as root, else the user's own and its subordinate ids. */
const idmap = computeIdMapping(hostIdentity(), { keepId: false });
const toHost = (ranges: IdRange[], inside: number) => {
  const r = ranges.find((x) => inside >= x.inside && inside - x.inside < x.count);
  if (!r) throw new Error(`id ${inside} is not mapped`);
  return r.outside + inside - r.inside;
};
/** The host uid and gid of a file the store helper gave owner `uid:gid` inside: the same as root, shifted into the subordinate ids otherwise. */
export const hostOwner = (uid: number, gid: number): [number, number] => [toHost(idmap.uid, uid), toHost(idmap.gid, gid)];

/**
 * Why the archive tests cannot run here, or null: ROOTFS has files owned by
 * 42 and 1000, which nook can give only where it maps more than one id.
 */
export const WHY_NO_OWNERS =
  isMapped(idmap.uid, 1000) && isMapped(idmap.gid, 1000)
    ? null
    : `needs root or a user with /etc/subuid and /etc/subgid ranges (and newuidmap): the test images have files owned by several ids (${idmap.singleIdReason ?? 'only one id mapped'})`;

export const newStore = () => new ImageStore(tempDir('nook-store-'));

export interface TarItem {
  type: string;
  content: Buffer;
  linkpath?: string;
  mode?: number;
}

/** Every entry of a tar archive (plain or compressed), by name. */
export async function readTar(data: Buffer): Promise<Map<string, TarItem>> {
  const out = new Map<string, TarItem>();
  await new Promise<void>((resolve, reject) => {
    const p = new Parser({
      strict: true,
      onReadEntry: (e: ReadEntry) => {
        const chunks: Buffer[] = [];
        e.on('data', (c: Buffer) => chunks.push(c));
        e.on('end', () => out.set(e.path, { type: e.type, content: Buffer.concat(chunks), linkpath: e.linkpath, mode: e.mode }));
      },
    });
    p.on('error', reject);
    p.on('end', () => resolve());
    p.end(data);
  });
  return out;
}

/** `data` as a stream of small chunks, like a pipe delivers it. */
export function chunked(data: Buffer, size = 7000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

/** A small root filesystem: files with modes and an owner, a directory, a symlink. */
export const ROOTFS: LayerEntry[] = [
  { path: 'etc/', type: 'dir' },
  { path: 'etc/hostname', content: 'nook\n' },
  { path: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o640, uid: 0, gid: 42 },
  { path: 'home/', type: 'dir' },
  { path: 'home/user/', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
  { path: 'home/user/notes', content: 'hello\n', uid: 1000, gid: 1000, mode: 0o600 },
  { path: 'bin/', type: 'dir' },
  { path: 'bin/hello', content: '#!/bin/sh\necho hello\n', mode: 0o755 },
  { path: 'bin/hi', type: 'symlink', linkname: 'hello' },
];

/** A second layer on top of ROOTFS. */
export const UPPER: LayerEntry[] = [
  { path: 'etc/', type: 'dir' },
  { path: 'etc/hostname', content: 'upper\n' },
  { path: 'opt/', type: 'dir' },
  { path: 'opt/app', content: 'app\n', mode: 0o755 },
];

export interface ImageConfigDoc {
  architecture: string;
  os: string;
  created: string;
  config: { Cmd: string[] };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: { created: string; created_by: string }[];
}

export function configFor(layers: Buffer[]): ImageConfigDoc {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-05-01T10:00:00Z',
    config: { Cmd: ['/bin/hello'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) },
    history: layers.map(() => ({ created: '2024-05-01T10:00:00Z', created_by: 'test' })),
  };
}

/**
 * An archive as `docker save` before 25 writes it: a directory per layer
 * (named by a v1 id) with VERSION, json and layer.tar, the config as
 * <hex>.json, manifest.json and repositories. A layer that occurs twice is a
 * symlink to the first copy, as docker writes it. `layers` are uncompressed
 * tars; `configLayers` (default `layers`) are what the config's diff_ids
 * are computed from.
 */
export function legacyDockerArchive(tag: string | null, layers: Buffer[], configLayers = layers): { archive: Buffer; configDigest: string } {
  const config = Buffer.from(JSON.stringify(configFor(configLayers)));
  const entries: LayerEntry[] = [];
  const paths: string[] = [];
  const firstOf = new Map<string, string>();
  layers.forEach((layer, i) => {
    const id = hex(sha(`v1 layer ${i}`));
    entries.push({ path: `${id}/`, type: 'dir' }, { path: `${id}/VERSION`, content: '1.0' }, { path: `${id}/json`, content: JSON.stringify({ id }) });
    const first = firstOf.get(sha(layer));
    if (first) entries.push({ path: `${id}/layer.tar`, type: 'symlink', linkname: `../${first}/layer.tar` });
    else {
      entries.push({ path: `${id}/layer.tar`, content: layer });
      firstOf.set(sha(layer), id);
    }
    paths.push(`${id}/layer.tar`);
  });
  const configName = `${hex(sha(config))}.json`;
  entries.push({ path: configName, content: config });
  entries.push({ path: 'manifest.json', content: JSON.stringify([{ Config: configName, RepoTags: tag ? [tag] : null, Layers: paths }]) });
  if (tag) {
    const [repo, t] = tag.split(':');
    entries.push({ path: 'repositories', content: JSON.stringify({ [repo]: { [t]: paths.at(-1)!.split('/')[0] } }) + '\n' });
  }
  return { archive: makeLayer(entries), configDigest: sha(config) };
}

/**
 * An archive as docker 25+ writes it: an OCI layout (uncompressed layers as
 * blobs, an OCI manifest, index.json with both name annotations) plus
 * manifest.json pointing into blobs/sha256.
 */
export function modernDockerArchive(name: string, tag: string, layers: Buffer[]): { archive: Buffer; configDigest: string; manifestDigest: string } {
  const config = Buffer.from(JSON.stringify(configFor(layers)));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(l), size: l.length })),
    }),
  );
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha(manifest),
        size: manifest.length,
        annotations: { 'io.containerd.image.name': `docker.io/library/${name}:${tag}`, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  const blob = (b: Buffer): LayerEntry => ({ path: `blobs/sha256/${hex(sha(b))}`, content: b });
  const entries: LayerEntry[] = [
    { path: 'blobs/', type: 'dir' },
    { path: 'blobs/sha256/', type: 'dir' },
    ...layers.map(blob),
    blob(config),
    blob(manifest),
    { path: 'index.json', content: JSON.stringify(index) },
    {
      path: 'manifest.json',
      content: JSON.stringify([{ Config: `blobs/sha256/${hex(sha(config))}`, RepoTags: [`${name}:${tag}`], Layers: layers.map((l) => `blobs/sha256/${hex(sha(l))}`) }]),
    },
    { path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
  ];
  return { archive: makeLayer(entries), configDigest: sha(config), manifestDigest: sha(manifest) };
}

/** What a store holds, for checking that a refused load left nothing: images, refs, layers, blobs, temporary files. */
export function storeContents(store: ImageStore): Record<string, string[]> {
  const list = (...p: string[]) => {
    try {
      return fs.readdirSync(store.p(...p)).sort();
    } catch {
      return [];
    }
  };
  return {
    images: list('images'),
    refs: Object.keys(store.refs()),
    layers: list('layers').filter((n) => n !== 'tmp'),
    layersTmp: list('layers', 'tmp'),
    links: list('l'),
    blobs: list('blobs', 'sha256'),
    blobsTmp: list('blobs', 'tmp'),
    tmp: list('tmp'),
  };
}

export const EMPTY_STORE = { images: [], refs: [], layers: [], layersTmp: [], links: [], blobs: [], blobsTmp: [], tmp: [] };
