import { describe, expect, it } from 'vitest';
import {
  applyConfigInstruction,
  goDuration,
  expandCopy,
  expandMounts,
  runCommand,
  runCreatedBy,
  runEnvironment,
  startStage,
  type StageState,
  type StepContext,
} from '../../src/build/config-step';
import type { Instruction } from '../../src/build/dockerfile/instructions';
import { parseDockerfile, parseOnbuildTriggers } from '../../src/build/dockerfile/parse';
import { ArgScope } from '../../src/build/stages';
import { parseImageConfig, type ImageConfig } from '../../src/image/config';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const base = (): ImageConfig => ({
  architecture: 'amd64',
  os: 'linux',
  created: '2024-01-01T00:00:00Z',
  config: { Env: ['PATH=/usr/bin:/bin', 'HOME=/root'], Cmd: ['sh'], WorkingDir: '/srv', OnBuild: ['RUN echo triggered'] },
  rootfs: { type: 'layers', diff_ids: [] },
  history: [{ created_by: 'base' }],
});

/** Applies the lines after FROM to a stage on `base()` (or scratch), collecting created_by texts. */
function build(lines: string, opts: { scratch?: boolean; buildArgs?: Map<string, string>; globals?: Map<string, string> } = {}) {
  const df = parseDockerfile(`FROM x\n${lines}`);
  const { state, onbuild } = startStage(opts.scratch ? undefined : base(), AMD64);
  const ctx: StepContext = { scope: new ArgScope(opts.globals ?? new Map(), opts.buildArgs ?? new Map()), escape: df.escape, file: 'Dockerfile' };
  const results = df.instructions.slice(1).map((ins) => ({ ins, ...(isMetadata(ins) ? applyConfigInstruction(state, ins, ctx) : { createdBy: '' }) }));
  return { state, ctx, onbuild, results, createdBy: results.map((r) => r.createdBy), instructions: df.instructions.slice(1) };
}
const isMetadata = (i: Instruction) => !['RUN', 'COPY', 'ADD', 'FROM'].includes(i.kind);
const cfg = (s: StageState) => s.config.config!;

