/**
 * Private networks (--network pasta / private / slirp4netns) as the
 * unprivileged test users see them: outbound to a server the test starts on
 * the host's own non-loopback address, a clear error where /dev/net/tun
 * cannot be opened, and no helper left behind however nook ends (SIGKILL
 * included). /dev/net/tun is 0600 here: the harness gives each nook a 0666
 * node in a private mount namespace (test/helpers/tun.ts), as desktops have it.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { rootfs, runArgs, sandboxSh, show, startNook } from '../helpers/nook';
import { hostProcesses, waitUntil, type HostProcess } from '../helpers/procs';
import { hostTunOpen, openTunNode, removeTunNode } from '../helpers/tun';
import { need, type TestUser } from '../helpers/users';
import { env, psRow } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootOnlyImageWith } from '../helpers/images';
import { pushImage, startRegistry, type RegistryServer } from '../helpers/registry';
import { findExecutable } from '../../src/util/which';

let server: http.Server;
let url: string;
const token = randomBytes(8).toString('hex');
/** Requests the server got: the path and the peer's address. */
const seen: { path: string; from: string }[] = [];

/** The host's first non-loopback IPv4 address: the container reaches it through the helper; never an address off this machine. */
function hostIp(): string {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this host has no non-loopback IPv4 address');
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', from: req.socket.remoteAddress ?? '' });
    res.end(`page ${token}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, hostIp(), resolve));
  url = `http://${hostIp()}:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  removeTunNode();
});

/** The user and tun node for a private-network test, or a skip saying what is missing. */
function setup(ctx: TestContext, helper: 'pasta' | 'slirp4netns'): { user: TestUser; tun?: string } {
  const user = need(ctx, 'sub');
  if (!findExecutable(helper)) ctx.skip(`${helper} is not installed (apt-get install ${helper === 'pasta' ? 'passt' : helper})`);
  const tun = hostTunOpen() ? undefined : openTunNode();
  if (!hostTunOpen() && !tun) ctx.skip('/dev/net/tun is not 0666 and only root can give the test users one that is');
  return { user, tun };
}

/** pasta daemons (argv[0] pasta, last argument the sandbox's pid) and slirp4netns processes (pid before the tap name). */
function helpers(): (HostProcess & { target: number })[] {
  return hostProcesses().flatMap((p) => {
    const name = p.argv[0]?.split('/').pop();
    if (name === 'pasta') return [{ ...p, target: Number(p.argv[p.argv.length - 1]) }];
    if (name === 'slirp4netns') return [{ ...p, target: Number(p.argv[p.argv.length - 2]) }];
    return [];
  });
}

const alive = (pid: number) => hostProcesses().some((p) => p.pid === pid && p.state !== 'Z');

/** The helpers that ran before the current test began: other runs of the same test user may share the machine. */
let earlier = new Set<number>();
beforeEach(() => {
  earlier = new Set(helpers().map((h) => h.pid));
});

/** No helper of `user` started by this test whose container is gone: every pasta or slirp4netns ends with its container. */
async function noOrphanedHelpers(user: TestUser): Promise<void> {
  const orphans = () => helpers().filter((h) => h.uid === user.uid && h.state !== 'Z' && !earlier.has(h.pid) && !alive(h.target));
  await waitUntil(() => orphans().length === 0, `no pasta or slirp4netns outlives its container (left: ${JSON.stringify(orphans())})`);
}

/** Runs a script in a private-network sandbox that fetches the server's page; checks what came back and who asked. */
async function fetchFromHost(ctx: TestContext, helper: 'pasta' | 'slirp4netns', mode: string): Promise<void> {
  const { user, tun } = setup(ctx, helper);
  const path = `/${mode}-${randomBytes(4).toString('hex')}`;
  const r = await sandboxSh(`ip -4 addr show; wget -q -O- ${url}${path}`, ['--network', mode], { user, tun });
  expect(r.code, show(r)).toBe(0);
  expect(r.stdout).toContain(`page ${token}`);
  // An address of its own, not a copy of the host's (that is what lets it reach the host's address).
  expect(r.stdout).toContain('inet 10.0.2.100/24');
  expect(r.stdout).not.toContain(`inet ${hostIp()}/`);
  // The request went out through the helper's sockets on the host: the server saw it come from the host itself.
  const got = seen.find((s) => s.path === path);
  expect(got, JSON.stringify(seen)).toBeDefined();
  expect(got!.from.replace(/^::ffff:/, '')).toBe(hostIp());
  await noOrphanedHelpers(user);
}

