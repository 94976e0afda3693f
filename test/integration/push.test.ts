/**
 * `nook push` end to end, as the unprivileged test user, against real
 * registries (Debian's docker-registry), with a logging proxy in front to
 * count requests: a pulled image pushed to another repository of the same
 * registry is mounted, a second push uploads nothing, a push to another
 * registry uploads (also in chunks), the pushed image pulls back and runs,
 * Basic and token auth, refusals. Interoperability with tools no nook code
 * wrote: skopeo inspects and copies what nook pushed, umoci unpacks it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scratchDir, writeFile } from '../helpers/files';
import { publishTestImages } from '../helpers/images';
import { runNook, show, type NookOptions } from '../helpers/nook';
import { startProxy, startRegistry, tempDir, type FaultyProxy, type RegistryServer } from '../helpers/registry';
import { need, testUsers, type TestUser } from '../helpers/users';

const PLAIN = '--tls-verify=false';

let registry: RegistryServer;
let other: RegistryServer;
let proxy: FaultyProxy;
let otherProxy: FaultyProxy;
let images: Awaited<ReturnType<typeof publishTestImages>>;

beforeAll(async () => {
  [registry, other] = await Promise.all([startRegistry(), startRegistry()]);
  [proxy, otherProxy] = await Promise.all([startProxy(registry.host), startProxy(other.host)]);
  images = await publishTestImages(registry.host);
});
afterAll(async () => {
  await Promise.all([proxy?.stop(), otherProxy?.stop()]);
  await Promise.all([registry?.stop(), other?.stop()]);
});
beforeEach(() => {
  proxy.reset();
  otherProxy.reset();
});

/** A fresh store owned by `user`, and nook options that use it. */
function storeFor(user: TestUser, env: Record<string, string> = {}): NookOptions {
  const root = path.join(scratchDir(user, 'store-'), 'nook');
  return { user, env: { NOOK_ROOT: root, NOOK_RETRY_BASE_MS: '5', ...env }, timeoutMs: 60_000 };
}

/** The test image `name` ("nook/rootonly:latest") as seen through `p`. */
const via = (p: FaultyProxy, image: string) => image.replace(registry.host, p.host);

async function nookOk(args: string[], opts: NookOptions): Promise<string> {
  const r = await runNook(args, opts);
  expect(r.code, show(r)).toBe(0);
  return r.stdout;
}

/** What `skopeo inspect` says about an image of a registry. */
function skopeoInspect(ref: string): { Digest: string; Layers: string[] } {
  return JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' }));
}

/** The manifest digest and layers of an image as the registry serves it (skopeo --raw: no nook code involved). */
function rawManifest(ref: string): { digest: string; layers: string[] } {
  const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  const doc = JSON.parse(raw.toString());
  return { digest: `sha256:${require('node:crypto').createHash('sha256').update(raw).digest('hex')}`, layers: doc.layers.map((l: { digest: string }) => l.digest) };
}

