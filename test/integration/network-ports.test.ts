/**
 * Published ports through the private networks' helpers: pasta (-t/-u) and
 * slirp4netns (add_hostfwd through its API socket), as the unprivileged
 * test user with the harness's 0666 /dev/net/tun (test/helpers/tun.ts).
 * From the host, a web server in the container serves its page; `nook port`
 * shows the mapping; a port in use fails with 125 naming it; and stop,
 * rm -f and a SIGKILL of a foreground nook leave no helper behind and free
 * the port. Also: -p with no --network means pasta where tun opens, and
 * nook's own proxy where it does not.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { env, ok, psRow, type Env } from '../helpers/containers';
import { rootfs, runArgs, show, startNook } from '../helpers/nook';
import { hostProcesses, waitUntil, type HostProcess } from '../helpers/procs';
import { hostTunOpen, openTunNode, removeTunNode } from '../helpers/tun';
import { askUdp, freePort, canListen, canBindUdp } from '../helpers/host-ports';
import { need, type TestUser } from '../helpers/users';
import { scratchDir, writeFile } from '../helpers/files';
import { staticProgram } from '../helpers/programs';
import { findExecutable } from '../../src/util/which';

type Helper = 'pasta' | 'slirp4netns';
const HELPERS: Helper[] = ['pasta', 'slirp4netns'];

/** The host's first non-loopback IPv4 address (never an address off this machine). */
function hostIp(): string {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this host has no non-loopback IPv4 address');
}

/** The test user, its state, and the tun node for a private-network test, or a skip saying what is missing. */
function setup(ctx: TestContext, helper: Helper): { e: Env; tun?: string } {
  const user = need(ctx, 'sub');
  if (!findExecutable(helper)) ctx.skip(`${helper} is not installed (apt-get install ${helper === 'pasta' ? 'passt' : helper})`);
  const tun = hostTunOpen() ? undefined : openTunNode();
  if (!hostTunOpen() && !tun) ctx.skip('/dev/net/tun is not 0666 and only root can give the test users one that is');
  const e = env(user);
  cleanUp(ctx, e);
  return { e, tun };
}

