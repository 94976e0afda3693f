/**
 * `nook login` / `nook logout`, run in-process against real registries:
 * credentials are checked before they are stored, stored in docker's format
 * with mode 0600, and used by pulls afterwards.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { loginCommand, logoutCommand, type LoginIo } from '../../src/cli/login';
import { RegistryClient } from '../../src/image/registry/client';
import { isolateEnv, pushImage, startRegistry, type RegistryServer } from '../helpers/registry';

let basic: RegistryServer;
let token: RegistryServer;
let env: ReturnType<typeof isolateEnv>;
let out: string;
let err: string;

beforeAll(async () => {
  [basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token', anonymous: false })]);
  await pushImage(basic.host, 'team/app', 'v1', { config: { os: 'linux', architecture: 'amd64' }, layers: [Buffer.from('l')] }, basic.pushOpts);
});
afterAll(async () => {
  await Promise.all([basic?.stop(), token?.stop()]);
});
beforeEach(() => {
  env = isolateEnv();
  out = err = '';
  token.token!.requests.length = 0;
});
afterEach(() => env.restore());

/** No terminal: stdin is this text (empty by default). */
const io = (stdin = ''): LoginIo => ({ stdin: Readable.from(stdin ? [stdin] : []), out: (s) => (out += s), err: (s) => (err += s) });
const authFile = () => path.join(env.config, 'nook', 'auth.json');
const readAuth = (file = authFile()) => JSON.parse(fs.readFileSync(file, 'utf8'));
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('nook login', () => {
  it('checks the credentials, stores them with mode 0600, and pulls use them', async () => {
    expect(await loginCommand(['--tls-verify=false', '-u', 'alice', '-p', 'wonderland', basic.host], io())).toBe(0);
    expect(out).toBe('Login Succeeded\n');
    expect(err).toBe('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    expect(readAuth()).toEqual({ auths: { [basic.host]: { auth: b64('alice:wonderland') } } });
    expect(fs.statSync(authFile()).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(authFile())).mode & 0o077).toBe(0);
    expect(fs.readdirSync(path.dirname(authFile()))).toEqual(['auth.json']); // no temporary file left
    const m = await new RegistryClient(basic.host, 'team/app', { tlsVerify: false }).getManifest('v1');
    expect(m.digest).toMatch(/^sha256:/);
  });

  it('reads the password from stdin, without its trailing newline', async () => {
    expect(await loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', basic.host], io('wonderland\n'))).toBe(0);
    expect(err).toBe('');
    expect(readAuth().auths[basic.host].auth).toBe(b64('alice:wonderland'));
  });

  it('stores nothing when the registry refuses the credentials', async () => {
    const e = await loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', basic.host], io('guess\n')).catch((x) => x);
    expect(e.message).toBe(`${basic.host} refused the login of alice: incorrect username or password`);
    expect(e.exitCode).toBe(125);
    expect(fs.existsSync(authFile())).toBe(false);
  });

  it('logs in to a token registry, sending the account to the token server', async () => {
    expect(await loginCommand(['--tls-verify', 'false', '-u', 'alice', '--password-stdin', token.host], io('wonderland'))).toBe(0);
    expect(token.token!.requests.map((r) => [r.account, r.user])).toEqual([['alice', 'alice']]);
    await expect(loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', token.host], io('bad'))).rejects.toThrow(
      /refused the login of alice: incorrect username or password/,
    );
  });

  it('cannot prompt without a terminal', async () => {
    const e = await loginCommand([basic.host], io()).catch((x) => x);
    expect(e.message).toBe('cannot ask for a user name: stdin is not a terminal');
    expect(e.hint).toMatch(/-u and --password-stdin/);
    await expect(loginCommand(['-u', 'alice', basic.host], io())).rejects.toThrow('cannot ask for the password: stdin is not a terminal');
    await expect(loginCommand(['--password-stdin', basic.host], io('pw'))).rejects.toThrow('--password-stdin needs the user name in -u');
    await expect(loginCommand(['-u', 'a', '-p', 'b', '--password-stdin', basic.host], io('pw'))).rejects.toThrow(/cannot be used together/);
  });

  it('accepts URL forms of the registry, and keeps other logins', async () => {
    await loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', `https://${basic.host}/`], io('wonderland'));
    await loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', token.host], io('wonderland'));
    expect(Object.keys(readAuth().auths).sort()).toEqual([basic.host, token.host].sort());
  });

  it('writes to --authfile instead', async () => {
    const file = path.join(env.home, 'my-auth.json');
    await loginCommand(['--tls-verify=false', '--authfile', file, '-u', 'alice', '--password-stdin', basic.host], io('wonderland'));
    expect(readAuth(file).auths[basic.host].auth).toBe(b64('alice:wonderland'));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(authFile())).toBe(false);
  });

  it('is refused over plain HTTP without --tls-verify=false', async () => {
    const e = await loginCommand(['-u', 'alice', '--password-stdin', basic.host], io('wonderland')).catch((x) => x);
    expect(e.message).toMatch(/TLS connection to .* failed/);
    expect(e.hint).toContain('--tls-verify=false');
  });
});

describe('nook logout', () => {
  it('removes the login, and says when there is none', async () => {
    await loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', basic.host], io('wonderland'));
    await loginCommand(['--tls-verify=false', '-u', 'alice', '--password-stdin', token.host], io('wonderland'));
    out = '';
    expect(await logoutCommand([basic.host], io())).toBe(0);
    expect(out).toBe(`Removed login credentials for ${basic.host}\n`);
    expect(Object.keys(readAuth().auths)).toEqual([token.host]);
    expect(fs.statSync(authFile()).mode & 0o777).toBe(0o600);
    const e = await logoutCommand([basic.host], io()).catch((x) => x);
    expect(e.message).toBe(`not logged in to ${basic.host}`);
    expect(e.exitCode).toBe(125);
  });

  it("points at docker's file when the login is there", async () => {
    const docker = path.join(env.home, '.docker', 'config.json');
    fs.mkdirSync(path.dirname(docker), { recursive: true });
    fs.writeFileSync(docker, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('bob:pw') } } }));
    const e = await logoutCommand([], io()).catch((x) => x);
    expect(e.message).toBe('not logged in to docker.io');
    expect(e.hint).toContain(docker);
    expect(fs.readFileSync(docker, 'utf8')).toContain('index.docker.io'); // never changed
  });
});
