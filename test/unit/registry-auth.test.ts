import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../src/image/registry/auth';

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
