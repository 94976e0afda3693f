import { describe, expect, it } from 'vitest';
import { mergeScopes, parseChallenges } from '../../src/image/registry/auth';
import { uploadedBytes, withDigest } from '../../src/image/registry/upload';

describe('WWW-Authenticate parsing', () => {
  it("reads Docker Hub's Bearer challenge", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull' } },
    ]);
  });

  it('reads Basic, with spaces around = and unquoted values', () => {
    expect(parseChallenges('Basic realm = "Registry Realm", charset=UTF-8')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm', charset: 'UTF-8' } }]);
  });

  it('separates several challenges in one header, and in several headers', () => {
    const both = [
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', service: 's' } },
    ];
    expect(parseChallenges('Basic realm="a", Bearer realm="https://t/x", service="s"')).toEqual(both);
    expect(parseChallenges(['Basic realm="a"', 'Bearer realm="https://t/x",service="s"'])).toEqual(both);
  });

  it('unescapes quoted strings, keeps commas inside them, and lowercases names and schemes', () => {
    expect(parseChallenges('BEARER Realm="a\\"b,c", Scope="repository:x:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'a"b,c', scope: 'repository:x:pull,push' } },
    ]);
  });

  it('survives empty and malformed headers', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('Bearer')).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseChallenges('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
    expect(parseChallenges('"junk" Basic realm=x')).toEqual([
      { scheme: 'junk', params: {} },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
  });
});

describe('token scopes', () => {
  it("merges the actions asked for one repository: a push's pull,push and a challenge's pull are one scope", () => {
    expect(mergeScopes(['repository:team/app:pull,push', 'repository:team/app:pull'])).toEqual(['repository:team/app:pull,push']);
    expect(mergeScopes(['repository:team/app:pull', 'repository:team/app:push'])).toEqual(['repository:team/app:pull,push']);
  });

  it('keeps the other repositories (a mount source) and scopes of other forms as they are', () => {
    expect(mergeScopes(['repository:a:pull,push', 'repository:b:pull', '', 'registry:catalog:*', 'opaque'])).toEqual([
      'repository:a:pull,push',
      'repository:b:pull',
      'registry:catalog:*',
      'opaque',
    ]);
  });

  it('keeps a registry host with a port in a repository name apart from its actions', () => {
    expect(mergeScopes(['repository:localhost:5000/a:pull', 'repository:localhost:5000/a:push'])).toEqual(['repository:localhost:5000/a:pull,push']);
  });
});

describe('upload locations', () => {
  it('appends digest= with & to a Location with a query (distribution\'s _state), with ? otherwise, and drops a fragment', () => {
    expect(withDigest('/v2/a/blobs/uploads/u1?_state=abc', 'sha256:00')).toBe('/v2/a/blobs/uploads/u1?_state=abc&digest=sha256%3A00');
    expect(withDigest('https://r.example/v2/a/blobs/uploads/u1', 'sha256:00')).toBe('https://r.example/v2/a/blobs/uploads/u1?digest=sha256%3A00');
    expect(withDigest('/u?x=1#frag', 'sha256:00')).toBe('/u?x=1&digest=sha256%3A00');
  });

  it('reads how many bytes an upload holds from its Range', () => {
    expect(uploadedBytes('0-99')).toBe(100);
    expect(uploadedBytes('bytes=0-0')).toBe(1);
    expect(uploadedBytes('5-9')).toBeUndefined();
    expect(uploadedBytes(undefined)).toBeUndefined();
  });
});
