/**
 * Registry credentials in docker's file format, {"auths": {"<registry>":
 * {"auth": base64("user:password")}}}. `nook login` writes its own file,
 * $XDG_CONFIG_HOME/nook/auth.json (mode 0600); pulls also read, never write,
 * $REGISTRY_AUTH_FILE and docker's ~/.docker/config.json, so a machine where
 * `docker login` or `podman login` already ran needs no second login.
 * Credential helpers (credsStore, credHelpers) are external programs and are
 * not run; when they hold the only credentials for a registry, the lookup
 * says so, for the hint of an access-denied error.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../../errors';
import { randomHex } from '../../util/random';
import { homeDir, nookConfigDir, normalizeRegistry } from './config';

export interface Credentials {
  username: string;
  password: string;
  /** The file they came from, for messages. */
  source: string;
}

export interface CredentialLookup {
  credentials?: Credentials;
  /** Set when a docker config keeps credentials for this registry in a helper nook does not run. */
  helperNote?: string;
}

interface AuthFileDoc {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

export function nookAuthFile(): string {
  return path.join(nookConfigDir(), 'auth.json');
}

export function dockerConfigFile(): string {
  const dir = process.env.DOCKER_CONFIG;
  return path.join(dir && path.isAbsolute(dir) ? dir : path.join(homeDir(), '.docker'), 'config.json');
}

/** The files consulted, in order: --authfile alone when given (as podman does), else nook's, $REGISTRY_AUTH_FILE, docker's. */
export function authFiles(authFile?: string): string[] {
  if (authFile) return [path.resolve(authFile)];
  const files = [nookAuthFile()];
  const env = process.env.REGISTRY_AUTH_FILE;
  if (env) files.push(path.resolve(env));
  files.push(dockerConfigFile());
  return [...new Set(files)];
}

function readAuthFile(file: string): AuthFileDoc | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new NookError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!text.trim()) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new NookError(`${file} is not valid JSON (${(e as Error).message})`, {
      hint: 'fix or remove it; it should look like {"auths": {"registry.example": {"auth": "<base64 of user:password>"}}}',
    });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new NookError(`${file} is not a JSON object`);
  return doc as AuthFileDoc;
}

/**
 * The registry an auths key stands for, or undefined for keys nook does not
 * use: docker writes "https://index.docker.io/v1/" for Docker Hub; podman
 * also accepts "registry/namespace" keys, which would be wrong to apply to the
 * whole registry.
 */
function keyRegistry(key: string): string | undefined {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(key);
  if (!hasScheme && key.replace(/\/+$/, '').includes('/')) return undefined;
  try {
    return normalizeRegistry(key);
  } catch {
    return undefined;
  }
}

function decodeEntry(file: string, key: string, entry: { auth?: string; username?: string; password?: string }): Credentials | undefined {
  if (typeof entry?.auth === 'string' && entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0)
      throw new NookError(`${file}: the "auth" of "${key}" is not base64 of user:password`, { hint: `log in again with \`nook login ${keyRegistry(key) ?? key}\`` });
    return { username: text.slice(0, colon), password: text.slice(colon + 1), source: file };
  }
  if (typeof entry?.username === 'string' && typeof entry?.password === 'string' && entry.username)
    return { username: entry.username, password: entry.password, source: file };
  return undefined;
}

export function findCredentials(registry: string, authFile?: string): CredentialLookup {
  const want = normalizeRegistry(registry);
  let helperNote: string | undefined;
  for (const file of authFiles(authFile)) {
    const doc = readAuthFile(file);
    if (!doc) continue;
    for (const [key, entry] of Object.entries(doc.auths ?? {})) {
      if (keyRegistry(key) !== want) continue;
      const creds = decodeEntry(file, key, entry);
      if (creds) return { credentials: creds };
    }
    const helperKey = Object.keys(doc.credHelpers ?? {}).find((k) => keyRegistry(k) === want);
    if (helperKey && !helperNote)
      helperNote = `${file} keeps the credentials for ${want} in the credential helper docker-credential-${doc.credHelpers![helperKey]}, which nook does not use`;
    else if (typeof doc.credsStore === 'string' && doc.credsStore && !helperNote)
      helperNote = `${file} keeps credentials in the credential store docker-credential-${doc.credsStore}, which nook does not use`;
  }
  return { helperNote };
}

/** Writes `doc` to `file` atomically (temporary file in the same directory, fsync, rename), mode 0600. */
function writeAuthFile(file: string, doc: AuthFileDoc): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${randomHex(4)}`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(doc, null, '\t') + '\n');
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/**
 * Stores credentials in nook's auth file (or `authFile`), under the
 * normalised registry name, replacing any other key for the same registry.
 * Two logins at the same moment may lose one update, but never leave a torn
 * file: the rename is atomic. Returns the file written.
 */
export function saveCredentials(registry: string, username: string, password: string, authFile?: string): string {
  const file = authFile ? path.resolve(authFile) : nookAuthFile();
  const name = normalizeRegistry(registry);
  const doc = readAuthFile(file) ?? {};
  const auths = { ...(doc.auths ?? {}) };
  for (const key of Object.keys(auths)) if (keyRegistry(key) === name) delete auths[key];
  auths[name] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  writeAuthFile(file, { ...doc, auths });
  return file;
}

/** Removes the registry's entries from nook's auth file (or `authFile`); false when there were none. */
export function removeCredentials(registry: string, authFile?: string): boolean {
  const file = authFile ? path.resolve(authFile) : nookAuthFile();
  const name = normalizeRegistry(registry);
  const doc = readAuthFile(file);
  if (!doc?.auths) return false;
  const auths = { ...doc.auths };
  const keys = Object.keys(auths).filter((k) => keyRegistry(k) === name);
  if (!keys.length) return false;
  for (const key of keys) delete auths[key];
  writeAuthFile(file, { ...doc, auths });
  return true;
}
