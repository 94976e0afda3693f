/**
 * What runs beside and inside a detached container, as unprivileged users:
 * nook logs (plain, --tail, --timestamps, -f while lines come, rotation),
 * nook exec (the container's pid namespace, hostname, files, user, policy,
 * exit codes) and run --init (PID 1 that reaps and forwards signals).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { env, ok, psRow, runDetached, type Env } from '../helpers/containers';
import { scratchDir } from '../helpers/files';
import { rootfs, show, startNook } from '../helpers/nook';
import { runOnPty } from '../helpers/pty';
import { need } from '../helpers/users';

async function waitExited(e: Env, name: string): Promise<void> {
  await ok(e, ['wait', name]);
}

describe('nook logs', () => {
  it('keeps stdout and stderr apart; --tail N and --timestamps', async () => {
    const e = env();
    await runDetached(e, ['--name', 'talker'], ['sh', '-c', 'echo one; echo oops >&2; echo two; printf three']);
    await waitExited(e, 'talker');
    const all = await e.nook(['logs', 'talker']);
    expect(all.code, show(all)).toBe(0);
    expect(all.stdout).toBe('one\ntwo\nthree');
    expect(all.stderr).toBe('oops\n');

    // Lines of stdout and stderr are not ordered with each other (two pipes), so --tail is shown on one stream.
    await runDetached(e, ['--name', 'counter'], ['sh', '-c', 'for i in 1 2 3 4 5; do echo $i; done']);
    await waitExited(e, 'counter');
    expect(await ok(e, ['logs', '--tail', '2', 'counter'])).toBe('4\n5\n');
    expect(await ok(e, ['logs', '--tail', '0', 'counter'])).toBe('');

    const stamped = await e.nook(['logs', '--timestamps', 'talker']);
    const lines = stamped.stdout.split('\n');
    expect(lines).toHaveLength(3);
    for (const [i, word] of ['one', 'two', 'three'].entries()) {
      const m = /^(\S+) (.*)$/.exec(lines[i]!);
      expect(m, lines[i]).not.toBeNull();
      expect(Number.isNaN(Date.parse(m![1]!))).toBe(false);
      expect(m![2]).toBe(word);
    }

    const bad = await e.nook(['logs', '--tail', 'many', 'talker']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--tail/);
    const none = await e.nook(['logs', 'nosuch']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no such container/i);
  });

  it('-f streams lines as the container writes them and returns when it exits', async () => {
    const e = env();
    const gate = scratchDir(e.user, 'gate-');
    await runDetached(e, ['--name', 'stream', '-v', `${gate}:/mnt/data`], [
      'sh', '-c', 'echo first; while [ ! -e /mnt/data/go ]; do sleep 0.05; done; echo second; exit 3',
    ]);
    const follow = startNook(['logs', '-f', 'stream'], e.opts);
    await follow.waitForStdout('first\n');
    // The container is blocked on the gate: the second line cannot be there yet.
    expect(follow.stdout).toBe('first\n');
    fs.writeFileSync(path.join(gate, 'go'), '');
    await follow.waitForStdout('second\n');
    const r = await follow.exited;
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('first\nsecond\n');
    expect(await psRow(e, 'stream')).toMatchObject({ State: 'exited', ExitCode: 3 });
  });

  it('rotation keeps the log within max-size × max-file and keeps the newest lines', async () => {
    const e = env();
    const id = await runDetached(e, ['--name', 'chatty', '--log-opt', 'max-size=4k', '--log-opt', 'max-file=2'], [
      'sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done',
    ]);
    await waitExited(e, 'chatty');
    const dir = path.join(e.state, 'containers', id);
    const logs = fs.readdirSync(dir).filter((f) => f.startsWith('container.log'));
    expect(logs.length).toBeGreaterThanOrEqual(2);
    expect(logs.length).toBeLessThanOrEqual(2);
    const total = logs.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    // Records carry a timestamp and stream tag, so 3000 lines are ~150 kB unrotated.
    expect(total).toBeLessThanOrEqual(2 * 4096 + 256);
    const r = await e.nook(['logs', 'chatty']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('line-2999');
    // What is kept is a contiguous run of the newest lines.
    const first = Number(lines[0]!.slice('line-'.length));
    expect(lines).toEqual(Array.from({ length: 3000 - first }, (_, i) => `line-${first + i}`));
    await ok(e, ['rm', 'chatty']);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('nook exec', () => {
  it.for(['sub', 'nosub'] as const)('joins the pid namespace, hostname and files of the container (user %s)', async (kind, ctx) => {
    const e = env(need(ctx, kind));
    const sleeper = kind === 'sub' ? '2311' : '2312';
    // --rootfs containers share the rootfs's /tmp: file names of this test's own.
    const t = `/tmp/exec-${kind}`;
    await runDetached(e, ['--name', 'box'], ['sh', '-c', `hostname > ${t}-hn; echo made-inside > ${t}-marker; exec sleep ${sleeper}`]);
    const marker = await ok(e, ['exec', 'box', 'sh', '-c', `while [ ! -s ${t}-hn ]; do sleep 0.02; done; cat ${t}-marker`]);
    expect(marker).toBe('made-inside\n');
    const names = await ok(e, ['exec', 'box', 'sh', '-c', `cat ${t}-hn; hostname`]);
    const [inside, joined] = names.trim().split('\n');
    expect(joined).toBe(inside);

    // PID 1 is the container's command; exec's own processes are the only others.
    const procs = await ok(e, ['exec', 'box', 'sh', '-c', 'for p in /proc/[0-9]*; do echo "${p#/proc/} $(tr "\\0" " " < $p/cmdline)"; done']);
    const rows = procs.trim().split('\n').map((l) => l.trim());
    expect(rows).toContain(`1 sleep ${sleeper}`);
    expect(rows.length).toBeLessThanOrEqual(4); // sleep, sh, and tr/cat of the loop
    expect(procs).not.toMatch(/vitest|node|nook-supervisor/);
    // Files written by exec are seen by the container's processes.
    await ok(e, ['exec', 'box', 'sh', '-c', `echo from-exec > ${t}-back`]);
    expect(await ok(e, ['exec', 'box', 'cat', `${t}-back`])).toBe('from-exec\n');
    await ok(e, ['exec', 'box', 'rm', `${t}-hn`, `${t}-marker`, `${t}-back`]);
    await ok(e, ['rm', '-f', 'box']);
  });

  it('passes exit codes and signals through, like run', async () => {
    const e = env();
    await runDetached(e, ['--name', 'codes'], ['sleep', '2321']);
    expect((await e.nook(['exec', 'codes', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await e.nook(['exec', 'codes', 'sh', '-c', 'kill -TERM $$'])).code).toBe(143);
    const missing = await e.nook(['exec', 'codes', 'no-such-program']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/no-such-program/);
    const input = await e.nook(['exec', '-i', 'codes', 'sh', '-c', 'tr a-z A-Z'], { input: 'piped in\n' });
    expect(input.stdout).toBe('PIPED IN\n');
    await ok(e, ['rm', '-f', 'codes']);
  });

  it('-e, -w and -u set the environment, directory and user of the command', async () => {
    const e = env();
    await runDetached(e, ['--name', 'who', '-e', 'FROM_RUN=1'], ['sleep', '2331']);
    const out = await ok(e, ['exec', '-e', 'GREETING=hello there', '-w', '/tmp', '-u', 'user', 'who', 'sh', '-c',
      'echo "$GREETING|$FROM_RUN|$(pwd)|$(id -u):$(id -g)|$HOME"']);
    expect(out).toBe('hello there|1|/tmp|1000:1000|/home/user\n');
    expect(await ok(e, ['exec', '-u', '0', 'who', 'id', '-u'])).toBe('0\n');
    // -e K alone copies K from nook's environment, and leaves it out when unset there, as run -e does.
    const copied = await e.nook(['exec', '-e', 'FROM_HOST', '-e', 'NOT_IN_HOST', 'who', 'sh', '-c', 'echo "$FROM_HOST|${NOT_IN_HOST-unset}"'], { env: { ...e.opts.env, FROM_HOST: 'copied' } });
    expect(copied.stdout, show(copied)).toBe('copied|unset\n');
    const noDir = await e.nook(['exec', '-w', '/no/such/dir', 'who', 'true']);
    expect(noDir.code).toBe(125);
    expect(noDir.stderr).toMatch(/\/no\/such\/dir/);
    await ok(e, ['rm', '-f', 'who']);
  });

  it("keeps the container's capabilities and seccomp filter; --privileged lifts them", async () => {
    const e = env();
    await runDetached(e, ['--name', 'policy', '--tmpfs', '/tmp'], ['sh', '-c', 'grep -E "^(CapEff|Seccomp):" /proc/self/status > /tmp/run-policy; exec sleep 2341']);
    const script = 'while [ ! -s /tmp/run-policy ]; do sleep 0.02; done; cat /tmp/run-policy; grep -E "^(CapEff|Seccomp):" /proc/self/status';
    const plain = (await ok(e, ['exec', 'policy', 'sh', '-c', script])).trim().split('\n');
    // The run's own lines, then exec's: the same.
    expect(plain.slice(2)).toEqual(plain.slice(0, 2));
    expect(plain[1]).toMatch(/^Seccomp:\s+2$/);
    const priv = (await ok(e, ['exec', '--privileged', 'policy', 'sh', '-c', script])).trim().split('\n');
    expect(priv[3]).toMatch(/^Seccomp:\s+0$/);
    const capEff = (line: string) => BigInt('0x' + line.split(/\s+/)[1]);
    expect(capEff(priv[2]!)).toBeGreaterThan(capEff(plain[2]!));
    await ok(e, ['rm', '-f', 'policy']);
  });

  it('-t gives the command a terminal of its own, and -it types into it', async () => {
    const e = env();
    await runDetached(e, ['--name', 'term'], ['sleep', '2381']);
    const t = await runOnPty(['exec', '-t', 'term', 'sh', '-c', 'test -t 0 && test -t 1 && echo all-tty; echo TERM=$TERM'], { user: e.user, env: e.opts.env });
    expect(t.status, t.output).toBe(0);
    expect(t.output).toBe('all-tty\nTERM=xterm\n');
    expect(t.restored).toBe(true);
    const it = await runOnPty(['exec', '-it', 'term', 'sh', '-c', 'echo ready; read line; echo "got $line"; exit 4'], {
      user: e.user, env: e.opts.env, steps: [{ expect: 'ready', send: 'typed\\r' }],
    });
    expect(it.status, it.output).toBe(4);
    expect(it.output).toContain('got typed');
    await ok(e, ['rm', '-f', 'term']);
  });

  it('refuses a container that is not running, and an unknown one, with 125', async () => {
    const e = env();
    await runDetached(e, ['--name', 'done'], ['true']);
    await waitExited(e, 'done');
    const stopped = await e.nook(['exec', 'done', 'true']);
    expect(stopped.code).toBe(125);
    expect(stopped.stderr).toMatch(/not running/);
    expect(stopped.stderr).toMatch(/nook start done/);
    const unknown = await e.nook(['exec', 'nobody-here', 'true']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/no such container/i);
    const noCmd = await e.nook(['exec', 'done']);
    expect(noCmd.code).toBe(125);
  });
});

describe('run --init', () => {
  const base = (flags: string[], script: string) => ['run', '--rootfs', rootfs(), '--init', ...flags, '--', 'sh', '-c', script];

  it('PID 1 is nook-init and the command PID 2, whose exit code is passed on', async () => {
    const e = env();
    const r = await e.nook(base([], 'cat /proc/1/comm; echo "me $$"; exit 9'));
    expect(r.code, show(r)).toBe(9);
    expect(r.stdout).toBe('nook-init\nme 2\n');
  });

  it('reaps orphans, which stay zombies under a PID 1 that never waits', async () => {
    const e = env();
    // The orphan's parent (a subshell) exits at once, so it is handed to PID 1.
    const cmd = ['sh', '-c', '(sleep 0.05 & echo $! > /tmp/orphan); exec sleep 2371'];
    // Until the orphan is either gone (reaped) or a zombie: no fixed wait, and at most 10 s.
    const watch = 'while [ ! -s /tmp/orphan ]; do sleep 0.02; done; p=$(cat /tmp/orphan); i=0; while [ $i -lt 500 ]; do ' +
      's=$(sed -n "s/^State:[[:space:]]*\\(.\\).*/\\1/p" /proc/$p/status 2>/dev/null); ' +
      '[ -z "$s" ] && echo reaped && exit; [ "$s" = Z ] && echo zombie && exit; sleep 0.02; i=$((i+1)); done; echo still-running';
    // Each has a /tmp of its own (a tmpfs in its mount namespace, which exec joins).
    await runDetached(e, ['--name', 'noinit', '--tmpfs', '/tmp'], cmd);
    expect(await ok(e, ['exec', 'noinit', 'sh', '-c', watch])).toBe('zombie\n');
    await runDetached(e, ['--name', 'withinit', '--init', '--tmpfs', '/tmp'], cmd);
    expect(await ok(e, ['exec', 'withinit', 'sh', '-c', watch])).toBe('reaped\n');
    await ok(e, ['rm', '-f', 'noinit', 'withinit']);
  });

  it('forwards signals: SIGTERM to nook run reaches the command, which ends with 143', async () => {
    const e = env();
    const fg = startNook(base([], 'echo ready; sleep 2351 & wait'), e.opts);
    await fg.waitForStdout('ready\n');
    fg.kill('SIGTERM');
    const r = await fg.exited;
    expect(r.code, show(r)).toBe(143);
  });

  // PID 1 used to be a copy of nook (or of nook-supervisor with -d) that never exec'd: the
  // container could read nook's environment in /proc/1/environ and its memory in /proc/1/mem.
  it.for(['run', 'run -d'])("%s: PID 1 holds nothing of nook's (environment, memory, executable)", async (mode) => {
    const e = env();
    const secret = `s3cr3t-${process.pid}-${Date.now()}`;
    const withSecret = { env: { ...e.opts.env, NOOK_TEST_TOKEN: secret } };
    const script =
      'readlink /proc/1/exe; echo "cmdline $(tr "\\0" " " < /proc/1/cmdline)"; echo ---; tr "\\0" "\\n" < /proc/1/environ; echo ---; ' +
      'cut -c74- /proc/1/maps; echo ---; ' +
      // The stack of PID 1, where its argv and environment strings are.
      'set -- $(grep "\\[stack\\]" /proc/1/maps | tr "-" " "); s=$((0x$1)); e=$((0x$2)); ' +
      'dd if=/proc/1/mem bs=4096 skip=$((s/4096)) count=$(((e-s)/4096)) 2>/dev/null > /tmp/init-stack; ' +
      'echo "stack $(wc -c < /tmp/init-stack) bytes, $(grep -c -a nook-init /tmp/init-stack) nook-init, ' + `$(grep -c -a ${secret} /tmp/init-stack) secret"; ` +
      '(echo x >> /proc/1/exe) 2>/dev/null && echo exe-written || echo exe-refused';
    let out: string;
    if (mode === 'run') {
      const r = await e.nook(['run', '--rootfs', rootfs(), '--init', '--tmpfs', '/tmp', '-e', 'FROM_CLI=1', '--', 'sh', '-c', script], withSecret);
      expect(r.code, show(r)).toBe(0);
      out = r.stdout;
    } else {
      const d = await e.nook(['run', '-d', '--rootfs', rootfs(), '--name', 'clean-init', '--init', '--tmpfs', '/tmp', '-e', 'FROM_CLI=1', '--', 'sleep', '2391'], withSecret);
      expect(d.code, show(d)).toBe(0);
      const r = await e.nook(['exec', 'clean-init', 'sh', '-c', script], withSecret);
      await ok(e, ['rm', '-f', 'clean-init']);
      expect(r.code, show(r)).toBe(0);
      out = r.stdout;
    }
    expect(out).not.toContain(secret);
    const [exe, environ, maps, rest] = out.split('---\n');
    // A sealed anonymous file, not nook's executable nor a file of the container's.
    expect(exe).toMatch(/^\/memfd:nook-init( \(deleted\))?\ncmdline nook-init 2 \n$/);
    // The container's environment: the image's defaults and -e, nothing of nook's.
    expect(environ!.trim().split('\n').map((l) => l.split('=')[0]).sort()).toEqual(['FROM_CLI', 'HOME', 'HOSTNAME', 'PATH', 'container']);
    // Nothing mapped but the init program itself: no Node, no libc, no nook library.
    expect(maps).toMatch(/\/memfd:nook-init/);
    expect(maps).not.toMatch(/node|koffi|libnook|supervisor|libc|ld-linux|\.cache/);
    expect(rest).toMatch(/^stack [1-9]\d* bytes, [1-9]\d* nook-init, 0 secret\nexe-refused\n$/);
  });

  it('a seccomp profile that refuses memfd_create and execveat does not stop it', async () => {
    const e = env();
    const profile = path.join(scratchDir(e.user, 'seccomp-'), 'profile.json');
    fs.writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['memfd_create', 'execveat'], action: 'SCMP_ACT_ERRNO' }] }), { mode: 0o644 });
    for (const nnp of ['true', 'false']) {
      const flags = ['--security-opt', `seccomp=${profile}`, '--security-opt', `no-new-privileges=${nnp}`];
      const r = await e.nook(base(flags, 'readlink /proc/1/exe; cat /proc/1/comm; exit 3'));
      expect(r.code, show(r)).toBe(3);
      expect(r.stdout).toMatch(/^\/memfd:nook-init( \(deleted\))?\nnook-init\n$/);
    }
  });

  it('a detached --init container stops at once on SIGTERM and is joinable by exec', async () => {
    const e = env();
    await runDetached(e, ['--name', 'inited', '--init'], ['sleep', '2361']);
    expect(await ok(e, ['exec', 'inited', 'cat', '/proc/1/comm'])).toBe('nook-init\n');
    const t0 = Date.now();
    await ok(e, ['stop', '-t', '10', 'inited']);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await psRow(e, 'inited')).toMatchObject({ State: 'exited', ExitCode: 143 });
  });
});
