/**
 * Published ports through nook's built-in port proxy (a detached
 * container's supervisor listens on the host; a helper in the container's
 * namespaces makes the sockets): curl from the host reaches a web server in
 * the container; a port in use, a privileged port and a bad spec fail with
 * 125 before anything starts; stop, rm -f and a SIGKILL of the supervisor
 * free the port and leave no proxy process behind.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { env, ok, psRow, runDetached, type Env } from '../helpers/containers';
import { rootfs, show, startNook } from '../helpers/nook';
import { hostProcesses, processesWithArgv, runningProcessesOf, waitUntil } from '../helpers/procs';
import { askUdp, freePort, canListen } from '../helpers/host-ports';
import { need } from '../helpers/users';
import { scratchDir } from '../helpers/files';
import { buildOk, importBase, makeContext } from '../helpers/build';
import { staticProgram } from '../helpers/programs';

const run = promisify(execFile);

/** A web server in the container serving one page that names it. */
const web = (text: string, port = 80) => ['sh', '-c', `echo ${text} > /srv/app/index.html && exec httpd -f -p ${port} -h /srv/app`];
/** The server's argv once it runs: container ports differ between tests, so that each finds its own. */
const httpd = (port: number) => ['httpd', '-f', '-p', String(port), '-h', '/srv/app'];
const webFlags = ['--tmpfs', '/srv/app'];

async function curl(port: number, path = '/'): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}${path}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

/**
 * The page, once the server listens: nook returns when the container's first command runs (sh), and
 * httpd's listen comes a moment later, so a refused connection (reset by the proxy) is retried.
 */