describe('private networks', () => {
  it('--network pasta reaches an HTTP server on the host\'s own address, and pasta ends with the container', (ctx) => fetchFromHost(ctx, 'pasta', 'pasta'));
  it('--network private is pasta', (ctx) => fetchFromHost(ctx, 'pasta', 'private'));
  it('--network slirp4netns reaches it too', (ctx) => fetchFromHost(ctx, 'slirp4netns', 'slirp4netns'));

  it('$XDG_CONFIG_HOME/nook/nook.json {"network": "pasta"} makes the private network the default; --network none still wins', async (ctx) => {
    const { user, tun } = setup(ctx, 'pasta');
    const config = scratchDir(user, 'xdg-');
    fs.mkdirSync(path.join(config, 'nook'));
    fs.writeFileSync(path.join(config, 'nook', 'nook.json'), '{"network": "pasta"}\n', { mode: 0o644 });
    const opts = { user, tun, env: { XDG_CONFIG_HOME: config } };
    const byDefault = await sandboxSh('ip -4 addr show', [], opts);
    expect(byDefault.code, show(byDefault)).toBe(0);
    expect(byDefault.stdout).toContain('inet 10.0.2.100/24');
    const none = await sandboxSh('ip -4 addr show', ['--network', 'none'], opts);
    expect(none.code, show(none)).toBe(0);
    expect(none.stdout).not.toContain('10.0.2.100');
    expect(none.stdout).toContain('inet 127.0.0.1/8');
  });

  it('the host\'s loopback stays out of reach (-T none, --no-map-gw)', async (ctx) => {
    const { user, tun } = setup(ctx, 'pasta');
    const local = http.createServer((_req, res) => res.end('loopback\n'));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    try {
      const port = (local.address() as AddressInfo).port;
      const r = await sandboxSh(`wget -q -T 2 -O- http://127.0.0.1:${port}/ || echo none1; wget -q -T 2 -O- http://10.0.2.2:${port}/ || echo none2`, ['--network', 'pasta'], { user, tun });
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).not.toContain('loopback');
      expect(r.stdout).toContain('none1');
      expect(r.stdout).toContain('none2');
    } finally {
      await new Promise((resolve) => local.close(resolve));
    }
  });

  it('without a /dev/net/tun the user may open: exit 125, naming its mode and the fix', async (ctx) => {
    const user = need(ctx, 'sub');
    if (hostTunOpen()) ctx.skip('/dev/net/tun is 0666 on this host');
    for (const mode of ['pasta', 'slirp4netns']) {
      if (!findExecutable(mode)) continue;
      const r = await sandboxSh('echo ran', ['--network', mode], { user });
      expect(r.code, show(r)).toBe(125);
      expect(r.stdout).not.toContain('ran');
      expect(r.stderr).toMatch(/\/dev\/net\/tun: it is mode 0600/);
      expect(r.stderr).toMatch(/udev rule.*--network host/s);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    await noOrphanedHelpers(user);
  });

  for (const helper of ['pasta', 'slirp4netns'] as const)
    it(`a SIGKILL of nook leaves no ${helper} behind`, async (ctx) => {
      const { user, tun } = setup(ctx, helper);
      const nook = startNook(runArgs(['--network', helper], ['sh', '-c', 'echo ready; exec sleep 1000']), { user, tun });
      await nook.waitForStdout('ready');
      // The helper whose container is nook's child: this run's.
      const container = hostProcesses().find((p) => p.ppid === nook.pid && p.argv[0] !== '/bin/sh');
      const mine = helpers().filter((h) => h.target === container?.pid);
      expect(mine.length, `helpers: ${JSON.stringify(helpers())}; container ${JSON.stringify(container)}`).toBe(1);
      nook.kill('SIGKILL');
      await nook.processExited;
      await waitUntil(() => !alive(mine[0].pid), `${helper} (pid ${mine[0].pid}) ends after nook was killed`);
      await noOrphanedHelpers(user);
    });

  it('a SIGKILL of nook while pasta is still setting up leaves no pasta behind either', async (ctx) => {
    const { user, tun } = setup(ctx, 'pasta');
    const nook = startNook(runArgs(['--network', 'pasta'], ['sh', '-c', 'echo ready; exec sleep 1000']), { user, tun });
    // The first pasta process aimed at nook's child: its set-up has begun (it may have finished too; either way nothing may remain).
    let target = 0;
    await waitUntil(() => {
      const container = new Set(hostProcesses().filter((p) => p.ppid === nook.pid).map((p) => p.pid));
      target = helpers().find((h) => container.has(h.target))?.target ?? 0;
      return target > 0;
    }, 'pasta starts', 10_000).catch((e) => { throw new Error(`${(e as Error).message}; nook stdout: ${nook.stdout}; stderr: ${nook.stderr}; helpers: ${JSON.stringify(helpers())}`); });
    nook.kill('SIGKILL');
    await nook.processExited;
    await waitUntil(() => !helpers().some((h) => h.target === target && h.state !== 'Z'), `no pasta for container ${target} after nook was killed`);
    await noOrphanedHelpers(user);
  });

  for (const helper of ['pasta', 'slirp4netns'] as const)
    it(`-d --network ${helper}: the container reaches the host; rm -f, and a SIGKILL of its supervisor, leave no ${helper}`, async (ctx) => {
      const { user, tun } = setup(ctx, helper);
      const e = env(user);
      const start = async (name: string, path: string) => {
        const r = await e.nook(['run', '-d', '--name', name, '--rootfs', rootfs(), '--network', helper, '--', 'sh', '-c', `wget -q -O- ${url}${path}; exec sleep 1000`], { tun });
        expect(r.code, show(r)).toBe(0);
        await waitUntil(() => seen.some((s) => s.path === path), `the detached container fetched ${path}`);
        const pid = Number((await e.nook(['inspect', '-f', '{{.State.Pid}}', name])).stdout.trim());
        const mine = helpers().filter((h) => h.target === pid);
        expect(mine.length, `helpers: ${JSON.stringify(helpers())}; container pid ${pid}`).toBe(1);
        return mine[0];
      };
      // rm -f: the container ends, the supervisor runs the exit command, the lifeline closes.
      const first = await start(`${helper}-rm`, `/d-rm-${helper}`);
      const rm = await e.nook(['rm', '-f', `${helper}-rm`]);
      expect(rm.code, show(rm)).toBe(0);
      await waitUntil(() => !alive(first.pid), `${helper} (pid ${first.pid}) ends with its container (rm -f)`);
      // A SIGKILL of the supervisor: the container dies with it, and so does the helper.
      const second = await start(`${helper}-kill`, `/d-kill-${helper}`);
      const sup = (await psRow(e, `${helper}-kill`))!;
      const supervisorPid = hostProcesses().find((p) => p.pid === sup.Pid)?.ppid;
      expect(supervisorPid, JSON.stringify(sup)).toBeGreaterThan(1);
      process.kill(supervisorPid!, 'SIGKILL');
      await waitUntil(() => !alive(second.pid), `${helper} (pid ${second.pid}) ends after its supervisor was killed`);
      await e.nook(['rm', '-f', `${helper}-kill`]);
      await noOrphanedHelpers(user);
    });

  describe('from an image (generated /etc files)', () => {
    let registry: RegistryServer;
    let image: string;
    beforeAll(async () => {
      registry = await startRegistry({ auth: 'none' });
      image = `${registry.host}/nook/privnet:latest`;
      await pushImage(registry.host, 'nook/privnet', 'latest', rootOnlyImageWith([{ path: 'etc/resolv.conf', content: 'nameserver 203.0.113.99\n' }]));
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it("resolv.conf starts with pasta's DNS forwarder; host.containers.internal and --add-host NAME:host-gateway reach the host", async (ctx) => {
      const { user, tun } = setup(ctx, 'pasta');
      const e = env(user);
      const port = new URL(url).port;
      const r = await e.nook(
        ['run', '--tls-verify=false', '-q', '--network', 'pasta', '--hostname', 'web', '--add-host', 'gw:host-gateway', image, 'sh', '-c',
          `cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; wget -q -O- http://host.containers.internal:${port}/hci; wget -q -O- http://gw:${port}/gw`],
        { tun },
      );
      expect(r.code, show(r)).toBe(0);
      const [resolv, hosts, pages] = r.stdout.split('---\n');
      expect(resolv).toMatch(/^# Generated by nook.*\nnameserver 10\.0\.2\.3\n/);
      expect(resolv).not.toContain('203.0.113.99');
      expect(hosts.split('\n')).toEqual(expect.arrayContaining(['10.0.2.100\tweb', `${hostIp()}\thost.containers.internal host.docker.internal`, `${hostIp()}\tgw`]));
      expect(pages).toBe(`page ${token}\npage ${token}\n`);
      expect(seen.map((s) => s.path)).toEqual(expect.arrayContaining(['/hci', '/gw']));
      await noOrphanedHelpers(user);
    });

    it("names resolve through pasta's DNS forwarder (10.0.2.3), which asks the host's nameserver: here a tiny answerer of the test's", async (ctx) => {
      const { user, tun } = setup(ctx, 'pasta');
      if (!tun) ctx.skip('needs the private mount namespace of the tun wrapper, to show nook and pasta a resolv.conf of the test');
      // Answers every A query with the host's address, and remembers the names asked.
      const asked: string[] = [];
      const dns = dgram.createSocket('udp4');
      dns.on('message', (q, peer) => {
        let i = 12;
        const labels: string[] = [];
        while (q[i]) {
          labels.push(q.subarray(i + 1, i + 1 + q[i]).toString());
          i += q[i] + 1;
        }
        const question = q.subarray(12, i + 5);
        asked.push(labels.join('.'));
        const isA = q.readUInt16BE(i + 1) === 1;
        const header = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, isA ? 1 : 0, 0, 0, 0, 0]);
        const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...hostIp().split('.').map(Number)]);
        dns.send(Buffer.concat([header, question, ...(isA ? [answer] : [])]), peer.port, peer.address);
      });
      await new Promise<void>((resolve, reject) => {
        dns.once('error', reject);
        dns.bind(53, hostIp(), () => resolve());
      }).catch((e) => ctx.skip(`cannot listen on ${hostIp()}:53 for the test's DNS answerer: ${(e as Error).message}`));
      try {
        const resolv = path.join(scratchDir(), 'resolv.conf');
        fs.writeFileSync(resolv, `nameserver ${hostIp()}\n`, { mode: 0o644 });
        const e = env(user);
        const name = `web-${randomBytes(3).toString('hex')}.nook.test`;
        const port = new URL(url).port;
        const r = await e.nook(
          ['run', '--tls-verify=false', '-q', '--network', 'pasta', image, 'sh', '-c', `head -3 /etc/resolv.conf; nslookup ${name} 10.0.2.3; wget -q -O- http://${name}:${port}/dns`],
          { tun, resolvConf: resolv },
        );
        expect(r.code, show(r)).toBe(0);
        // The forwarder first, then the host's own server (as nook saw the host's resolv.conf).
        expect(r.stdout).toContain(`nameserver 10.0.2.3\nnameserver ${hostIp()}\n`);
        expect(r.stdout).toContain(`page ${token}`);
        expect(asked).toContain(name);
        expect(seen.map((s) => s.path)).toContain('/dns');
      } finally {
        dns.close();
      }
    });
  });
});