describe('config steps', () => {
  it('a stage starts from the base config; its OnBuild triggers are taken out to run now', () => {
    const { state, onbuild } = build('');
    expect(onbuild).toEqual(['RUN echo triggered']);
    expect(cfg(state).OnBuild).toBeUndefined();
    expect(state.config.created).toBeUndefined();
    expect(state.config.history).toEqual([{ created_by: 'base' }]);
  });

  it('scratch starts as BuildKit`s empty image: default PATH, WorkingDir /', () => {
    const { state } = build('', { scratch: true });
    expect(cfg(state)).toEqual({ Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' });
    expect(state.config).toMatchObject({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } });
  });

  it('a base image without PATH gets the default one', () => {
    const noPath = { ...base(), config: { Env: ['A=1'] } };
    expect(startStage(noPath, AMD64).state.config.config!.Env).toEqual(['A=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('ENV: pairs, legacy form, substitution from the environment before the instruction, replaced in place', () => {
    const { state, createdBy } = build('ENV A=1 HOME=/home/x\nENV A=2 B=$A C="${HOME} y"\nENV LEGACY a "b c" $A');
    expect(cfg(state).Env).toEqual(['PATH=/usr/bin:/bin', 'HOME=/home/x', 'A=2', 'B=1', 'C=/home/x y', 'LEGACY=a b c 2']);
    expect(createdBy).toEqual(['ENV A=1 HOME=/home/x', 'ENV A=2 B=1 C=/home/x y', 'ENV LEGACY=a b c 2']);
  });

  it('LABEL: quotes removed, substituted, merged', () => {
    const { state, createdBy } = build('ENV V=3\nLABEL "com.x.a"="hello world" v=$V\nLABEL v=4');
    expect(cfg(state).Labels).toEqual({ 'com.x.a': 'hello world', v: '4' });
    expect(createdBy[1]).toBe('LABEL com.x.a=hello world v=3');
  });

  it('ARG: in scope for later substitution, ENV of the same name wins, build args override', () => {
    const { state, ctx } = build('ARG A=a B=b\nENV B=env\nWORKDIR /$A/$B\nARG C', { buildArgs: new Map([['A', 'given']]) });
    expect(cfg(state).WorkingDir).toBe('/given/env');
    expect(Object.fromEntries(ctx.scope.values())).toEqual({ A: 'given', B: 'b' });
  });

  it('a global ARG is not visible in a stage until re-declared', () => {
    const { state } = build('WORKDIR /x$VERSION\nARG VERSION\nWORKDIR /y$VERSION', { globals: new Map([['VERSION', '1.2']]) });
    expect(cfg(state).WorkingDir).toBe('/y1.2');
    expect(build('WORKDIR /x$VERSION', { globals: new Map([['VERSION', '1.2']]) }).state.config.config!.WorkingDir).toBe('/x');
  });

  it('ARG re-declares a global ARG and inherits its value', () => {
    const { createdBy, ctx } = build('ARG VERSION\nARG OTHER', { globals: new Map([['VERSION', '1.2']]) });
    expect(createdBy).toEqual(['ARG VERSION=1.2', 'ARG OTHER']);
    expect(ctx.scope.values().get('VERSION')).toBe('1.2');
  });

  it('WORKDIR is relative to the previous one and reports the directory to create', () => {
    const { state, results } = build('WORKDIR a\nWORKDIR ../b/./c\nENV D=/abs\nWORKDIR $D\nWORKDIR /tmp/..');
    expect(results.map((r) => r.mkdir)).toEqual(['/srv/a', '/srv/b/c', undefined, '/abs', undefined]);
    expect(results[4].createdBy).toBe('WORKDIR /');
    expect(cfg(state).WorkingDir).toBe('/');
  });

  it('USER and STOPSIGNAL are substituted; a bad signal is refused', () => {
    const { state } = build('ARG U=app\nUSER $U:staff\nSTOPSIGNAL SIGQUIT');
    expect(cfg(state).User).toBe('app:staff');
    expect(cfg(state).StopSignal).toBe('SIGQUIT');
    for (const ok of ['9', 'term', 'SIGRTMIN+3']) expect(cfg(build(`STOPSIGNAL ${ok}`).state).StopSignal).toBe(ok);
    expect(() => build('STOPSIGNAL SIGNOPE')).toThrow('Dockerfile:2: STOPSIGNAL SIGNOPE is not a signal');
  });

  it('CMD and ENTRYPOINT: shell form uses the stage SHELL; an inherited CMD is reset by ENTRYPOINT, one from this stage kept', () => {
    let s = build('ENTRYPOINT ["nginx", "-g", "daemon off;"]');
    expect(cfg(s.state).Entrypoint).toEqual(['nginx', '-g', 'daemon off;']);
    expect(cfg(s.state).Cmd).toBeNull();
    expect(s.createdBy).toEqual(['ENTRYPOINT ["nginx" "-g" "daemon off;"]']);
    s = build('CMD ["-v"]\nENTRYPOINT top -b');
    expect(cfg(s.state).Cmd).toEqual(['-v']);
    expect(cfg(s.state).Entrypoint).toEqual(['/bin/sh', '-c', 'top -b']);
    s = build('SHELL ["/bin/bash", "-euo", "pipefail", "-c"]\nCMD echo $HOME');
    expect(cfg(s.state).Shell).toEqual(['/bin/bash', '-euo', 'pipefail', '-c']);
    expect(cfg(s.state).Cmd).toEqual(['/bin/bash', '-euo', 'pipefail', '-c', 'echo $HOME']);
    expect(s.createdBy).toEqual(['SHELL [/bin/bash -euo pipefail -c]', 'CMD ["/bin/bash" "-euo" "pipefail" "-c" "echo $HOME"]']);
  });

  it('EXPOSE: ports, protocols, ranges and variables; bad ones refused', () => {
    const { state, createdBy } = build('ARG P="8080 9090"\nEXPOSE 80 53/UDP 7000-7001/tcp $P 127.0.0.1:81:81');
    expect(Object.keys(cfg(state).ExposedPorts!).sort()).toEqual(['53/udp', '7000/tcp', '7001/tcp', '80/tcp', '8080/tcp', '81/tcp', '9090/tcp']);
    // BuildKit sorts the words as written before substituting them, and prints the list as Go does
    expect(createdBy[1]).toBe('EXPOSE [8080/tcp 9090/tcp 81/tcp 53/udp 7000/tcp 7001/tcp 80/tcp]');
    expect(() => build('EXPOSE http')).toThrow('Dockerfile:2: EXPOSE http is not a port');
    expect(() => build('EXPOSE 80/icmp')).toThrow(/protocol icmp is not tcp, udp or sctp/);
    expect(() => build('EXPOSE 70000')).toThrow(/ports go from 0 to 65535/);
  });

  it('VOLUME, HEALTHCHECK, ONBUILD, MAINTAINER', () => {
    const { state, createdBy } = build(
      'ENV D=/data\nVOLUME ["$D", " /logs "]\nHEALTHCHECK --interval=10s CMD ["/check"]\nONBUILD RUN make\nONBUILD COPY . /src\nMAINTAINER me <me@x>',
    );
    expect(cfg(state).Volumes).toEqual({ '/data': {}, '/logs': {} });
    expect(cfg(state).Healthcheck).toEqual({ Test: ['CMD', '/check'], Interval: 10e9 });
    expect(cfg(state).OnBuild).toEqual(['RUN make', 'COPY . /src']);
    expect(state.config.author).toBe('me <me@x>');
    // BuildKit writes no history entry for ONBUILD
    expect(createdBy.slice(1)).toEqual([
      'VOLUME [/data /logs]',
      'HEALTHCHECK {Test:[CMD /check] Interval:10s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
      undefined,
      undefined,
      'MAINTAINER me <me@x>',
    ]);
  });

  it('durations print as Go does', () => {
    expect([0, 1, 1500, 500e6, 1.5e9, 3e9, 90e9, 300e9, 3600e9, 3723.5e9].map(goDuration)).toEqual([
      '0s',
      '1ns',
      '1.5µs',
      '500ms',
      '1.5s',
      '3s',
      '1m30s',
      '5m0s',
      '1h0m0s',
      '1h2m3.5s',
    ]);
  });

  it('errors in a base image`s trigger name the trigger', () => {
    const { state, ctx } = build('');
    const [trigger] = parseOnbuildTriggers(['STOPSIGNAL NOPE'], 'base');
    expect(() => applyConfigInstruction(state, trigger, ctx)).toThrow('Dockerfile: ONBUILD trigger "STOPSIGNAL NOPE": STOPSIGNAL NOPE is not a signal');
  });

  it('triggers stored by ONBUILD parse back as instructions', () => {
    const { state } = build('ONBUILD RUN make\nONBUILD COPY --chown=1 . /src');
    expect(parseOnbuildTriggers(cfg(state).OnBuild!, 'img').map((i) => i.kind)).toEqual(['RUN', 'COPY']);
  });
});

describe('image config fields the build writes', () => {
  const doc = (config: unknown) => JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config });
  it('OnBuild, Shell and Healthcheck are read back, and checked', () => {
    const { state } = build('SHELL ["/bin/bash", "-c"]\nONBUILD RUN x\nHEALTHCHECK --retries=2 CMD true');
    expect(parseImageConfig(JSON.stringify(state.config), 'built').config).toMatchObject({
      Shell: ['/bin/bash', '-c'],
      OnBuild: ['RUN x'],
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Retries: 2 },
    });
    expect(() => parseImageConfig(doc({ OnBuild: 'RUN x' }), 'img')).toThrow(/config\.OnBuild is not a list of strings/);
    expect(() => parseImageConfig(doc({ Shell: ['sh', 'a\0'] }), 'img')).toThrow(/config\.Shell\[1\] contains a NUL byte/);
    expect(() => parseImageConfig(doc({ Healthcheck: { Test: 'x' } }), 'img')).toThrow(/config\.Healthcheck is not a health check/);
  });
});