async function page(port: number, path = '/'): Promise<{ code: number; out: string; err: string }> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const r = await curl(port, path);
    if (r.code === 0 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/**
 * What of this test still runs: its supervisors and namespace helpers (their argv names its state
 * directory) and its containers' commands. Not every process of the test user: other runs share them.
 */
function leftovers(e: Env, ...commands: string[][]): string[] {
  const want = new Set(commands.map((c) => c.join(' ')));
  return runningProcessesOf(e.user)
    .filter((p) => p.state !== 'Z' && (p.argv.some((a) => a.startsWith(e.state)) || want.has(p.argv.join(' '))))
    .map((p) => p.argv.join(' '));
}



/** This test's supervisors and their namespace helpers (a fork of the supervisor, with its argv), living ones. */
const proxyHelpers = (e: Env) =>
  hostProcesses().filter((p) => p.uid === e.user.uid && p.argv[0]?.endsWith('nook-supervisor') && p.argv[1]?.startsWith(e.state) && p.state !== 'Z');

async function published(e: Env, name: string, port: string): Promise<number> {
  const out = (await ok(e, ['port', name, port])).trim();
  const m = /^0\.0\.0\.0:(\d+)$/.exec(out);
  expect(m, out).not.toBeNull();
  return Number(m![1]);
}

describe('-p through the built-in port proxy', () => {
  it.for([['sub', 8101], ['nosub', 8102]] as const)('curl from the host gets the page of a web server in a -d -p container, and stop frees the port (user %s)', async ([kind, cport], ctx) => {
    const e = env(need(ctx, kind));
    const port = await freePort();
    await runDetached(e, ['--name', 'web', '-p', `${port}:${cport}`, ...webFlags], web(`page-${kind}`, cport));
    await waitUntil(() => proxyHelpers(e).length === 2, 'the supervisor and its namespace helper');
    const r = await page(port);
    expect(r, r.err).toMatchObject({ code: 0, out: `page-${kind}\n` });

    expect((await ok(e, ['port', 'web'])).trim()).toBe(`${cport}/tcp -> 0.0.0.0:${port}`);
    expect(await ok(e, ['ps', '--format', '{{.Names}} {{.Ports}}'])).toBe(`web 0.0.0.0:${port}->${cport}/tcp\n`);
    const inspect = JSON.parse(await ok(e, ['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web']));
    expect(inspect).toEqual({ [`${cport}/tcp`]: [{ HostIp: '0.0.0.0', HostPort: String(port) }] });

    await ok(e, ['stop', 'web']);
    expect(await canListen(port)).toBe(true);
    expect((await curl(port)).code).not.toBe(0);
    expect(proxyHelpers(e)).toEqual([]);
    // Stopped: no ports shown, though the container still asks for them.
    expect((await ok(e, ['port', 'web'])).trim()).toBe('');
    const bindings = JSON.parse(await ok(e, ['inspect', '-f', '{{json .HostConfig.PortBindings}}', 'web']));
    expect(bindings).toEqual({ [`${cport}/tcp`]: [{ HostIp: '', HostPort: String(port) }] });

    // start binds it again.
    await ok(e, ['start', 'web']);
    await waitUntil(() => proxyHelpers(e).length === 2, 'the proxy after start');
    expect((await page(port)).out).toBe(`page-${kind}\n`);
    await ok(e, ['rm', '-f', 'web']);
    expect(await canListen(port)).toBe(true);
    expect(leftovers(e, httpd(cport))).toEqual([]);
  });

  it('-p CPORT picks a free host port; two containers serve on their own ports; a large body arrives whole', async () => {
    const e = env();
    await runDetached(e, ['--name', 'a', '-p', '8103', ...webFlags], web('page-a', 8103));
    // A 4 MB body: the copy loop goes round many times.
    await runDetached(e, ['--name', 'b', '-p', '127.0.0.1::8104', ...webFlags], ['sh', '-c', 'head -c 4194304 /dev/zero | tr "\\0" x > /srv/app/big && exec httpd -f -p 8104 -h /srv/app']);
    const a = await published(e, 'a', '8103');
    const bOut = (await ok(e, ['port', 'b', '8104/tcp'])).trim();
    expect(bOut).toMatch(/^127\.0\.0\.1:\d+$/);
    const b = Number(bOut.split(':')[1]);
    expect(a).not.toBe(b);
    await waitUntil(() => proxyHelpers(e).length === 4, 'both proxies');
    expect((await page(a)).out).toBe('page-a\n');
    const big = await page(b, '/big');
    expect(big.err).toBe('');
    expect(big.out.length).toBe(4194304);
    expect(/^x+$/.test(big.out)).toBe(true);
    // Parallel connections each get a socket of their own in the container.
    const many = await Promise.all(Array.from({ length: 10 }, () => curl(a)));
    expect(many.map((r) => r.out)).toEqual(Array(10).fill('page-a\n'));
    await ok(e, ['rm', '-f', 'a', 'b']);
    expect(await canListen(a)).toBe(true);
    expect(await canListen(b)).toBe(true);
    expect(leftovers(e, httpd(8103), httpd(8104))).toEqual([]);
  });

  it('a command that closes its stdout and stderr keeps its ports served until it exits', async () => {
    const e = env();
    const port = await freePort();
    await runDetached(e, ['--name', 'quiet', '-p', `${port}:8110`, ...webFlags], ['sh', '-c', 'exec >/dev/null 2>&1; echo page-quiet > /srv/app/index.html; exec httpd -f -p 8110 -h /srv/app']);
    // The supervisor has seen both streams end (the log is complete) and still serves the port.
    // httpd runs once sh has closed both streams (its exec comes after the redirection).
    await waitUntil(() => processesWithArgv(httpd(8110)).length === 1, 'httpd running');
    expect((await page(port)).out).toBe('page-quiet\n');
    expect((await curl(port)).out).toBe('page-quiet\n');
    await ok(e, ['stop', 'quiet']);
    expect(await canListen(port)).toBe(true);
    expect(leftovers(e, httpd(8110))).toEqual([]);
  });

  it('a SIGKILL of the supervisor frees the port and takes the namespace helper with it', async () => {
    const e = env();
    const port = await freePort();
    await runDetached(e, ['--name', 'k', '-p', `${port}:8105`, ...webFlags], web('page-k', 8105));
    await waitUntil(() => proxyHelpers(e).length === 2, 'the supervisor and its namespace helper');
    expect((await page(port)).out).toBe('page-k\n');
    const procs = proxyHelpers(e);
    const sup = procs.find((p) => !procs.some((q) => q.pid === p.ppid))!;
    process.kill(sup.pid, 'SIGKILL');
    await waitUntil(() => proxyHelpers(e).length === 0, 'no supervisor nor helper');
    expect(await canListen(port)).toBe(true);
    await waitUntil(() => leftovers(e, httpd(8105)).length === 0, 'the container gone with its supervisor');
    expect(await psRow(e, 'k')).toMatchObject({ State: 'exited' });
    await ok(e, ['rm', 'k']);
  });

  it('a foreground run proxies too (nook-supervisor --proxy), and a SIGKILL of nook frees the port and leaves no proxy', async () => {
    const e = env();
    const port = await freePort();
    const fg = startNook(['run', '--name', 'fg', '--rootfs', rootfs(), '-p', `${port}:8106`, ...webFlags, '--', ...web('page-fg', 8106)], e.opts);
    const r = await page(port);
    expect(r, r.err).toMatchObject({ code: 0, out: 'page-fg\n' });
    // A named foreground container records its ports too.
    expect((await ok(e, ['port', 'fg'])).trim()).toBe(`8106/tcp -> 0.0.0.0:${port}`);
    const proxies = () => hostProcesses().filter((p) => p.uid === e.user.uid && p.argv[0]?.endsWith('nook-supervisor') && p.argv[2]?.endsWith(`,${port},8106`) && p.state !== 'Z');
    expect(proxies()).toHaveLength(2); // the proxy and its namespace helper
    fg.kill('SIGKILL');
    await fg.exited.catch(() => undefined);
    await waitUntil(() => proxies().length === 0 && leftovers(e, httpd(8106)).length === 0, 'no proxy nor container left');
    expect(await canListen(port)).toBe(true);
    expect(await psRow(e, 'fg')).toMatchObject({ State: 'exited' });
    await ok(e, ['rm', 'fg']);
  });

  it("-P publishes the image's EXPOSE ports, each on a free host port", async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    await buildOk(e, makeContext(e, { Dockerfile: 'FROM base:1\nEXPOSE 8108 8109/udp\n' }), ['-t', 'exposing:1']);
    const r = await e.nook(['run', '-d', '--name', 'pa', '-P', ...webFlags, 'exposing:1', ...web('page-P', 8108)]);
    expect(r.code, show(r)).toBe(0);
    const lines = (await ok(e, ['port', 'pa'])).trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^8108\/tcp -> 0\.0\.0\.0:\d+$/);
    expect(lines[1]).toMatch(/^8109\/udp -> 0\.0\.0\.0:\d+$/);
    expect((await ok(e, ['inspect', '-f', '{{.HostConfig.PublishAllPorts}}', 'pa'])).trim()).toBe('true');
    const port = await published(e, 'pa', '8108');
    expect((await page(port)).out).toBe('page-P\n');
    await ok(e, ['rm', '-f', 'pa']);
    expect(await canListen(port)).toBe(true);
    expect(leftovers(e, httpd(8108))).toEqual([]);
  });

  it('UDP: each client gets the replies to its own datagrams', async () => {
    const e = env();
    const dir = scratchDir(e.user, 'udp-');
    fs.copyFileSync(staticProgram('udpecho'), path.join(dir, 'udpecho'));
    fs.chmodSync(path.join(dir, 'udpecho'), 0o755);
    await runDetached(e, ['--name', 'u', '-p', '8107/udp', '-v', `${dir}:/mnt/data:ro`], ['/mnt/data/udpecho', '8107']);
    const out = (await ok(e, ['port', 'u', '8107/udp'])).trim();
    const port = Number(/^0\.0\.0\.0:(\d+)$/.exec(out)?.[1]);
    expect(port, out).toBeGreaterThan(0);
    const ask = (text: string) => askUdp('127.0.0.1', port, text);
    expect(await ask('one')).toBe('echo:one');
    const [a, b] = await Promise.all([ask('from-a'), ask('from-b')]);
    expect([a, b]).toEqual(['echo:from-a', 'echo:from-b']);
    await ok(e, ['rm', '-f', 'u']);
    expect(leftovers(e, ['/mnt/data/udpecho', '8107'])).toEqual([]);
  });

  it('a host port in use, a port below ip_unprivileged_port_start and a bad spec: 125, naming the port and the fix, nothing left', async () => {
    const e = env();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await e.nook(['run', '-d', '--name', 'busy', '--rootfs', rootfs(), '-p', `${busy}:80`, '--', 'sleep', '2181']);
      expect(r.code, show(r)).toBe(125);
      expect(r.stderr).toContain(`host port ${busy} is already in use`);
      expect(r.stderr).toContain('hint: publish on another host port');
      expect(await psRow(e, 'busy')).toMatchObject({ State: 'exited', ExitCode: 125 });
      // The container never started.
      expect(leftovers(e, ['sleep', '2181'])).toEqual([]);
      const fg = await e.nook(['run', '--rootfs', rootfs(), '-p', `${busy}:80`, '--', 'sleep', '2182']);
      expect(fg.code, show(fg)).toBe(125);
      expect(fg.stderr).toContain(`host port ${busy} is already in use`);
      expect(leftovers(e, ['sleep', '2182'])).toEqual([]);
    } finally {
      blocker.close();
    }
    const low = await e.nook(['run', '-d', '--rootfs', rootfs(), '-p', '80:80', '--', 'true']);
    expect(low.code, show(low)).toBe(125);
    expect(low.stderr).toMatch(/host port 80 is below \d+, the lowest port an unprivileged user may bind here/);
    expect(low.stderr).toContain('sysctl net.ipv4.ip_unprivileged_port_start=80');
    for (const [spec, says] of [['8o:80', 'invalid host port "8o"'], ['1:2:3:4', 'invalid -p 1:2:3:4'], ['8000-8002:80', 'differ in length'], ['80/sctp', 'invalid protocol "sctp"'], ['70000', 'invalid container port']]) {
      const bad = await e.nook(['run', '-d', '--rootfs', rootfs(), '-p', spec, '--', 'true']);
      expect(bad.code, show(bad)).toBe(125);
      expect(bad.stderr).toContain(says);
    }
    expect(leftovers(e)).toEqual([]);
  });
});