describe('push of a pulled image within its registry', () => {
  let opts: NookOptions;
  let src: string;
  let dest: string;
  let source: { digest: string; layers: string[] };

  beforeAll(async () => {
    opts = storeFor(testUsers().any);
    src = via(proxy, images.rootonly);
    dest = `${proxy.host}/pushed/rootonly:v1`;
    source = rawManifest(images.rootonly);
    await nookOk(['pull', PLAIN, '-q', src], opts);
  });

  it('mounts the blobs from the repository it was pulled from, and prints the digest, unchanged', async () => {
    proxy.reset();
    const out = await nookOk(['push', PLAIN, src, dest], opts);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe(`The push refers to repository [${proxy.host}/pushed/rootonly]`);
    // One layer and the config, both mounted.
    expect(lines.filter((l) => l.endsWith(': Mounted from nook/rootonly'))).toHaveLength(2);
    const manifestSize = fs.statSync(path.join(opts.env!.NOOK_ROOT, 'blobs', 'sha256', source.digest.slice(7))).size;
    expect(lines.at(-1)).toBe(`v1: digest: ${source.digest} size: ${manifestSize}`);
    const mounts = proxy.log.filter((e) => e.method === 'POST' && /[?&]mount=/.test(e.path));
    expect(mounts.map((m) => m.status)).toEqual([201, 201]);
    expect(proxy.log.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && /\/blobs\//.test(e.path))).toEqual([]);
    // The registry serves the same manifest and layers under the new name.
    expect(rawManifest(`${registry.host}/pushed/rootonly:v1`)).toEqual(source);
    // The store knows the new repo digest.
    const inspect = JSON.parse(await nookOk(['image', 'inspect', src], opts));
    expect(inspect[0].RepoDigests).toEqual([`${proxy.host}/nook/rootonly@${source.digest}`, `${proxy.host}/pushed/rootonly@${source.digest}`]);
  });

  it('a second push uploads nothing', async () => {
    await nookOk(['push', PLAIN, src, dest], opts);
    proxy.reset();
    const out = await nookOk(['push', PLAIN, src, dest], opts);
    expect(out.split('\n').filter((l) => l.endsWith(': Layer already exists'))).toHaveLength(2);
    // (GET /v2/: each nook process finds out once whether the registry speaks HTTPS or plain HTTP.)
    expect(proxy.log.filter((e) => e.path !== '/v2/').map((e) => e.method).sort()).toEqual(['HEAD', 'HEAD', 'PUT']);
  });

  it('the pushed image pulls back into another store and runs', async () => {
    const fresh = storeFor(testUsers().any);
    const q = await nookOk(['pull', PLAIN, '-q', `${registry.host}/pushed/rootonly:v1`], fresh);
    expect(q.trim()).toBe(source.digest);
    expect(await nookOk(['run', `${registry.host}/pushed/rootonly:v1`], fresh)).toBe('rootonly\n');
  });

  it('-q prints the pushed reference with its digest only', async () => {
    const out = await nookOk(['push', PLAIN, '-q', src, `${proxy.host}/pushed/quiet:v1`], opts);
    expect(out).toBe(`${proxy.host}/pushed/quiet@${source.digest}\n`);
  });
});

describe('push of an image pulled from a multi-platform index', () => {
  it("pushes this platform's image only, says so, and it pulls back as that platform", async (ctx) => {
    if (process.arch !== 'x64') ctx.skip(); // the test index has linux/amd64 and linux/arm64 images; the note names amd64
    const opts = storeFor(testUsers().any);
    await nookOk(['pull', PLAIN, '-q', images.multi], opts);
    const out = await nookOk(['push', PLAIN, images.multi, `${registry.host}/pushed/multi:amd64`], opts);
    expect(out).toContain(`nook: note: ${images.multi} was pulled from a multi-platform index: pushing its linux/amd64 image only (its own manifest sha256:`);
    const pushed = rawManifest(`${registry.host}/pushed/multi:amd64`);
    // The platform's own manifest, as the index lists it.
    const index = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${images.multi}`], { encoding: 'utf8' }));
    const amd = index.manifests.find((m: { platform: { architecture: string } }) => m.platform.architecture === 'amd64');
    expect(pushed.digest).toBe(amd.digest);
    expect(await nookOk(['run', PLAIN, `${registry.host}/pushed/multi:amd64`], storeFor(testUsers().any))).toBe('amd64\n');
  });
});

describe('push to another registry', () => {
  let opts: NookOptions;

  beforeAll(async () => {
    opts = storeFor(testUsers().any, { NOOK_PUSH_CHUNK_SIZE: String(64 << 10) });
    await nookOk(['pull', PLAIN, '-q', images.rootonly], opts);
  });

  it('uploads every blob (the large layer in PATCH chunks), and the image runs from there', async () => {
    const dest = `${otherProxy.host}/copied/rootonly:v2`;
    const out = await nookOk(['push', PLAIN, images.rootonly, dest], opts);
    expect(out.split('\n').filter((l) => /: Pushed \(/.test(l))).toHaveLength(2);
    const source = rawManifest(images.rootonly);
    expect(out.trim().split('\n').at(-1)).toMatch(new RegExp(`^v2: digest: ${source.digest} size: \\d+$`));
    // busybox makes the layer ~1 MB: many 64 KiB chunks, all accepted, then the closing PUT.
    const patches = otherProxy.log.filter((e) => e.method === 'PATCH');
    expect(patches.length).toBeGreaterThan(4);
    expect(patches.every((p) => p.status === 202)).toBe(true);
    expect(rawManifest(`${other.host}/copied/rootonly:v2`)).toEqual(source);
    const fresh = storeFor(testUsers().any);
    expect(await nookOk(['run', PLAIN, `${other.host}/copied/rootonly:v2`], fresh)).toBe('rootonly\n');
  });
});

describe('interoperability', () => {
  let opts: NookOptions;
  const policy = fs.existsSync('/etc/containers/policy.json') ? [] : ['--insecure-policy'];

  beforeAll(async () => {
    opts = storeFor(testUsers().any);
    await nookOk(['pull', PLAIN, '-q', images.rootonly], opts);
    await nookOk(['push', PLAIN, images.rootonly, `${registry.host}/interop/rootonly:v1`], opts);
  });

  it('skopeo inspect of what nook pushed shows the same digest and layers', () => {
    const pushed = skopeoInspect(`${registry.host}/interop/rootonly:v1`);
    const source = skopeoInspect(images.rootonly);
    expect(pushed.Digest).toBe(source.Digest);
    expect(pushed.Layers).toEqual(source.Layers);
  });

  it('skopeo copy to an OCI layout, then umoci unpack, gives the image\'s files', () => {
    const dir = tempDir('nook-interop-');
    try {
      execFileSync('skopeo', [...policy, 'copy', '--src-tls-verify=false', `docker://${registry.host}/interop/rootonly:v1`, `oci:${dir}/layout:v1`], { stdio: 'pipe' });
      execFileSync('umoci', ['unpack', '--image', `${dir}/layout:v1`, `${dir}/bundle`], { stdio: 'pipe' });
      const rootfs = path.join(dir, 'bundle', 'rootfs');
      expect(fs.readFileSync(path.join(rootfs, 'etc', 'arch'), 'utf8')).toBe('rootonly\n');
      expect(fs.statSync(path.join(rootfs, 'bin', 'busybox')).mode & 0o777).toBe(0o755);
      expect(fs.readlinkSync(path.join(rootfs, 'bin', 'sh'))).toBe('busybox');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an image with whiteouts, an opaque directory, owners and zstd layers pulls back from where it was pushed as it ran before', async (ctx) => {
    // (umoci unpacks no zstd layers, so here nook's own pull is the reader; skopeo still checks the layers.)
    const user = need(ctx, 'sub');
    const sub = storeFor(user);
    await nookOk(['pull', PLAIN, '-q', images.layers], sub);
    await nookOk(['push', PLAIN, images.layers, `${registry.host}/interop/layers:v1`], sub);
    expect(skopeoInspect(`${registry.host}/interop/layers:v1`).Layers).toEqual(skopeoInspect(images.layers).Layers);
    const script = 'ls /opt/data; test -e /etc/gone || echo no-gone; stat -c "%u:%g %a" /opt/alice-file /opt/suid';
    const before = await nookOk(['run', images.layers, 'sh', '-c', script], sub);
    expect(before).toBe('c\nno-gone\n1000:1000 640\n0:0 4755\n');
    const fresh = storeFor(user);
    expect(await nookOk(['run', PLAIN, `${registry.host}/interop/layers:v1`, 'sh', '-c', script], fresh)).toBe(before);
  });
});

describe('authentication and refusals', () => {
  let basic: RegistryServer;
  let token: RegistryServer;
  let opts: NookOptions;
  let authFile: string;

  beforeAll(async () => {
    [basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token', anonymous: true })]);
    const user = testUsers().any;
    opts = storeFor(user);
    await nookOk(['pull', PLAIN, '-q', images.rootonly], opts);
    const dir = scratchDir(user, 'auth-');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    authFile = writeFile(
      path.join(dir, 'auth.json'),
      JSON.stringify({ auths: { [basic.host]: { auth: b64('alice:wonderland') }, [token.host]: { auth: b64('alice:wonderland') } } }),
      user,
    );
  });
  afterAll(async () => {
    await Promise.all([basic?.stop(), token?.stop()]);
  });

  it('Basic: refused without credentials (401, exit 1, a hint to log in, no stack); pushed with --authfile', async () => {
    const r = await runNook(['push', PLAIN, images.rootonly, `${basic.host}/team/app:v1`], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^Error: ${basic.host} refused the check for blob sha256:[a-f0-9]{64} in ${basic.host}/team/app: 401 Unauthorized \\(no credentials for ${basic.host}\\)\\n  hint: pushing needs a login: \`nook login ${basic.host}\``));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    await nookOk(['push', PLAIN, '--authfile', authFile, images.rootonly, `${basic.host}/team/app:v1`], opts);
    const fresh = storeFor(testUsers().any);
    await nookOk(['pull', PLAIN, '-q', '--authfile', authFile, `${basic.host}/team/app:v1`], fresh);
    expect(await nookOk(['run', `${basic.host}/team/app:v1`], fresh)).toBe('rootonly\n');
  });

  it('token: an anonymous pull token does not let a push through; the stored login does', async () => {
    const r = await runNook(['push', PLAIN, images.rootonly, `${token.host}/team/app:v1`], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/refused the upload of blob sha256:[a-f0-9]{64} to .*: 401 Unauthorized \(UNAUTHORIZED: authentication required\)\n  hint: pushing needs a login/);
    token.token!.requests.length = 0;
    await nookOk(['push', PLAIN, '--authfile', authFile, images.rootonly, `${token.host}/team/app:v1`], opts);
    expect(token.token!.requests.map((t) => [t.user, t.scopes])).toEqual([['alice', ['repository:team/app:pull,push']]]);
    // (Pulled back with nook: the token server lives in this process, which a synchronous skopeo would block.)
    const back = await nookOk(['pull', PLAIN, '-q', `${token.host}/team/app:v1`], storeFor(testUsers().any));
    expect(back.trim()).toBe(rawManifest(images.rootonly).digest);
  });

  it('a refusal names the status and the registry error code', async () => {
    const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] });
    proxy.fault({ kind: 'status', status: 403, body, match: /^PUT \/v2\/.+\/manifests\//, times: 5 });
    const r = await runNook(['push', PLAIN, images.rootonly, `${proxy.host}/denied/app:v1`], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toBe(
      `Error: ${proxy.host} refused the manifest ${proxy.host}/denied/app:v1: 403 Forbidden (DENIED: requested access to the resource is denied)\n` +
        '  hint: an anonymous user may not push to denied/app: check the repository name (often your account or organisation comes first) and the account\'s permissions\n',
    );
  });

  it('an image not in the store', async () => {
    const r = await runNook(['push', PLAIN, `${registry.host}/no/such:v1`], opts);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toBe(`Error: No such image: ${registry.host}/no/such:v1\n  hint: push an image of the store (see nook images): pull, load, build or commit it first\n`);
  });
});