/** Whatever way the test ends, its containers (and so their helpers) go: a failed test leaves nothing running. */
function cleanUp(ctx: TestContext, e: Env): void {
  ctx.onTestFinished(async () => {
    const ids = (await e.nook(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
    if (ids.length) await e.nook(['rm', '-f', ...ids]);
  });
}

/** REMOTE_ADDR as busybox httpd gives it: its socket is IPv6, so an IPv4 peer is "[::ffff:A.B.C.D]". */
const peerAddress = (remoteAddr: string) => remoteAddr.trim().replace(/^\[(?:::ffff:)?(.*)\]$/, '$1');

type HelperProcess = HostProcess & { name: Helper; target: number };
/** Living pasta daemons (argv[0] pasta, last argument the sandbox's pid) and slirp4netns processes (pid before the tap name). */
function helpers(): HelperProcess[] {
  return hostProcesses().flatMap((p): HelperProcess[] => {
    const name = p.argv[0]?.split('/').pop();
    if (p.state === 'Z') return [];
    if (name === 'pasta') return [{ ...p, name, target: Number(p.argv[p.argv.length - 1]) }];
    if (name === 'slirp4netns') return [{ ...p, name, target: Number(p.argv[p.argv.length - 2]) }];
    return [];
  });
}

const alive = (pid: number) => hostProcesses().some((p) => p.pid === pid && p.state !== 'Z');

/**
 * The helpers started since `before` (a snapshot of helper pids) whose container is gone must end:
 * only this test's count, as other runs of the same test user may share the machine.
 */
async function noNewOrphans(before: Set<number>): Promise<void> {
  const orphans = () => helpers().filter((h) => !before.has(h.pid) && !alive(h.target));
  await waitUntil(() => orphans().length === 0, `no pasta or slirp4netns outlives its container (left: ${JSON.stringify(orphans())})`);
}

const helperPids = () => new Set(helpers().map((h) => h.pid));

/** The running container's pid (inspect's State.Pid). */
async function containerPid(e: Env, name: string): Promise<number> {
  return Number((await ok(e, ['inspect', '-f', '{{.State.Pid}}', name])).trim());
}

/** The one helper serving the container `name`. */
async function helperOf(e: Env, name: string, helper: Helper): Promise<HostProcess> {
  const pid = await containerPid(e, name);
  const mine = helpers().filter((h) => h.target === pid);
  expect(mine.map((h) => h.name), `helpers: ${JSON.stringify(helpers())}; container pid ${pid}`).toEqual([helper]);
  return mine[0];
}

/**
 * A web root for busybox httpd, bind-mounted read-only at /srv/app: a page
 * that names the test, and a CGI script that answers with the address the
 * server sees the request come from (REMOTE_ADDR).
 */
function webRoot(user: TestUser, text: string): string {
  const dir = scratchDir(user, 'web-');
  writeFile(path.join(dir, 'index.html'), `${text}\n`, user);
  fs.mkdirSync(path.join(dir, 'cgi-bin'));
  fs.chownSync(path.join(dir, 'cgi-bin'), user.uid, user.gid);
  writeFile(path.join(dir, 'cgi-bin', 'peer'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n', user);
  fs.chmodSync(path.join(dir, 'cgi-bin', 'peer'), 0o755);
  return dir;
}

/** The server's flags and argv: container ports differ between tests, so that each finds its own processes. */
const webFlags = (dir: string) => ['-v', `${dir}:/srv/app:ro`];
const httpd = (port: number) => ['httpd', '-f', '-p', String(port), '-h', '/srv/app'];

/** One GET; resolves with the status and body. */
function getOnce(host: string, port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: urlPath, timeout: 3_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/**
 * The page, once the server listens: nook returns when the container's command has started, and httpd listens
 * a moment later; until then the helper accepts on the host and resets the connection, so that is retried.
 */
async function page(port: number, urlPath = '/', host = '127.0.0.1'): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    let last: string;
    try {
      const r = await getOnce(host, port, urlPath);
      if (r.status === 200) return r.body;
      last = `HTTP ${r.status}: ${r.body}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`no page from ${host}:${port}${urlPath} within 10 s: ${last}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}




/** `nook port NAME` parsed into "CPORT/proto -> ADDR:PORT" lines. */
async function portLines(e: Env, name: string): Promise<string[]> {
  return (await ok(e, ['port', name])).trim().split('\n').filter(Boolean).sort();
}

/** The host port `nook port NAME CPORT[/proto]` reports for every address. */
async function publishedPort(e: Env, name: string, spec: string): Promise<number> {
  const out = (await ok(e, ['port', name, spec])).trim();
  const m = /^0\.0\.0\.0:(\d+)$/.exec(out);
  expect(m, out).not.toBeNull();
  return Number(m![1]);
}

/** No living process has exactly this argv (a container's command, unique to its test). */
const commandGone = (argv: string[]) => !hostProcesses().some((p) => p.argv.join(' ') === argv.join(' ') && p.state !== 'Z');

let outbound: http.Server;
let outboundUrl: string;
const outboundToken = randomBytes(6).toString('hex');
beforeAll(async () => {
  outbound = http.createServer((_req, res) => res.end(`outbound ${outboundToken}\n`));
  await new Promise<void>((resolve) => outbound.listen(0, hostIp(), resolve));
  outboundUrl = `http://${hostIp()}:${(outbound.address() as net.AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => outbound?.close(resolve));
  removeTunNode();
});

describe.each(HELPERS)('-p with --network %s', (helper) => {
  it('-d -p HOST:CPORT: the host gets the page over loopback and its own address; nook port shows it; stop frees the port and ends the helper', async (ctx) => {
    const { e, tun } = setup(ctx, helper);
    const before = helperPids();
    const cport = helper === 'pasta' ? 8201 : 8301;
    const port = await freePort();
    const name = `web-${helper}`;
    const r = await e.nook(['run', '-d', '--name', name, '--rootfs', rootfs(), '--network', helper, '-p', `${port}:${cport}`, ...webFlags(webRoot(e.user, `page-${helper}`)), '--', ...httpd(cport)], { tun });
    expect(r.code, show(r)).toBe(0);
    const h = await helperOf(e, name, helper);
    if (helper === 'slirp4netns') {
      // Its API socket was needed only to add the ports: nook removed it and its private directory before exiting.
      const api = h.argv.find((a) => a.startsWith('--api-socket='))?.slice('--api-socket='.length);
      expect(api, h.argv.join(' ')).toMatch(/\/nook-slirp-[^/]+\/api\.sock$/);
      expect(fs.existsSync(path.dirname(api!))).toBe(false);
    }
    expect(await page(port)).toBe(`page-${helper}\n`);
    expect(await page(port, '/', hostIp())).toBe(`page-${helper}\n`);

    // Who the server sees: each helper accepts on the host and connects anew inside, so never the client's own socket.
    const fromLoopback = peerAddress(await page(port, '/cgi-bin/peer'));
    const fromHostIp = peerAddress(await page(port, '/cgi-bin/peer', hostIp()));
    if (helper === 'pasta') {
      // pasta splices a connection from the host's loopback through the container's loopback (127.0.0.1);
      // one from another address goes through the tap device with its source kept: the host's address.
      expect(fromLoopback).toBe('127.0.0.1');
      expect(fromHostIp).toBe(hostIp());
    } else {
      // slirp4netns (libslirp's hostfwd) keeps the source address, but shows one from the host's loopback as
      // its gateway's, 10.0.2.2 (as it maps 10.0.2.2 to the host's loopback the other way).
      expect(fromLoopback).toBe('10.0.2.2');
      expect(fromHostIp).toBe(hostIp());
    }

    expect(await portLines(e, name)).toEqual([`${cport}/tcp -> 0.0.0.0:${port}`]);
    expect((await ok(e, ['inspect', '-f', '{{.HostConfig.NetworkMode}}', name])).trim()).toBe(helper);

    await ok(e, ['stop', name]);
    await waitUntil(() => !alive(h.pid), `${helper} (pid ${h.pid}) ends with its container (stop)`);
    expect(await canListen(port)).toBe(true);
    expect((await ok(e, ['port', name])).trim()).toBe('');
    await ok(e, ['rm', name]);
    await noNewOrphans(before);
  });

  it('-p CPORT gets a free host port that nook port reports; two containers serve on their own ports at once; rm -f ends both helpers', async (ctx) => {
    const { e, tun } = setup(ctx, helper);
    const before = helperPids();
    const [ca, cb] = helper === 'pasta' ? [8202, 8203] : [8302, 8303];
    for (const [name, cport] of [['a', ca], ['b', cb]] as const) {
      const r = await e.nook(['run', '-d', '--name', name, '--rootfs', rootfs(), '--network', helper, '-p', String(cport), ...webFlags(webRoot(e.user, `page-${name}`)), '--', ...httpd(cport)], { tun });
      expect(r.code, show(r)).toBe(0);
    }
    const a = await publishedPort(e, 'a', String(ca));
    const b = await publishedPort(e, 'b', `${cb}/tcp`);
    expect(a).not.toBe(b);
    const [ha, hb] = [await helperOf(e, 'a', helper), await helperOf(e, 'b', helper)];
    expect(ha.pid).not.toBe(hb.pid);
    expect(await page(a)).toBe('page-a\n');
    expect(await page(b)).toBe('page-b\n');
    // Each port is its own container's: parallel requests to both.
    const both = await Promise.all([page(a), page(b), page(a), page(b)]);
    expect(both).toEqual(['page-a\n', 'page-b\n', 'page-a\n', 'page-b\n']);
    expect(await ok(e, ['ps', '--format', '{{.Names}} {{.Ports}}'])).toMatch(new RegExp(`^(a 0\\.0\\.0\\.0:${a}->${ca}/tcp\\nb 0\\.0\\.0\\.0:${b}->${cb}/tcp|b 0\\.0\\.0\\.0:${b}->${cb}/tcp\\na 0\\.0\\.0\\.0:${a}->${ca}/tcp)\\n$`));

    await ok(e, ['rm', '-f', 'a', 'b']);
    await waitUntil(() => !alive(ha.pid) && !alive(hb.pid), `both ${helper}s end (rm -f)`);
    expect(await canListen(a)).toBe(true);
    expect(await canListen(b)).toBe(true);
    await noNewOrphans(before);
  });

  // To the host's own address: from the host's loopback neither helper here gets the reply back (Debian 12's
  // pasta returns no reply there, whatever its -U and --no-map-gw; slirp4netns sends the reply to 10.0.2.2, which
  // --disable-host-loopback refuses: without that flag it arrives).
  it("UDP to the host's address: each client gets the echo of its own datagrams", async (ctx) => {
    const { e, tun } = setup(ctx, helper);
    const before = helperPids();
    const cport = helper === 'pasta' ? 8204 : 8304;
    const dir = scratchDir(e.user, 'udp-');
    fs.copyFileSync(staticProgram('udpecho'), path.join(dir, 'udpecho'));
    fs.chmodSync(path.join(dir, 'udpecho'), 0o755);
    const r = await e.nook(['run', '-d', '--name', 'u', '--rootfs', rootfs(), '--network', helper, '-p', `${cport}/udp`, '-v', `${dir}:/mnt/data:ro`, '--', '/mnt/data/udpecho', String(cport)], { tun });
    expect(r.code, show(r)).toBe(0);
    const port = await publishedPort(e, 'u', `${cport}/udp`);
    const h = await helperOf(e, 'u', helper);
    const ask = (text: string) => askUdp(hostIp(), port, text);
    expect(await ask('one')).toBe('echo:one');
    const [x, y] = await Promise.all([ask('from-x'), ask('from-y')]);
    expect([x, y]).toEqual(['echo:from-x', 'echo:from-y']);
    await ok(e, ['rm', '-f', 'u']);
    await waitUntil(() => !alive(h.pid), `${helper} ends (rm -f)`);
    expect(await canBindUdp(port)).toBe(true);
    await noNewOrphans(before);
  });

  it('a host port in use: exit 125 naming the port and the fix, detached and in the foreground, and no helper left', async (ctx) => {
    const { e, tun } = setup(ctx, helper);
    const before = helperPids();
    const blocker = net.createServer();
    await new Promise<void>((res) => blocker.listen(0, '0.0.0.0', res));
    const busy = (blocker.address() as net.AddressInfo).port;
    const sleeper = helper === 'pasta' ? '2201' : '2301';
    // nook's temporary directory: the test user's clean environment has no TMPDIR.
    const apiDirs = () => fs.readdirSync('/tmp').filter((f) => f.startsWith('nook-slirp-'));
    const dirsBefore = new Set(apiDirs());
    try {
      const d = await e.nook(['run', '-d', '--name', 'busy', '--rootfs', rootfs(), '--network', helper, '-p', `${busy}:80`, '--', 'sleep', sleeper], { tun });
      expect(d.code, show(d)).toBe(125);
      expect(d.stderr).toContain(`cannot publish tcp port ${busy}:80: the host port is in use`);
      expect(d.stderr).toContain('hint: choose another host port with -p HOSTPORT:CONTAINERPORT, or stop what listens there');
      expect(d.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(await psRow(e, 'busy')).toMatchObject({ State: 'exited' });
      const fg = await e.nook(runArgs(['--network', helper, '-p', `${busy}:80`], ['sleep', sleeper]), { tun });
      expect(fg.code, show(fg)).toBe(125);
      expect(fg.stderr).toContain(`cannot publish tcp port ${busy}:80: the host port is in use`);
      // The blocker still has its port, and nothing of either run remains.
      expect(blocker.listening).toBe(true);
      await waitUntil(() => commandGone(['sleep', sleeper]), 'no container command left');
      // slirp4netns's API directory went with the failed runs too.
      expect(apiDirs().filter((d) => !dirsBefore.has(d))).toEqual([]);
      await noNewOrphans(before);
    } finally {
      blocker.close();
    }
  });

  it('a foreground nook run -p serves, nook port shows it, and a SIGKILL of nook ends the helper and frees the port', async (ctx) => {
    const { e, tun } = setup(ctx, helper);
    const before = helperPids();
    const cport = helper === 'pasta' ? 8205 : 8305;
    const port = await freePort();
    const fg = startNook(['run', '--name', 'fg', '--rootfs', rootfs(), '--network', helper, '-p', `${port}:${cport}`, ...webFlags(webRoot(e.user, `page-fg-${helper}`)), '--', ...httpd(cport)], { ...e.opts, tun });
    expect(await page(port)).toBe(`page-fg-${helper}\n`);
    expect(await portLines(e, 'fg')).toEqual([`${cport}/tcp -> 0.0.0.0:${port}`]);
    const h = await helperOf(e, 'fg', helper);
    fg.kill('SIGKILL');
    await fg.processExited;
    await waitUntil(() => !alive(h.pid), `${helper} (pid ${h.pid}) ends after nook was killed`);
    await waitUntil(() => commandGone(httpd(cport)), 'the container ends with nook');
    expect(await canListen(port)).toBe(true);
    await noNewOrphans(before);
    await e.nook(['rm', '-f', 'fg']);
  });
});

describe('-p with no --network', () => {
  it('where /dev/net/tun opens (the harness\'s node), it means pasta: the helper runs, inspect says so, and outbound works too', async (ctx) => {
    const { e, tun } = setup(ctx, 'pasta');
    const port = await freePort();
    // The fetched page goes to a tmpfs: the test rootfs is shared by every test and must stay as it is.
    const r = await e.nook(['run', '-d', '--name', 'auto', '--rootfs', rootfs(), '--tmpfs', '/tmp', '-p', `${port}:8206`, ...webFlags(webRoot(e.user, 'page-auto')), '--',
      'sh', '-c', `wget -q -O /tmp/out ${outboundUrl}; exec ${httpd(8206).join(' ')}`], { tun });
    expect(r.code, show(r)).toBe(0);
    const h = await helperOf(e, 'auto', 'pasta');
    expect((await ok(e, ['inspect', '-f', '{{.HostConfig.NetworkMode}}', 'auto'])).trim()).toBe('pasta');
    expect(await page(port)).toBe('page-auto\n');
    // Outbound: the container fetched the host server's page (a private network, not loopback only).
    const got = await e.nook(['exec', 'auto', 'cat', '/tmp/out']);
    expect(got.stdout, show(got)).toBe(`outbound ${outboundToken}\n`);
    await ok(e, ['rm', '-f', 'auto']);
    await waitUntil(() => !alive(h.pid), 'pasta ends (rm -f)');
    expect(await canListen(port)).toBe(true);
  });

  it('where it does not (the host\'s own 0600 node), nook\'s own proxy serves the port into a loopback-only sandbox', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    cleanUp(ctx, e);
    if (hostTunOpen()) ctx.skip('/dev/net/tun is 0666 on this host: -p alone always gets pasta here');
    const port = await freePort();
    await ok(e, ['run', '-d', '--name', 'fallback', '--rootfs', rootfs(), '-p', `${port}:8207`, ...webFlags(webRoot(e.user, 'page-fallback')), '--', ...httpd(8207)]);
    const pid = await containerPid(e, 'fallback');
    expect(helpers().filter((h) => h.target === pid)).toEqual([]);
    expect((await ok(e, ['inspect', '-f', '{{.HostConfig.NetworkMode}}', 'fallback'])).trim()).toBe('none');
    expect(await page(port)).toBe('page-fallback\n');
    // The built-in proxy: the server sees connections from the container's loopback.
    expect(peerAddress(await page(port, '/cgi-bin/peer'))).toBe('127.0.0.1');
    // The proxy is the supervisor's (nook-supervisor and its namespace helper), listening on the port.
    expect(hostProcesses().filter((p) => p.uid === e.user.uid && p.argv[0]?.endsWith('nook-supervisor') && p.argv[1]?.startsWith(e.state) && p.state !== 'Z').length).toBe(2);
    await ok(e, ['rm', '-f', 'fallback']);
    expect(await canListen(port)).toBe(true);
  });
});