describe('RUN', () => {
  const run = (lines: string, opts: { shell?: string[] } = {}) => {
    const { state, instructions } = build(lines);
    if (opts.shell) cfg(state).Shell = opts.shell;
    const ins = instructions.find((i) => i.kind === 'RUN') as Instruction & { kind: 'RUN' };
    return { ins, state, cmd: runCommand(ins, state.config) };
  };

  it('shell form wraps in the SHELL (default /bin/sh -c); exec form is kept', () => {
    expect(run('RUN echo $HOME "a b"').cmd).toEqual({ argv: ['/bin/sh', '-c', 'echo $HOME "a b"'] });
    expect(run('RUN ls', { shell: ['/bin/bash', '-c'] }).cmd.argv).toEqual(['/bin/bash', '-c', 'ls']);
    expect(run('RUN ["nginx", "-g", "daemon off;"]').cmd).toEqual({ argv: ['nginx', '-g', 'daemon off;'] });
  });

  it('RUN <<EOF runs the body in the shell; <<- strips tabs', () => {
    expect(run('RUN <<EOF\necho a\necho "$HOME"\nEOF').cmd).toEqual({ argv: ['/bin/sh', '-c', 'echo a\necho "$HOME"\n'] });
    expect(run('RUN <<-"EOF"\n\techo a\n\tEOF').cmd.argv).toEqual(['/bin/sh', '-c', 'echo a\n']);
  });

  it('RUN <<EOF with a #! line runs as a script file', () => {
    expect(run('RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF').cmd).toEqual({
      argv: ['/bin/sh', '-c', '/dev/pipes/EOF'],
      script: { path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint(1)\n' },
    });
  });

  it('heredocs inside a longer command go to the shell with their bodies', () => {
    expect(run('RUN cat <<A > /a && cat <<B > /b\n1\nA\n2\nB').cmd.argv).toEqual(['/bin/sh', '-c', 'cat <<A > /a && cat <<B > /b\n1\nA\n2\nB']);
  });

  it('environment: the config Env, ENVs and ARGs in order (the later wins, as BuildKit), proxy args; ARGs are not in the image', () => {
    const { state } = build('ARG A=1 HOME=/argh\nENV E=2\nENV B=env\nARG B=arg');
    expect(runEnvironment(state, new Map([['http_proxy', 'http://p:3128'], ['E', 'no']]))).toEqual([
      'PATH=/usr/bin:/bin',
      'HOME=/argh',
      'A=1',
      'E=2',
      'B=arg',
      'http_proxy=http://p:3128',
    ]);
    expect(cfg(state).Env).toEqual(['PATH=/usr/bin:/bin', 'HOME=/root', 'E=2', 'B=env']);
  });

  it('created_by shows the ARGs declared in the stage with their current values, as BuildKit does', () => {
    const { state, ctx } = build('ARG V=2 EMPTY\nENV V=3');
    expect(runCreatedBy(['/bin/sh', '-c', 'make'], state, ctx.scope)).toBe('RUN |2 V=3 EMPTY= /bin/sh -c make');
    const plain = build('');
    expect(runCreatedBy(['/bin/sh', '-c', 'make'], plain.state, plain.ctx.scope)).toBe('RUN /bin/sh -c make');
  });

  it('--mount values are substituted, numbers included', () => {
    const { state, ctx, instructions } = build('ARG T=/cache U=1000\nRUN --mount=type=cache,target=$T,id=${T}-id,uid=$U make');
    const ins = instructions[1] as Instruction & { kind: 'RUN' };
    expect(ins.mounts[0]).toMatchObject({ target: '$T', uid: undefined });
    expect(expandMounts(ins, state, ctx)[0]).toMatchObject({ type: 'cache', target: '/cache', id: '/cache-id', uid: 1000 });
    const bad = build('ARG U=x\nRUN --mount=type=cache,target=/c,uid=$U make');
    expect(() => expandMounts(bad.instructions[1] as Instruction & { kind: 'RUN' }, bad.state, bad.ctx)).toThrow('Dockerfile:3: --mount option uid=x is not a number');
  });
});

describe('COPY/ADD arguments', () => {
  const copy = (lines: string) => {
    const { state, ctx, instructions } = build(lines);
    const ins = instructions.find((i) => i.kind === 'COPY' || i.kind === 'ADD') as Instruction & { kind: 'COPY' };
    return expandCopy(ins, state, ctx);
  };
  it('sources, dest, --chown, --chmod and --from are substituted; created_by as BuildKit writes it', () => {
    const c = copy('ARG U=app\nENV DIR=/opt/app\nCOPY --from=build --chown=$U:$U --chmod=0755 bin/* $DIR/');
    expect(c).toMatchObject({ sources: ['bin/*'], dest: '/opt/app/', chown: 'app:app', chmodText: '0755', from: 'build' });
    expect(c.chmod!(0o600, false)).toBe(0o755);
    expect(c.createdBy).toBe('COPY --chown=app:app --chmod=0755 bin/* /opt/app/');
  });
  it('heredoc files: expanded unless the delimiter was quoted (quotes kept, no protection), tabs stripped for <<-', () => {
    const c = copy("ENV FOO=bar\nCOPY <<-EOT <<\"RAW\" /dst/\n\techo \"hello ${FOO}\" '$FOO' \\$FOO\nEOT\n$FOO\nRAW");
    expect(c.files).toEqual([
      { name: 'EOT', content: `echo "hello bar" 'bar' $FOO\n` },
      { name: 'RAW', content: '$FOO\n' },
    ]);
    expect(c.createdBy).toBe('COPY <<EOT <<RAW /dst/');
  });
});
