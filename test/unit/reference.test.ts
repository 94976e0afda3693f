import { describe, expect, it } from 'vitest';
import { familiarReference, formatReference, parseReference } from '../../src/image/reference';

const DIGEST = 'sha256:' + 'a'.repeat(64);
const full = (s: string) => formatReference(parseReference(s));

describe('image references, normalised as docker does', () => {
  it.each([
    ['debian', 'docker.io/library/debian:latest'],
    ['debian:12', 'docker.io/library/debian:12'],
    ['library/debian:12', 'docker.io/library/debian:12'],
    ['docker.io/debian', 'docker.io/library/debian:latest'],
    ['index.docker.io/library/debian', 'docker.io/library/debian:latest'],
    ['bitnami/redis:7.2', 'docker.io/bitnami/redis:7.2'],
    ['ghcr.io/owner/app/sub:v1.0-rc_1', 'ghcr.io/owner/app/sub:v1.0-rc_1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    ['[::1]:5000/app:1', '[::1]:5000/app:1'],
    ['Registry.Example/app', 'Registry.Example/app:latest'],
    ['my__app.x-y', 'docker.io/library/my__app.x-y:latest'],
    [`debian@${DIGEST}`, `docker.io/library/debian@${DIGEST}`],
    [`debian:12@${DIGEST}`, `docker.io/library/debian:12@${DIGEST}`],
  ])('%s → %s', (input, expected) => {
    expect(full(input)).toBe(expected);
  });

  it('splits registry, repository, tag and digest', () => {
    expect(parseReference(`localhost:5000/team/app:2@${DIGEST}`)).toEqual({
      registry: 'localhost:5000',
      repository: 'team/app',
      tag: '2',
      digest: DIGEST,
    });
    expect(parseReference(`app@${DIGEST}`).tag).toBeUndefined();
  });

  it('prints the familiar short form', () => {
    expect(familiarReference(parseReference('debian'))).toBe('debian:latest');
    expect(familiarReference(parseReference('bitnami/redis:7'))).toBe('bitnami/redis:7');
    expect(familiarReference(parseReference('localhost:5000/app:1'))).toBe('localhost:5000/app:1');
  });

  it.each([
    ['', /empty/],
    ['Debian', /must be lowercase/],
    ['docker.io/Library/debian', /must be lowercase/],
    ['debian:', /"" is not a valid tag/],
    ['debian:-x', /not a valid tag/],
    ['debian:' + 'x'.repeat(129), /not a valid tag/],
    ['debian@sha256:abc', /not a digest/],
    [`debian@sha256:${'A'.repeat(64)}`, /64 lowercase hex/],
    ['a//b', /not a valid repository path component/],
    ['app_/x', /not a valid repository path component/],
    ['-bad.example/app', /not a valid registry host/],
    ['localhost:port/app', /not a valid port/],
    ['x/' + 'a'.repeat(260), /longer than 255/],
  ])('refuses %j with a message naming the problem', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });
});
