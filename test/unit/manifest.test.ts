import { describe, expect, it } from 'vitest';
import { MediaType, parseManifest, parsePlatform, selectPlatform, type ImageIndex } from '../../src/image/manifest';

const d = (n: number) => 'sha256:' + String(n).repeat(64).slice(0, 64);

describe('manifests', () => {
  it('parses an OCI manifest and a Docker schema 2 manifest', () => {
    for (const mediaType of [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST]) {
      const m = parseManifest(
        JSON.stringify({ schemaVersion: 2, mediaType, config: { mediaType: 'c', digest: d(1), size: 10 }, layers: [{ mediaType: 'l', digest: d(2), size: 20 }] }),
      );
      expect(m.kind).toBe('manifest');
      if (m.kind !== 'manifest') throw new Error('unreachable');
      expect(m.config.digest).toBe(d(1));
      expect(m.layers.map((l) => l.size)).toEqual([20]);
    }
  });

  it('tells an index by its media type, or by the Content-Type when the body has none', () => {
    const body = JSON.stringify({ schemaVersion: 2, manifests: [{ digest: d(3), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] });
    expect(parseManifest(body, `${MediaType.DOCKER_LIST}; charset=utf-8`).kind).toBe('index');
    expect(parseManifest(body).kind).toBe('index');
  });

  it('refuses schema 1, non-JSON and descriptors without a digest', () => {
    expect(() => parseManifest('{"schemaVersion":1}')).toThrow(/unsupported manifest schema version 1/);
    expect(() => parseManifest('<html>')).toThrow(/not JSON/);
    expect(() => parseManifest(JSON.stringify({ schemaVersion: 2, config: { size: 1 }, layers: [] }))).toThrow(/bad digest/);
  });
});

describe('platforms', () => {
  const index: ImageIndex = {
    kind: 'index',
    mediaType: MediaType.OCI_INDEX,
    manifests: [
      { mediaType: MediaType.OCI_MANIFEST, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MediaType.OCI_MANIFEST, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: MediaType.OCI_MANIFEST, digest: d(3), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: MediaType.OCI_MANIFEST, digest: d(4), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };

  it('picks the matching entry; arm64 without a variant is v8', () => {
    expect(selectPlatform(index, { os: 'linux', architecture: 'amd64' }, 'x').digest).toBe(d(1));
    expect(selectPlatform(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x').digest).toBe(d(3));
    expect(selectPlatform(index, parsePlatform('linux/arm/v7'), 'x').digest).toBe(d(2));
  });

  it('lists what exists when nothing fits, without attestation entries', () => {
    expect(() => selectPlatform(index, { os: 'linux', architecture: 's390x' }, 'debian:12')).toThrow(/debian:12 has no image for linux\/s390x/);
    try {
      selectPlatform(index, { os: 'linux', architecture: 's390x' }, 'debian:12');
    } catch (e) {
      expect((e as { hint: string }).hint).toBe('it has: linux/amd64, linux/arm/v7, linux/arm64; choose one with --platform');
    }
  });

  it('parses --platform and refuses malformed values', () => {
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(() => parsePlatform('amd64')).toThrow(/invalid platform "amd64"/);
    expect(() => parsePlatform('linux/arm/v7/x')).toThrow(/invalid platform/);
  });
});
