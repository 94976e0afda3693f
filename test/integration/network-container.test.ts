/**
 * --network container:NAME, as the unprivileged test users see it: a
 * sidecar joins a running container's network namespace (and, to be
 * allowed to, its user namespace), and makes its other namespaces of its
 * own. Asserted from inside: the other's loopback-only server answers, the
 * network and user namespaces are the other's, the pid and mount namespaces
 * are not; foreground, -d, exec and an image root; errors exit 125.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, runDetached, type Env } from '../helpers/containers';
import { rootfs, show } from '../helpers/nook';
import { runningProcessesOf, waitUntil } from '../helpers/procs';
import { need } from '../helpers/users';
import { importBase } from '../helpers/build';

/** A web server on the target's loopback only: nothing but a sharer of its network reaches it (its page on a tmpfs: webFlags). */
const webFlags = ['--tmpfs', '/srv/app'];
const server = (port: number) => ['sh', '-c', `echo page-$(hostname) > /srv/app/index.html && exec httpd -f -p 127.0.0.1:${port} -h /srv/app`];

/** Fetches the target's page (retried until its httpd listens), then prints the sidecar's namespaces and pid. */
const fetchAndShow = (port: number) => [
  'sh',
  '-c',
  `for i in $(seq 100); do wget -qO- http://127.0.0.1:${port}/ 2>/dev/null && break; usleep 50000; done; ` +
    'for n in net user pid mnt; do echo "$n $(readlink /proc/self/ns/$n)"; done; echo "init $$"; echo "hostname $(hostname)"; ps -o pid,args',
];

/** A fresh state for the test, whose containers are removed however the test ends (no supervisor left for later tests). */
function testEnv(e: Env): Env {
  onTestFinished(async () => {
    await e.nook(['rm', '-f', 'side', 'web']);
  });
  return e;
}

