/**
 * Authentication against real registries: htpasswd (Basic) with
 * credentials from each place nook reads them, and token auth (Bearer) from
 * a token server, anonymously and with credentials; and the errors.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { BlobStore } from '../../src/image/blobs';
import { Authenticator } from '../../src/image/registry/auth';
import { checkCredentials, RegistryClient } from '../../src/image/registry/client';
import { describeImage, isolateEnv, pushImage, startProxy, startRegistry, tempDir, type FaultyProxy, type RegistryServer, type TestImage } from '../helpers/registry';

const img: TestImage = { config: { architecture: 'amd64', os: 'linux' }, layers: [Buffer.from('private layer')] };
const b64 = (s: string) => Buffer.from(s).toString('base64');

let basic: RegistryServer;
let token: RegistryServer;
let proxy: FaultyProxy;
let env: ReturnType<typeof isolateEnv>;
const digests: Record<string, string> = {};

beforeAll(async () => {
  [basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
  proxy = await startProxy(basic.host);
  digests.basic = await pushImage(basic.host, 'team/app', 'v1', img, basic.pushOpts);
  digests.token = await pushImage(token.host, 'team/app', 'v1', img, token.pushOpts);
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([basic?.stop(), token?.stop()]);
});
beforeEach(() => {
  env = isolateEnv();
  proxy.reset();
  token.token!.requests.length = 0;
  token.token!.anonymous = true;
});
const stores: BlobStore[] = [];
const newStore = () => stores[stores.push(new BlobStore(tempDir('nook-store-'))) - 1];
afterEach(() => {
  for (const s of stores.splice(0)) fs.rmSync(s.root, { recursive: true, force: true });
  env.restore();
});

function writeAuth(file: string, doc: object): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(doc));
  return file;
}
const auths = (key: string, user = 'alice', pass = 'wonderland') => ({ auths: { [key]: { auth: b64(`${user}:${pass}`) } } });
const nookAuth = () => path.join(env.config, 'nook', 'auth.json');
const pull = (reg: RegistryServer, opts: { authFile?: string } = {}) => new RegistryClient(reg.host, 'team/app', { tlsVerify: false, ...opts }).getManifest('v1');

describe('Basic auth (htpasswd)', () => {
  it('is refused without credentials, with a hint to log in', async () => {
    const err = await pull(basic).catch((e) => e);
    expect(err.message).toBe(`${basic.host}: access to repository team/app denied`);
    expect(err.hint).toMatch(new RegExp(`nook login ${basic.host}`));
    expect(err.exitCode).toBe(125);
  });

  it("uses nook's auth.json", async () => {
    writeAuth(nookAuth(), auths(basic.host));
    expect((await pull(basic)).digest).toBe(digests.basic);
  });

  it('uses ~/.docker/config.json, whatever the form of its key', async () => {
    writeAuth(path.join(env.home, '.docker', 'config.json'), auths(`http://${basic.host}/v2/`));
    expect((await pull(basic)).digest).toBe(digests.basic);
  });

  it('uses $REGISTRY_AUTH_FILE', async () => {
    process.env.REGISTRY_AUTH_FILE = writeAuth(path.join(env.home, 'containers-auth.json'), auths(basic.host));
    expect((await pull(basic)).digest).toBe(digests.basic);
  });

  it('uses --authfile instead of the default files', async () => {
    const file = writeAuth(path.join(env.home, 'other.json'), auths(basic.host));
    expect((await pull(basic, { authFile: file })).digest).toBe(digests.basic);
    writeAuth(nookAuth(), auths(basic.host));
    const empty = writeAuth(path.join(env.home, 'empty.json'), { auths: {} });
    await expect(pull(basic, { authFile: empty })).rejects.toThrow(/access to repository team\/app denied/);
  });

  it('says whose credentials were refused, and where they come from', async () => {
    const file = writeAuth(nookAuth(), auths(basic.host, 'alice', 'wrong'));
    const err = await pull(basic).catch((e) => e);
    expect(err.message).toBe(`${basic.host} refused the login of alice: incorrect username or password`);
    expect(err.hint).toContain(file);
    expect(err.hint).toContain(`nook login ${basic.host}`);
  });

  it('mentions a docker credential store it cannot use', async () => {
    writeAuth(path.join(env.home, '.docker', 'config.json'), { auths: { [basic.host]: {} }, credsStore: 'desktop' });
    const err = await pull(basic).catch((e) => e);
    expect(err.message).toMatch(/access to repository team\/app denied/);
    expect(err.hint).toMatch(/credential store docker-credential-desktop, which nook does not use/);
  });

  it('downloads blobs with credentials, and drops them when redirected to another host', async () => {
    writeAuth(nookAuth(), auths(proxy.host));
    proxy.fault({ kind: 'redirect', to: 'other-host' });
    const store = newStore();
    const layer = describeImage(img).layers[0];
    const client = new RegistryClient(proxy.host, 'team/app', { tlsVerify: false });
    await client.getManifest('v1'); // as a pull does: the client has answered the Basic challenge before the blobs
    await client.fetchBlob(store, layer);
    expect(fs.readFileSync(store.path(layer.digest)).toString()).toBe('private layer');
    const gets = proxy.blobGets(layer.digest);
    expect(gets.map((g) => [g.host, g.status])).toEqual([
      [proxy.host, 307],
      [`${proxy.storageHost}:${proxy.storagePort}`, 200],
    ]);
    expect(gets[0].authorization).toBe(`Basic ${b64('alice:wonderland')}`);
    expect(gets[1].authorization).toBeUndefined();
  });

  it('does not take a web page for a registry at login', async () => {
    proxy.fault({ kind: 'html', match: /^GET \/v2\/$/ });
    const err = await checkCredentials(proxy.host, 'alice', 'wonderland', { tlsVerify: false }).catch((e) => e);
    expect(err.message).toBe(`${proxy.host} answered /v2/ with an HTML page, not as a container registry`);
  });

  it('checks credentials for login', async () => {
    await expect(checkCredentials(basic.host, 'alice', 'wonderland', { tlsVerify: false })).resolves.toBeUndefined();
    const err = await checkCredentials(basic.host, 'alice', 'nope', { tlsVerify: false }).catch((e) => e);
    expect(err.message).toBe(`${basic.host} refused the login of alice: incorrect username or password`);
    expect(err.hint).toMatch(/check the user name and the password/);
  });
});

describe('Bearer tokens', () => {
  it('pulls anonymously with a token for repository:<repo>:pull', async () => {
    expect((await pull(token)).digest).toBe(digests.token);
    expect(token.token!.requests).toEqual([{ service: 'nook-test-registry', scopes: ['repository:team/app:pull'], account: undefined, status: 200, user: undefined }]);
  });

  it('reuses the token for the next requests', async () => {
    const client = new RegistryClient(token.host, 'team/app', { tlsVerify: false });
    await client.getManifest('v1');
    const store = newStore();
    await client.fetchBlob(store, describeImage(img).layers[0]);
    expect(store.has(describeImage(img).layers[0].digest)).toBe(true);
    expect(token.token!.requests).toHaveLength(1);
  });

  it('sends the stored credentials to the token server', async () => {
    writeAuth(nookAuth(), auths(token.host));
    token.token!.anonymous = false;
    expect((await pull(token)).digest).toBe(digests.token);
    expect(token.token!.requests.map((r) => [r.user, r.status])).toEqual([['alice', 200]]);
  });

  it('says the login is needed when the token server refuses anonymous callers', async () => {
    token.token!.anonymous = false;
    const err = await pull(token).catch((e) => e);
    expect(err.message).toBe(`${token.host}: access to repository team/app denied`);
    expect(err.hint).toMatch(new RegExp(`it may not exist, or it may need a login: \`nook login ${token.host}\``));
  });

  it('says when the token server refuses the password', async () => {
    const file = writeAuth(nookAuth(), auths(token.host, 'alice', 'bad'));
    const err = await pull(token).catch((e) => e);
    expect(err.message).toBe(`${token.host} refused the login of alice: incorrect username or password`);
    expect(err.hint).toContain(file);
  });

  it('fetches one token for parallel requests refused together', async () => {
    const client = new RegistryClient(token.host, 'team/app', { tlsVerify: false });
    const store = newStore();
    const d = describeImage(img);
    await Promise.all([client.fetchBlob(store, d.config), client.fetchBlob(store, d.layers[0])]);
    expect(store.has(d.config.digest) && store.has(d.layers[0].digest)).toBe(true);
    expect(token.token!.requests).toHaveLength(1);
  });

  it('a request refused before a token came, and answered after, uses that token instead of fetching another', async () => {
    // The refusal that the first answer already settled, as a slow parallel request would see it.
    const challenge = await new Promise<string>((resolve, reject) => {
      http.get(`http://${token.host}/v2/team/app/manifests/latest`, (res) => {
        res.resume();
        resolve(String(res.headers['www-authenticate']));
      }).on('error', reject);
    });
    const auth = new Authenticator({ registry: token.host, verifyTls: false });
    await auth.respond(challenge, 'repository:team/app:pull', 'team/app', undefined);
    const first = auth.header();
    expect(first).toMatch(/^Bearer /);
    await auth.respond(challenge, 'repository:team/app:pull', 'team/app', undefined);
    expect(auth.header()).toBe(first);
    expect(token.token!.requests).toHaveLength(1);
    // A refusal of the token itself (sent with it) does fetch a new one.
    await auth.respond(challenge, 'repository:team/app:pull', 'team/app', first);
    expect(token.token!.requests).toHaveLength(2);
  });

  it('checks credentials for login, sending the account', async () => {
    await checkCredentials(token.host, 'alice', 'wonderland', { tlsVerify: false });
    expect(token.token!.requests.map((r) => [r.account, r.user, r.scopes])).toEqual([['alice', 'alice', []]]);
    await expect(checkCredentials(token.host, 'alice', 'bad', { tlsVerify: false })).rejects.toThrow(/refused the login of alice: incorrect username or password/);
  });
});
