/**
 * stdin of a container created with -i (without -t) under nook's supervisor:
 * the supervisor holds the write end of its stdin pipe and takes one client
 * at a time on attach.sock (`start -i`, `attach`). docker's StdinOnce: the
 * client's EOF closes the container's stdin for `create -i`, not for
 * `run -d -i`, whose stdin stays open (the container blocks reading). A
 * container without -i still reads /dev/null, and no descriptor of nook's or
 * the supervisor's reaches the container.
 */
import * as fs from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { env, ok, psRow, runDetached, type Env } from '../helpers/containers';
import { rootfs, show, startNook } from '../helpers/nook';

function cleanEnv(): Env {
  const e = env();
  onTestFinished(async () => {
    const r = await e.nook(['ps', '-aq', '--no-trunc']);
    const ids = r.stdout.split('\n').filter(Boolean);
    if (ids.length) await e.nook(['rm', '-f', ...ids]);
  });
  return e;
}

const create = (e: Env, flags: string[], cmd: string[]) => ok(e, ['create', '--rootfs', rootfs(), ...flags, '--', ...cmd]);

/** The descriptors a process of the container has open: ls's own, 0 1 2 and the directory it reads (3). */
const FDS = 'echo $(ls /proc/self/fd)';

describe('stdin of a supervised container (-i without -t)', () => {
  it('create -i, start -ai: the input comes back, EOF ends the command, its status is start\'s; no fd leaks in', async () => {
    const e = cleanEnv();
    await create(e, ['--name', 'cat', '-i'], ['sh', '-c', `${FDS}; echo; cat; echo read-all; exit 7`]);
    const r = await e.nook(['start', '-ai', 'cat'], { input: 'line one\nline two\n' });
    expect(r.code, show(r)).toBe(7);
    // 0 1 2 and ls's directory, nothing else: not the supervisor's pipe's write end nor its socket.
    expect(r.stdout).toBe('0 1 2 3\n\nline one\nline two\nread-all\n');
    expect(await psRow(e, 'cat')).toMatchObject({ State: 'exited', ExitCode: 7 });
    expect((await ok(e, ['inspect', '-f', '{{.Config.OpenStdin}} {{.Config.StdinOnce}}', 'cat'])).trim()).toBe('true true');
    // The socket is gone with the container's run; a new start has a new stdin.
    const again = await e.nook(['start', '-ai', 'cat'], { input: 'third\n' });
    expect(again.code, show(again)).toBe(7);
    expect(again.stdout).toBe('0 1 2 3\n\nthird\nread-all\n');
  });

  it('start -ai: a megabyte of input arrives whole, through a command that reads it slowly', async () => {
    const e = cleanEnv();
    await create(e, ['--name', 'wc', '-i'], ['sh', '-c', 'sleep 1; wc -c']);
    const r = await e.nook(['start', '-ai', 'wc'], { input: Buffer.alloc(1 << 20, 'x') });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe(String(1 << 20));
  });

  it('the state directory\'s attach.sock is 0600 while it runs, and gone after', async () => {
    const e = cleanEnv();
    const id = await runDetached(e, ['-i', '--name', 'sock'], ['cat']);
    const sock = `${e.state}/containers/${id}`;
    const st = fs.statSync(`${sock}/attach.sock`);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(fs.statSync(sock).mode & 0o077).toBe(0);
    await ok(e, ['stop', '-t', '1', 'sock']);
    expect(fs.existsSync(`${sock}/attach.sock`)).toBe(false);
  });

  it('run -d -i: the container waits for input with nobody attached; attach sends it; the client\'s EOF leaves its stdin open', async () => {
    const e = cleanEnv();
    await runDetached(e, ['-i', '--name', 'rd'], ['sh', '-c', 'while read l; do echo "got $l"; done; echo eof; exit 4']);
    await new Promise((r) => setTimeout(r, 300));
    expect(await psRow(e, 'rd')).toMatchObject({ State: 'running' });
    expect((await ok(e, ['inspect', '-f', '{{.Config.OpenStdin}} {{.Config.StdinOnce}}', 'rd'])).trim()).toBe('true false');
    const first = startNook(['attach', 'rd'], { ...e.opts, input: 'hi\n' });
    await first.waitForStdout('got hi\n');
    // Its EOF did not close the container's stdin (docker's run -d -i: StdinOnce false): a second client writes too.
    const second = startNook(['attach', 'rd'], { ...e.opts, input: 'again\n' });
    await second.waitForStdout('got again\n');
    expect(await psRow(e, 'rd')).toMatchObject({ State: 'running' });
    expect(await ok(e, ['logs', 'rd'])).toBe('got hi\ngot again\n');
    await ok(e, ['stop', '-t', '1', 'rd']);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a.stdout).not.toContain('eof');
    expect(b.code).not.toBeNull();
  });

  it('run -i -a stdout (--init): stdin goes to the container, its EOF closes it; stderr only in the log', async () => {
    const e = cleanEnv();
    const r = await e.nook(['run', '--rootfs', rootfs(), '--name', 'ra', '--init', '-i', '-a', 'stdout', '--', 'sh', '-c', 'cat; echo err >&2; exit 5'], { input: 'typed\n' });
    expect(r.code, show(r)).toBe(5);
    expect([r.stdout, r.stderr]).toEqual(['typed\n', '']);
    const logs = await e.nook(['logs', 'ra']);
    expect([logs.stdout, logs.stderr]).toEqual(['typed\n', 'err\n']);
  });

  it('without -i the container\'s stdin is /dev/null, and attach sends nothing', async () => {
    const e = cleanEnv();
    await runDetached(e, ['--name', 'ni'], ['sh', '-c', 'readlink /proc/self/fd/0; cat; echo cat-done; sleep 1']);
    const r = await e.nook(['attach', 'ni'], { input: 'not read\n' });
    expect(r.code, show(r)).toBe(0);
    expect(await ok(e, ['logs', 'ni'])).toBe('/dev/null\ncat-done\n');
    await create(e, ['--name', 'ni2'], ['sh', '-c', 'cat; echo done']);
    const s = await e.nook(['start', '-ai', 'ni2'], { input: 'not read\n' });
    expect(s.code, show(s)).toBe(0);
    expect(s.stdout).toBe('done\n');
  });
});
