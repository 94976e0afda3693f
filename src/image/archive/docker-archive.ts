/**
 * docker-archive: what `docker save` writes and `docker load` reads.
 *
 *   manifest.json        [{"Config":"<hex>.json","RepoTags":["debian:12"],"Layers":["<hex>/layer.tar",...]}]
 *   <hex>.json           the image config (its sha256 is the image id)
 *   <hex>/layer.tar      each layer, uncompressed: its sha256 is the layer's diff_id
 *   repositories         {"debian":{"12":"<top layer>"}}, for docker before 1.10
 *
 * Docker 25 and later write an OCI layout with manifest.json beside it,
 * whose paths then point into blobs/sha256/; both read the same way, and
 * the layout's own manifest is kept when there is one.
 */
import fs = require('node:fs');
import { NookError } from '../../errors';
import { parseImageConfig } from '../config';
import type { ImageStore, LayerRecord } from '../store/store';
import { layerMediaType, type Compression } from './compression';
import type { ImageToInstall } from './install';
import { buildManifest } from './manifest-build';
import { familiarName, normalizeName, repoAndTag } from './names';
import { plainLayer } from './plain-layer';
import { findLayoutManifest, imageTime, type SaveItem } from './oci-layout';
import type { Spool } from './spool';
import type { TarWriter } from './tar-writer';
import { verifyLayer } from './verify';

interface ManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

function parseEntries(doc: unknown, what: string): ManifestEntry[] {
  const bad = (why: string) => new NookError(`manifest.json in ${what} is malformed: ${why}`, { hint: 'the archive is damaged; save it again' });
  if (!Array.isArray(doc)) throw bad('it is not a list');
  return doc.map((e: Partial<ManifestEntry> | null, i) => {
    if (!e || typeof e !== 'object') throw bad(`entry ${i + 1} is not an object`);
    if (typeof e.Config !== 'string' || !e.Config) throw bad(`entry ${i + 1} has no Config`);
    if (!Array.isArray(e.Layers) || e.Layers.some((l) => typeof l !== 'string')) throw bad(`entry ${i + 1} has no Layers list`);
    const tags = e.RepoTags ?? null;
    if (tags !== null && (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string'))) throw bad(`entry ${i + 1} has a RepoTags that is not a list of names`);
    return { Config: e.Config, RepoTags: tags, Layers: e.Layers };
  });
}

function readEntry(spool: Spool, e: ManifestEntry, n: number): ImageToInstall {
  const what = spool.what;
  const names = (e.RepoTags ?? []).map((t) => normalizeName(t, `manifest.json in ${what}`));
  const label = names[0] ? familiarName(names[0]) : `image ${n + 1}`;
  const configFile = spool.require(e.Config, 'manifest.json');
  const config = parseImageConfig(spool.read(configFile, e.Config), `${label} in ${what}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== e.Layers.length)
    throw new NookError(`${label} in ${what} is malformed: manifest.json lists ${e.Layers.length} layers, its config ${diffIds.length}`, {
      hint: 'the archive is damaged; save it again',
    });
  const files = e.Layers.map((name, i) => {
    const file = spool.require(name, 'manifest.json');
    verifyLayer(file, diffIds[i], name, i, label, what);
    return file;
  });
  const configDigest = configFile.digest;
  const blobs: ImageToInstall['blobs'] = [{ digest: configDigest, file: configFile }, ...files.map((f) => ({ digest: f.digest, file: f }))];

  // Docker 25+: the OCI layout beside manifest.json has the image's real manifest.
  const found = spool.has('index.json')
    ? findLayoutManifest(
        spool,
        configDigest,
        files.map((f) => f.digest),
      )
    : undefined;
  let layers: LayerRecord[];
  let manifest: { digest: string; mediaType: string };
  if (found) {
    layers = found.manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: diffIds[i] }));
    manifest = found;
    blobs.push({ digest: found.digest, file: found.file });
  } else {
    layers = files.map((f, i) => ({ digest: f.digest, size: f.size, mediaType: layerMediaType(f.compression as Compression), diffId: diffIds[i] }));
    const built = buildManifest({ digest: configDigest, size: configFile.size }, layers);
    manifest = built;
    blobs.push({ digest: built.digest, body: built.body });
  }
  return {
    names,
    configDigest,
    config,
    manifestDigest: manifest.digest,
    manifestMediaType: manifest.mediaType,
    layers,
    blobs,
    label,
  };
}

/** Every image manifest.json lists, checked down to each layer's diff_id; entries for the same image merged. */
export function readDockerArchive(spool: Spool): ImageToInstall[] {
  const entries = parseEntries(spool.json('manifest.json', 'the archive'), spool.what);
  if (!entries.length) throw new NookError(`${spool.what} holds no images: its manifest.json is empty`);
  const byId = new Map<string, ImageToInstall>();
  entries.forEach((e, n) => {
    const img = readEntry(spool, e, n);
    const seen = byId.get(img.configDigest);
    if (seen) seen.names = [...new Set([...seen.names, ...img.names])];
    else byId.set(img.configDigest, img);
  });
  return [...byId.values()];
}

// ---- writing

function readConfig(store: ImageStore, item: SaveItem, label: string): Buffer {
  try {
    return fs.readFileSync(store.blobs.path(item.record.id));
  } catch {
    throw new NookError(`the store lacks the config of ${label}`, { hint: `pull or load ${label} again` });
  }
}

/** Writes `items` as docker save does: layers, configs, then manifest.json and repositories. */
export async function writeDockerArchive(store: ImageStore, items: SaveItem[], tar: TarWriter): Promise<void> {
  const plan = items.map((item) => {
    const label = item.names[0] ? familiarName(item.names[0]) : item.record.id.slice(7, 19);
    return { item, label, config: readConfig(store, item, label) };
  });
  const latest = new Date(Math.max(0, ...items.map((i) => imageTime(i.record).getTime())));
  const written = new Set<string>();
  const manifest: ManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { item, label, config } of plan) {
    const mtime = imageTime(item.record);
    const layerPaths: string[] = [];
    for (const layer of item.record.layers) {
      const hex = layer.diffId.slice(7);
      layerPaths.push(`${hex}/layer.tar`);
      if (written.has(hex)) continue;
      written.add(hex);
      const plain = await plainLayer(store, layer, label);
      await tar.dir(hex, mtime);
      await tar.stream(`${hex}/layer.tar`, plain.size, plain.open(), mtime);
    }
    const configName = `${item.record.id.slice(7)}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      await tar.file(configName, config, mtime);
    }
    const tags = item.names.map(repoAndTag).filter((t) => t !== undefined);
    manifest.push({ Config: configName, RepoTags: tags.length ? tags.map((t) => `${t.repo}:${t.tag}`) : null, Layers: layerPaths });
    const top = layerPaths.at(-1)?.split('/')[0];
    if (top) for (const t of tags) (repositories[t.repo] ??= {})[t.tag] = top;
  }
  await tar.file('manifest.json', `${JSON.stringify(manifest)}\n`, latest);
  if (Object.keys(repositories).length) await tar.file('repositories', `${JSON.stringify(repositories)}\n`, latest);
}
