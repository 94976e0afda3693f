/**
 * `nook build` as the unprivileged test users: RUN steps in the sandbox and
 * their layers, metadata instructions, the cache, stages, failures. Each test
 * checks what a container of the built image sees.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, buildOk, importBase, makeContext } from '../helpers/build';
import { env, ok, type Env } from '../helpers/containers';
import { show } from '../helpers/nook';
import { hostMountinfo, processesWithArgv, waitUntil } from '../helpers/procs';
import { need } from '../helpers/users';

async function inspectConfig(e: Env, ref: string): Promise<Record<string, unknown>> {
  return (JSON.parse(await ok(e, ['image', 'inspect', ref])) as { Config: Record<string, unknown> }[])[0].Config;
}

describe('nook build: RUN and metadata', () => {
  it.for(['sub', 'nosub'] as const)('RUN changes become a layer: added, changed and deleted files as a container sees them (user %s)', async (kind, ctx) => {
    const e = env(need(ctx, kind));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: [
        'FROM base:1',
        'RUN echo added > /added && echo changed > /etc/rootfs-marker && rm /etc/somefile && mkdir -p /opaque/sub && echo new > /opaque/sub/f',
        'RUN rm -rf /opaque && mkdir /opaque && echo only > /opaque/only',
        'CMD ["sh", "-c", "cat /added /etc/rootfs-marker; ls /etc/somefile 2>&1; ls -R /opaque"]',
      ].join('\n'),
    });
    const { id } = await buildOk(e, dir, ['-t', 'built:1']);
    const out = await ok(e, ['run', '--rm', 'built:1']);
    expect(out).toContain('added\nchanged\n');
    expect(out).toMatch(/somefile: No such file or directory/);
    // The second RUN replaced /opaque: the first one's /opaque/sub must not show through.
    expect(out).toContain('/opaque:\nonly\n');
    expect(out).not.toContain('sub');
    expect((await ok(e, ['image', 'inspect', '--format', '{{.Id}}', 'built:1'])).trim()).toBe(`sha256:${id}`);
  });

  it('metadata instructions set the config, ENV reaches RUN, ARG does not persist, USER runs later steps as that user', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: [
        'FROM base:1',
        'ARG VERSION=1.2',
        'ENV APP_HOME=/srv/app LEVEL=${VERSION}',
        'LABEL org.example.version=$VERSION maintainer="someone"',
        'EXPOSE 8080 53/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGQUIT',
        'MAINTAINER Some One <someone@example.org>',
        'HEALTHCHECK --interval=5s --retries=2 CMD test -e /tmp/seen',
        'WORKDIR $APP_HOME',
        'RUN echo "home=$APP_HOME level=$LEVEL arg=$VERSION pwd=$(pwd)" > /tmp/seen',
        'USER 1000:1000',
        'RUN id -u > /tmp/uid-of-run 2>/dev/null || id -u',
        'USER root',
        'RUN id -u >> /tmp/seen; cat /tmp/seen',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["cat /tmp/seen; echo VERSION=${VERSION:-unset}"]',
      ].join('\n'),
    });
    const { r } = await buildOk(e, dir, ['-t', 'meta:1', '--build-arg', 'VERSION=2.0']);
    expect(r.stdout).toContain('home=/srv/app level=2.0 arg=2.0 pwd=/srv/app');
    const config = await inspectConfig(e, 'meta:1');
    expect(config).toMatchObject({
      Env: expect.arrayContaining(['APP_HOME=/srv/app', 'LEVEL=2.0']),
      Labels: { 'org.example.version': '2.0', maintainer: 'someone' },
      ExposedPorts: { '8080/tcp': {}, '53/udp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGQUIT',
      WorkingDir: '/srv/app',
      User: 'root',
      Entrypoint: ['/bin/sh', '-c'],
      Healthcheck: { Test: ['CMD-SHELL', 'test -e /tmp/seen'], Interval: 5_000_000_000, Retries: 2 },
    });
    expect(JSON.parse(await ok(e, ['image', 'inspect', 'meta:1']))[0].Author).toBe('Some One <someone@example.org>');
    const out = await ok(e, ['run', '--rm', 'meta:1']);
    expect(out).toContain('VERSION=unset');
    expect(out).toContain('home=/srv/app level=2.0');
  });

  it('a USER step makes later RUNs run as that user: the files they create are theirs', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: ['FROM base:1', 'RUN mkdir /home/u2 && chown 1000:1000 /home/u2', 'USER 1000', 'RUN id -u > /home/u2/who && touch /home/u2/mine', 'USER 0', 'CMD ["sh", "-c", "cat /home/u2/who; stat -c %u:%g /home/u2/mine"]'].join('\n'),
    });
    await buildOk(e, dir, ['-t', 'user:1']);
    expect(await ok(e, ['run', '--rm', 'user:1'])).toBe('1000\n1000:1000\n');
  });

  it('a second build is all cache hits and gives the same image; --no-cache runs every step again', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN echo $RANDOM$RANDOM > /random\nENV A=1\nRUN cat /random > /copy\n' });
    const first = await buildOk(e, dir, ['-t', 'c:1']);
    const second = await buildOk(e, dir, ['-t', 'c:2']);
    expect(second.id).toBe(first.id);
    expect(second.r.stdout.match(/--> CACHED/g)).toHaveLength(2);
    const third = await buildOk(e, dir, ['--no-cache', '-t', 'c:3']);
    expect(third.r.stdout).not.toContain('CACHED');
    expect(third.id).not.toBe(first.id);
    // Changing a step invalidates it and what follows, not what comes before.
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM base:1\nRUN echo $RANDOM$RANDOM > /random\nENV A=2\nRUN cat /random > /copy\n');
    const fourth = await buildOk(e, dir, ['-t', 'c:4']);
    expect(fourth.r.stdout.match(/--> CACHED/g)).toHaveLength(1);
    // The cached first RUN's /random (as the latest build, --no-cache, left it) is what the new last step copied.
    const a = await ok(e, ['run', '--rm', 'c:3', 'cat', '/random']);
    expect(await ok(e, ['run', '--rm', 'c:4', 'cat', '/copy'])).toBe(a);
  });

  it('a failing RUN fails the build with exit 1, names the command and its status, and leaves nothing behind', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN echo partial > /partial\nCOPY Dockerfile /\nRUN echo going; sh -c "exit 7"\n' });
    const tmp = makeContext(e, {});
    const r = await build(e, dir, ['-t', 'fails:1'], { env: { TMPDIR: tmp } });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/Dockerfile:4: RUN echo going; sh -c "exit 7": exit 7/);
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toContain('going');
    expect((await e.nook(['image', 'inspect', 'fails:1'])).code).toBe(1);
    expect(fs.readdirSync(path.join(e.store, 'containers'))).toEqual([]);
  });

  it('SOURCE_DATE_EPOCH makes two clean builds give the same image id', async (ctx) => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const e = env(need(ctx, 'sub'));
      await importBase(e);
      const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN mkdir -p /out && echo same > /out/file && ln -s file /out/link\nENV X=1\n' });
      ids.push((await buildOk(e, dir, ['--no-cache'], { env: { SOURCE_DATE_EPOCH: '1700000000' } })).id);
    }
    expect(ids[1]).toBe(ids[0]);
  });

  it('multi-stage: --target builds only what the target needs; ONBUILD triggers run in the image built FROM it', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const parent = makeContext(e, { Dockerfile: 'FROM base:1\nONBUILD RUN echo triggered > /onbuild\n' });
    await buildOk(e, parent, ['-t', 'parent:1']);
    const dir = makeContext(e, {
      Dockerfile: ['FROM base:1 AS unused', 'RUN echo UNUSED-STAGE-RAN', 'FROM parent:1 AS app', 'RUN cat /onbuild', 'FROM app AS final', 'RUN echo FINAL-RAN'].join('\n'),
    });
    const { r } = await buildOk(e, dir, ['--target', 'app', '-t', 'app:1']);
    expect(r.stdout).not.toContain('UNUSED-STAGE-RAN');
    expect(r.stdout).not.toContain('FINAL-RAN');
    expect(await ok(e, ['run', '--rm', 'app:1', 'cat', '/onbuild'])).toBe('triggered\n');
    // The trigger is not inherited further.
    expect((await inspectConfig(e, 'app:1')).OnBuild ?? null).toBeNull();
  });

  it('-q prints only the id and hides the steps; --iidfile gets the id; --label is set', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN echo NOISY-OUTPUT\n' });
    const iid = path.join(dir, 'iid');
    const r = await build(e, dir, ['-q', '--iidfile', iid, '--label', 'a=b']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(fs.readFileSync(iid, 'utf8')).toBe(`sha256:${r.stdout.trim()}`);
    expect((await inspectConfig(e, r.stdout.trim())).Labels).toEqual({ a: 'b' });
  });

  it('RUN heredocs and secrets: the secret is readable during RUN and absent from the image', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: ['FROM base:1', 'RUN <<EOF', 'echo line1 > /heredoc', 'echo line2 >> /heredoc', 'EOF', 'RUN --mount=type=secret,id=token cp /run/secrets/token /leaked-copy-is-allowed-but-mount-is-not-kept', ''].join('\n'),
      'token.txt': 's3cret',
    });
    await buildOk(e, dir, ['-t', 'h:1', '--secret', `id=token,src=${path.join(dir, 'token.txt')}`]);
    expect(await ok(e, ['run', '--rm', 'h:1', 'cat', '/heredoc'])).toBe('line1\nline2\n');
    const ls = await e.nook(['run', '--rm', 'h:1', 'ls', '-a', '/run/secrets']);
    expect(ls.stdout + ls.stderr).not.toContain('token');
  });

  it('bad input: an unknown instruction names the file and line; a missing context is named; exit 1', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nCOPPY a b\n' });
    const r = await build(e, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Dockerfile:2: unknown instruction COPPY/);
    const r2 = await e.nook(['build', '/nonexistent-context']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('/nonexistent-context does not exist');
  });

  it('Ctrl-C during a RUN stops the build and leaves no process or container directory', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN echo started; sleep 3141\n' });
    const { startNook } = await import('../helpers/nook');
    const p = startNook(['build', dir], { ...e.opts, ownGroup: true, timeoutMs: 60_000 });
    let r;
    try {
      await p.waitForStdout('started', 30_000);
      await waitUntil(() => processesWithArgv(['sleep', '3141']).length === 1, 'the step to start sleep');
      // Ctrl-C on a terminal: SIGINT to the foreground group (nook's; the step runs in a session of its own).
      process.kill(-p.pid, 'SIGINT');
      r = await p.exited;
    } finally {
      p.kill('SIGKILL'); // a failed check must not leave the build running
    }
    expect(r.code, show(r)).toBe(130);
    expect(r.stderr).toContain('the build was interrupted');
    expect(hostMountinfo()).not.toContain(e.store);
    expect(processesWithArgv(['sleep', '3141'])).toHaveLength(0);
    expect(fs.readdirSync(path.join(e.store, 'containers'))).toEqual([]);
  });

  it('kill -9 of nook during a RUN leaves nothing running; the store stays usable and prune takes the leftovers', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN echo started; sleep 2718\n' });
    const { startNook } = await import('../helpers/nook');
    const p = startNook(['build', dir], { ...e.opts, timeoutMs: 60_000 });
    try {
      await p.waitForStdout('started', 30_000);
      await waitUntil(() => processesWithArgv(['sleep', '2718']).length === 1, 'the step to start sleep');
    } finally {
      p.kill('SIGKILL');
    }
    await p.exited;
    await waitUntil(() => processesWithArgv(['sleep', '2718']).length === 0, 'the step to die with nook');
    expect(hostMountinfo()).not.toContain(e.store);
    // The killed build's container directory is a leftover that garbage collection takes.
    expect(fs.readdirSync(path.join(e.store, 'containers'))).toHaveLength(1);
    const ok2 = makeContext(e, { Dockerfile: 'FROM base:1\nRUN echo fine > /fine\n' });
    await buildOk(e, ok2, ['-t', 'after:1']);
    expect(await ok(e, ['run', '--rm', 'after:1', 'cat', '/fine'])).toBe('fine\n');
    await ok(e, ['image', 'prune', '-f']);
    expect(fs.readdirSync(path.join(e.store, 'containers'))).toEqual([]);
  });

  it('RUN --mount=type=cache keeps its files across builds, out of the image; image prune empties it', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nRUN --mount=type=cache,target=/var/cache/thing sh -c "cat /var/cache/thing/count 2>/dev/null || echo none; echo again >> /var/cache/thing/count"\n' });
    const first = await buildOk(e, dir, ['--no-cache', '-t', 'cm:1']);
    expect(first.r.stdout).toContain('none');
    const second = await buildOk(e, dir, ['--no-cache', '-t', 'cm:1']);
    expect(second.r.stdout).toMatch(/^again$/m);
    const inImage = await e.nook(['run', '--rm', 'cm:1', 'ls', '/var/cache/thing']);
    expect(inImage.stdout).toBe('');
    await ok(e, ['image', 'prune', '-f']);
    const third = await buildOk(e, dir, ['--no-cache', '-t', 'cm:2']);
    expect(third.r.stdout).toContain('none');
  });
});

describe('nook build: COPY and ADD', () => {
  it.for(['sub', 'nosub'] as const)('COPY from the context honours .dockerignore and its exceptions; a second build is cached; touching a file re-runs from its COPY (user %s)', async (kind, ctx) => {
    const e = env(need(ctx, kind));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: ['FROM base:1', 'RUN echo before > /before', 'COPY . /app/', 'RUN ls -A /app | sort > /listing', 'CMD ["cat", "/listing"]'].join('\n'),
      '.dockerignore': 'logs/\n*.tmp\n!keep.tmp\n',
      'main.txt': 'main',
      'keep.tmp': 'kept by the exception',
      'drop.tmp': 'ignored',
      'logs/x.log': 'ignored',
    });
    await buildOk(e, dir, ['-t', 'ctx:1']);
    expect(await ok(e, ['run', '--rm', 'ctx:1'])).toBe('.dockerignore\nDockerfile\nkeep.tmp\nmain.txt\n');
    const again = await buildOk(e, dir, ['-t', 'ctx:2']);
    expect(again.r.stdout.match(/--> CACHED/g)).toHaveLength(3);
    // A new mtime alone keeps the cache; new contents re-run the COPY and what follows, not the RUN before it.
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, 'main.txt'), t, t);
    expect((await buildOk(e, dir)).r.stdout.match(/--> CACHED/g)).toHaveLength(3);
    fs.writeFileSync(path.join(dir, 'main.txt'), 'changed');
    const changed = await buildOk(e, dir, ['-t', 'ctx:3']);
    expect(changed.r.stdout.match(/--> CACHED/g)).toHaveLength(1);
    expect(await ok(e, ['run', '--rm', 'ctx:3', 'cat', '/app/main.txt'])).toBe('changed');
    // The ignored file is not in the context at all: COPY of it is "not found".
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM base:1\nCOPY drop.tmp /\n');
    const r = await build(e, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('file not found in build context or excluded by .dockerignore');
  });

  it('multi-stage COPY --from a build stage, --chown by name from the image, USER then RUN as that user', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, {
      Dockerfile: [
        'FROM base:1 AS builder',
        'RUN mkdir -p /out && echo built-artifact > /out/artifact && chmod 4755 /out/artifact',
        'FROM base:1',
        'COPY --from=builder --chown=user:user /out/ /opt/',
        'USER user',
        'RUN cat /opt/artifact > /tmp/read-by-user && id -u >> /tmp/read-by-user',
        'USER root',
        'CMD ["sh", "-c", "cat /tmp/read-by-user; stat -c \'%U %a\' /opt/artifact"]',
      ].join('\n'),
    });
    await buildOk(e, dir, ['-t', 'ms:1']);
    expect(await ok(e, ['run', '--rm', 'ms:1'])).toBe('built-artifact\n1000\nuser 4755\n');
  });

  it('ADD of a local tar extracts it; ADD of a plain file copies it; WORKDIR makes its directory', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nWORKDIR /srv/new\nADD bundle.tar.gz ./\nADD plain.txt /plain/\nCMD ["sh", "-c", "pwd; cat inner/file.txt /plain/plain.txt"]\n', 'plain.txt': 'plain' });
    const src = path.join(dir, 'tarsrc');
    fs.mkdirSync(path.join(src, 'inner'), { recursive: true });
    fs.writeFileSync(path.join(src, 'inner', 'file.txt'), 'from the tar\n');
    execFileSync('tar', ['-C', src, '-czf', path.join(dir, 'bundle.tar.gz'), 'inner']);
    fs.rmSync(src, { recursive: true });
    execFileSync('chown', ['-R', `${e.user.uid}:${e.user.gid}`, dir]);
    await buildOk(e, dir, ['-t', 'add:1']);
    expect(await ok(e, ['run', '--rm', 'add:1'])).toBe('/srv/new\nfrom the tar\nplain');
  });

  it('a planted symlink in the base image does not make COPY write outside the root', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const outside = makeContext(e, {});
    const dir = makeContext(e, { Dockerfile: `FROM base:1\nRUN ln -s ${outside} /target\nCOPY payload /target/\nCMD ["cat", "/target/payload"]\n`, payload: 'inside' });
    await buildOk(e, dir, ['-t', 'planted:1']);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(await ok(e, ['run', '--rm', 'planted:1'])).toBe('inside');
  });

  it('nook build - reads the Dockerfile from stdin (no context); --format docker writes Docker media types; SHELL changes how RUN runs', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const r = await e.nook(['build', '--format', 'docker', '-t', 'stdin:1', '-'], {
      input: 'FROM base:1\nSHELL ["/bin/sh", "-c", "echo shell-was-used; eval \\"$1\\"", "sh"]\nRUN echo from-stdin > /made\n',
      timeoutMs: 60_000,
    });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('shell-was-used');
    expect(await ok(e, ['run', '--rm', 'stdin:1', 'cat', '/made'])).toBe('from-stdin\n');
    const manifest = JSON.parse(await ok(e, ['image', 'inspect', '--format', '{{json .Manifest}}', 'stdin:1'])) as { mediaType: string };
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const copy = await e.nook(['build', '-'], { input: 'FROM base:1\nCOPY x /\n', timeoutMs: 60_000 });
    expect(copy.code).toBe(1);
    expect(copy.stderr).toContain('needs a build context');
  });

  it('a hostile context: a symlink to a host file is copied as a link and never read, a FIFO is no hang, a source link out of the context is not found', async (ctx) => {
    const e = env(need(ctx, 'sub'));
    await importBase(e);
    const outside = makeContext(e, { secret: 'TOPSECRET' });
    const dir = makeContext(e, { Dockerfile: 'FROM base:1\nCOPY . /app/\nRUN cat /app/leak 2>&1; ls -l /app/fifo\n', 'Dockerfile.2': 'FROM base:1\nCOPY leak /leak\n' });
    fs.symlinkSync(path.join(outside, 'secret'), path.join(dir, 'leak'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    execFileSync('chown', ['-h', `${e.user.uid}:${e.user.gid}`, path.join(dir, 'leak'), path.join(dir, 'fifo')]);
    const { r } = await buildOk(e, dir, ['-t', 'hostile:1']);
    expect(r.stdout).not.toContain('TOPSECRET');
    expect(r.stdout).toMatch(/^p.* \/app\/fifo$/m);
    expect(await ok(e, ['run', '--rm', 'hostile:1', 'readlink', '/app/leak'])).toBe(`${path.join(outside, 'secret')}\n`);
    const out = await build(e, dir, ['-f', path.join(dir, 'Dockerfile.2')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('file not found in build context');
    // RUN --mount=type=bind of the link: resolved inside the context, where it names nothing.
    fs.writeFileSync(path.join(dir, 'Dockerfile.3'), 'FROM base:1\nRUN --mount=type=bind,source=leak,target=/mnt/leak cat /mnt/leak\n');
    const bind = await build(e, dir, ['-f', path.join(dir, 'Dockerfile.3')]);
    expect(bind.code).toBe(1);
    expect(bind.stdout + bind.stderr).not.toContain('TOPSECRET');
    expect(bind.stderr).toContain('not found in the build context');
  });
});
