import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findCredentials, nookAuthFile, removeCredentials, saveCredentials } from '../../src/image/registry/credentials';

const b64 = (s: string) => Buffer.from(s).toString('base64');
let home: string;
const saved = { ...process.env };

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-cred-'));
  process.env.HOME = home;
  process.env.XDG_CONFIG_HOME = path.join(home, 'xdg');
  delete process.env.REGISTRY_AUTH_FILE;
  delete process.env.DOCKER_CONFIG;
});
afterEach(() => {
  for (const k of ['HOME', 'XDG_CONFIG_HOME', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  fs.rmSync(home, { recursive: true, force: true });
});

function write(file: string, doc: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}
const dockerFile = () => path.join(home, '.docker', 'config.json');

describe('credential files', () => {
  it('lives in $XDG_CONFIG_HOME/nook, or ~/.config/nook', () => {
    expect(nookAuthFile()).toBe(path.join(home, 'xdg', 'nook', 'auth.json'));
    delete process.env.XDG_CONFIG_HOME;
    expect(nookAuthFile()).toBe(path.join(home, '.config', 'nook', 'auth.json'));
  });

  it("finds docker.io credentials under docker's index.docker.io key", () => {
    write(dockerFile(), { auths: { 'https://index.docker.io/v1/': { auth: b64('bob:s3:cr:et') } } });
    expect(findCredentials('docker.io').credentials).toEqual({ username: 'bob', password: 's3:cr:et', source: dockerFile() });
    expect(findCredentials('ghcr.io').credentials).toBeUndefined();
  });

  it("prefers nook's file, then $REGISTRY_AUTH_FILE, then docker's", () => {
    write(dockerFile(), { auths: { 'r.example': { auth: b64('docker:1') } } });
    expect(findCredentials('r.example').credentials?.username).toBe('docker');
    process.env.REGISTRY_AUTH_FILE = write(path.join(home, 'podman.json'), { auths: { 'r.example': { auth: b64('podman:1') } } });
    expect(findCredentials('r.example').credentials?.username).toBe('podman');
    saveCredentials('r.example', 'nook', '1');
    expect(findCredentials('r.example').credentials?.username).toBe('nook');
    // --authfile replaces all of them.
    const only = write(path.join(home, 'only.json'), { auths: {} });
    expect(findCredentials('r.example', only).credentials).toBeUndefined();
  });

  it('accepts username/password entries, and ignores namespace-scoped podman keys', () => {
    write(dockerFile(), { auths: { 'quay.io/org': { auth: b64('scoped:1') }, 'r.example:5000': { username: 'u', password: 'p' } } });
    expect(findCredentials('quay.io').credentials).toBeUndefined();
    expect(findCredentials('r.example:5000').credentials).toMatchObject({ username: 'u', password: 'p' });
  });

  it('notes credential helpers it does not run', () => {
    write(dockerFile(), { auths: { 'r.example': {} }, credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' } });
    expect(findCredentials('gcr.io').helperNote).toMatch(/credential helper docker-credential-gcloud, which nook does not use/);
    expect(findCredentials('r.example').helperNote).toMatch(/credential store docker-credential-desktop/);
    write(dockerFile(), { auths: { 'r.example': { auth: b64('a:b') } }, credsStore: 'desktop' });
    expect(findCredentials('r.example')).toEqual({ credentials: { username: 'a', password: 'b', source: dockerFile() } });
  });

  it('names a broken file', () => {
    const file = write(nookAuthFile(), '{"auths": ');
    expect(() => findCredentials('r.example')).toThrow(`${file} is not valid JSON`);
    write(nookAuthFile(), { auths: { 'r.example': { auth: b64('nocolon') } } });
    expect(() => findCredentials('r.example')).toThrow(/the "auth" of "r.example" is not base64 of user:password/);
  });

  it('saves atomically with mode 0600, replacing any other key for the same registry and keeping the rest', () => {
    write(nookAuthFile(), { auths: { 'https://index.docker.io/v1/': { auth: b64('old:1') }, 'other.example': { auth: b64('o:1') } }, extra: 1 });
    fs.chmodSync(nookAuthFile(), 0o644);
    saveCredentials('docker.io', 'new', 'pw');
    const doc = JSON.parse(fs.readFileSync(nookAuthFile(), 'utf8'));
    expect(doc).toEqual({ auths: { 'other.example': { auth: b64('o:1') }, 'docker.io': { auth: b64('new:pw') } }, extra: 1 });
    expect(fs.statSync(nookAuthFile()).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(nookAuthFile()))).toEqual(['auth.json']);
  });

  it('removes every key of a registry, and says when there was none', () => {
    write(nookAuthFile(), { auths: { 'https://index.docker.io/v1/': { auth: b64('a:1') }, 'docker.io': { auth: b64('b:1') }, 'x.example': {} } });
    expect(removeCredentials('index.docker.io')).toBe(true);
    expect(Object.keys(JSON.parse(fs.readFileSync(nookAuthFile(), 'utf8')).auths)).toEqual(['x.example']);
    expect(removeCredentials('docker.io')).toBe(false);
    expect(removeCredentials('y.example', path.join(home, 'missing.json'))).toBe(false);
  });
});