/** The namespaces of a running container's init, as it sees them. */
async function namespacesOf(e: Env, name: string): Promise<Record<string, string>> {
  const out = await ok(e, ['exec', name, 'sh', '-c', 'for n in net user pid mnt; do echo "$n $(readlink /proc/1/ns/$n)"; done']);
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

function parse(out: string): { page: string; ns: Record<string, string>; pid: string; hostname: string; ps: string } {
  const lines = out.split('\n');
  const ns = Object.fromEntries(lines.filter((l) => /^(net|user|pid|mnt) /.test(l)).map((l) => l.split(' ') as [string, string]));
  return {
    page: lines[0],
    ns,
    pid: lines.find((l) => l.startsWith('init '))!.slice(5),
    hostname: lines.find((l) => l.startsWith('hostname '))!.slice(9),
    ps: lines.slice(lines.findIndex((l) => l.startsWith('hostname ')) + 1).join('\n'),
  };
}

describe('--network container:NAME', () => {
  it.for([['sub', 8201], ['nosub', 8202]] as const)(
    "a foreground sidecar reaches the other's loopback server, in its network and user namespaces but its own pid and mount ones (user %s)",
    async ([kind, port], ctx) => {
      const e = testEnv(env(need(ctx, kind)));
      await runDetached(e, ['--name', 'web', '--hostname', 'websrv', ...webFlags], server(port));
      const theirs = await namespacesOf(e, 'web');
      const r = await e.nook(['run', '--rm', '--network', 'container:web', '--rootfs', rootfs(), '--', ...fetchAndShow(port)]);
      expect(r.code, show(r)).toBe(0);
      const mine = parse(r.stdout);
      expect(mine.page).toBe('page-websrv');
      expect(mine.ns.net).toBe(theirs.net);
      expect(mine.ns.user).toBe(theirs.user);
      expect(mine.ns.pid).not.toBe(theirs.pid);
      expect(mine.ns.mnt).not.toBe(theirs.mnt);
      // Its own pid namespace: it is pid 1 there, and the other's httpd is not in sight.
      expect(mine.pid).toBe('1');
      expect(mine.ps).not.toMatch(/httpd/);
      // As docker: sharing a network is sharing its hostname.
      expect(mine.hostname).toBe('websrv');
      // The command's status is nook's.
      const code = await e.nook(['run', '--rm', '--network', 'container:web', '--rootfs', rootfs(), '--', 'sh', '-c', 'exit 7']);
      expect(code.code, show(code)).toBe(7);
      await ok(e, ['rm', '-f', 'web']);
    },
  );

  it('-d: exec in the sidecar reaches the server; ps and inspect name the network as docker does; the sidecar outlives the other', async (ctx) => {
    const e = testEnv(env(need(ctx, 'sub')));
    const webId = await runDetached(e, ['--name', 'web', ...webFlags], server(8203));
    await runDetached(e, ['--name', 'side', '--network', `container:web`], ['sleep', '1000']);
    const r = await e.nook(['exec', 'side', ...fetchAndShow(8203)]);
    expect(r.code, show(r)).toBe(0);
    expect(parse(r.stdout).page).toMatch(/^page-/);
    expect((await namespacesOf(e, 'side')).net).toBe((await namespacesOf(e, 'web')).net);
    expect(await ok(e, ['inspect', '-f', '{{.HostConfig.NetworkMode}}', 'side'])).toBe(`container:${webId}\n`);
    expect((await ok(e, ['ps', '--format', '{{.Names}} {{.Networks}}'])).split('\n').sort()).toEqual(['', 'side container:' + webId, 'web none']);

    // The other goes; the namespace lives on with the sidecar (as with docker), which keeps running.
    await ok(e, ['rm', '-f', 'web']);
    expect((await ok(e, ['exec', 'side', 'sh', '-c', 'echo alive; cat /sys/class/net/lo/operstate 2>/dev/null || true'])).split('\n')[0]).toBe('alive');
    await ok(e, ['rm', '-f', 'side']);
    await waitUntil(() => runningProcessesOf(e.user).every((p) => !p.argv.some((a) => a.startsWith(e.state))), 'no supervisor left');
  });

  it('from an image (an overlay root mounted in the shared user namespace)', async (ctx) => {
    const e = testEnv(env(need(ctx, 'sub')));
    await importBase(e);
    await ok(e, ['run', '-d', '--name', 'web', '--hostname', 'imgweb', ...webFlags, 'base:1', ...server(8204)]);
    const r = await e.nook(['run', '--rm', '--network', 'container:web', 'base:1', ...fetchAndShow(8204)]);
    expect(r.code, show(r)).toBe(0);
    expect(parse(r.stdout).page).toBe('page-imgweb');
    // The image's /etc/hostname is the shared name too.
    expect(await ok(e, ['run', '--rm', '--network', 'container:web', 'base:1', 'cat', '/etc/hostname'])).toBe('imgweb\n');
    await ok(e, ['rm', '-f', 'web']);
  });

  it('a stopped or missing container, and options that belong to the other container: 125, naming the problem', async (ctx) => {
    const e = testEnv(env(need(ctx, 'sub')));
    const missing = await e.nook(['run', '--network', 'container:nope', '--rootfs', rootfs(), '--', 'true']);
    expect(missing.code, show(missing)).toBe(125);
    expect(missing.stderr).toMatch(/No such container: nope/);

    await runDetached(e, ['--name', 'web'], ['sleep', '1000']);
    await ok(e, ['stop', '-t', '0', 'web']);
    const stopped = await e.nook(['run', '--network', 'container:web', '--rootfs', rootfs(), '--', 'true']);
    expect(stopped.code, show(stopped)).toBe(125);
    expect(stopped.stderr).toMatch(/cannot join the network of container web: it is not running/);
    expect(stopped.stderr).not.toMatch(/\n\s+at /);

    for (const [flags, what] of [
      [['-p', '8080:80'], '-p/-P'],
      [['--hostname', 'x'], '--hostname'],
      [['--dns', '9.9.9.9'], '--dns'],
      [['--add-host', 'a:1.2.3.4'], '--add-host'],
    ] as const) {
      const r = await e.nook(['run', '--network', 'container:web', ...flags, '--rootfs', rootfs(), '--', 'true']);
      expect(r.code, show(r)).toBe(125);
      expect(r.stderr).toContain(`conflicting options: ${what} and --network container:web`);
    }
    await ok(e, ['rm', '-f', 'web']);
  });
});
