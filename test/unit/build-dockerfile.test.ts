import { describe, expect, it } from 'vitest';
import { heredocBody } from '../../src/build/dockerfile/heredoc';
import type { Instruction } from '../../src/build/dockerfile/instructions';
import { parseDockerfile, parseOnbuildTriggers } from '../../src/build/dockerfile/parse';
import { NookError } from '../../src/errors';

const parse = (text: string) => parseDockerfile(text);
/** The instructions after the leading FROM line every test file needs. */
const body = (text: string) => parse(`FROM busybox\n${text}`).instructions.slice(1);
const one = <K extends Instruction['kind']>(text: string, kind: K) => {
  const ins = body(text);
  expect(ins).toHaveLength(1);
  expect(ins[0].kind).toBe(kind);
  return ins[0] as Instruction & { kind: K };
};
const error = (text: string): NookError => {
  try {
    parseDockerfile(text);
  } catch (e) {
    expect(e).toBeInstanceOf(NookError);
    return e as NookError;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
};

describe('Dockerfile: FROM', () => {
  it('image, AS name (lower-cased), --platform, scratch', () => {
    const ins = parse('FROM --platform=linux/arm64 Debian:12 AS Build\nFROM scratch\nfrom build as final').instructions;
    expect(ins[0]).toMatchObject({ kind: 'FROM', image: 'Debian:12', stageName: 'build', platform: 'linux/arm64' });
    expect(ins[1]).toMatchObject({ kind: 'FROM', image: 'scratch', stageName: undefined });
    expect(ins[2]).toMatchObject({ kind: 'FROM', image: 'build', stageName: 'final' });
  });
  it('refuses a malformed FROM', () => {
    expect(error('FROM a b').message).toBe('Dockerfile:1: FROM takes an image and optionally AS NAME');
    expect(error('FROM a AS 1x').message).toMatch(/^Dockerfile:1: invalid stage name "1x"/);
    expect(error('FROM').message).toBe('Dockerfile:1: FROM needs an image');
    expect(error('FROM --plat=x a').message).toMatch(/^Dockerfile:1: FROM does not accept the flag --plat \(it accepts --platform\)/);
  });
  it('the first instruction must be FROM or ARG', () => {
    expect(error('# c\n\nRUN x\nFROM a').message).toBe('Dockerfile:3: the first instruction must be FROM or ARG, not RUN');
    expect(parse('ARG V=1\nFROM a:$V').instructions.map((i) => i.kind)).toEqual(['ARG', 'FROM']);
    expect(error('ARG V').message).toBe('Dockerfile:1: the Dockerfile has no FROM instruction');
    expect(error('\n# only a comment\n').message).toMatch(/no instructions/);
  });
});

describe('Dockerfile: RUN', () => {
  it('shell form keeps the text as written', () => {
    expect(one('RUN  echo "a  b" && ls $HOME', 'RUN').command).toEqual({ form: 'shell', command: 'echo "a  b" && ls $HOME' });
  });
  it('exec form is a real JSON array, strings kept exactly', () => {
    expect(one('RUN ["nginx", "-g", "daemon off;"]', 'RUN').command).toEqual({ form: 'exec', argv: ['nginx', '-g', 'daemon off;'] });
    expect(one('RUN ["a\\"b", "\\u00e9", "c\\\\d"]', 'RUN').command).toEqual({ form: 'exec', argv: ['a"b', 'é', 'c\\d'] });
  });
  it('something that is not valid JSON is the shell form, as docker treats it', () => {
    expect(one("RUN ['single', 'quotes']", 'RUN').command).toEqual({ form: 'shell', command: "RUN ['single', 'quotes']".slice(4) });
    expect(one('RUN [ -f /x ] && echo y', 'RUN').command.form).toBe('shell');
  });
  it('a JSON array with a non-string is an error', () => {
    expect(error('FROM a\nRUN ["a", 1]').message).toBe('Dockerfile:2: RUN: when using JSON array syntax, arrays must be comprised of strings only');
  });
  it('--mount cache, secret, bind, tmpfs with docker defaults; --network', () => {
    const run = one(
      'RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1 --mount=type=secret,id=tok,required=true ' +
        '--mount=type=bind,from=build,source=/out,target=/in --mount=type=tmpfs,dst=/tmp,size=64m --mount=target=/ctx --network=none make',
      'RUN',
    );
    expect(run.mounts).toEqual([
      { type: 'cache', target: '/root/.cache', id: 'pip', sharing: 'locked', readonly: false, mode: 0o755, uid: 1, gid: undefined, from: undefined, source: undefined },
      { type: 'secret', id: 'tok', required: true, target: '/run/secrets/tok', env: undefined, mode: undefined, uid: undefined, gid: undefined },
      { type: 'bind', from: 'build', source: '/out', target: '/in', readwrite: false },
      { type: 'tmpfs', target: '/tmp', size: 64 * 1024 * 1024 },
      { type: 'bind', target: '/ctx', readwrite: false, source: undefined, from: undefined },
    ]);
    expect(run.network).toBe('none');
    expect(run.command).toEqual({ form: 'shell', command: 'make' });
    expect(one('RUN --mount=type=secret,target=/etc/key cat /etc/key', 'RUN').mounts[0]).toMatchObject({ id: 'key', target: '/etc/key' });
  });
  it('refuses bad mounts and flags, naming them', () => {
    expect(error('FROM a\nRUN --mount=type=cache x').message).toBe('Dockerfile:2: --mount type=cache needs a target (target=/path)');
    expect(error('FROM a\nRUN --mount=type=cache,target=/c,sharing=all x').message).toMatch(/sharing=all is not shared, private or locked/);
    expect(error('FROM a\nRUN --mount=type=nfs,target=/x x').message).toMatch(/type=nfs is not a mount type/);
    expect(error('FROM a\nRUN --network=bridge x').message).toMatch(/--network=bridge is not default, none or host/);
    expect(error('FROM a\nRUN --foo x').message).toMatch(/^Dockerfile:2: RUN does not accept the flag --foo \(it accepts --mount, --network, --security\)/);
    expect(error('FROM a\nRUN').message).toBe('Dockerfile:2: RUN needs a command');
  });
});

describe('Dockerfile: heredocs', () => {
  it('RUN <<EOF keeps the body, lines and text', () => {
    const ins = parse('FROM a\nRUN <<EOF\necho hi\n  echo $HOME\nEOF\nUSER x').instructions;
    const run = ins[1] as Extract<Instruction, { kind: 'RUN' }>;
    expect(run.command).toEqual({ form: 'shell', command: '<<EOF' });
    expect(run.heredocs).toEqual([{ name: 'EOF', content: 'echo hi\n  echo $HOME\n', chomp: false, expand: true, fd: 0 }]);
    expect(run.source).toEqual({ line: 2, endLine: 5, text: 'RUN <<EOF' });
    expect(ins[2]).toMatchObject({ kind: 'USER', source: { line: 6 } });
  });
  it('<<- strips leading tabs (not spaces), the terminator may be tab-indented', () => {
    const run = one('RUN <<-EOT\n\t\techo a\n  \techo b\n\tEOT', 'RUN');
    expect(heredocBody(run.heredocs[0])).toBe('echo a\n  \techo b\n');
  });
  it('a quoted delimiter means no expansion', () => {
    expect(one('RUN <<"EOF"\n$X\nEOF', 'RUN').heredocs[0]).toMatchObject({ name: 'EOF', expand: false });
    expect(one("RUN <<'EOF'\n$X\nEOF", 'RUN').heredocs[0]).toMatchObject({ name: 'EOF', expand: false });
  });
  it('several heredocs on one line, read in order', () => {
    const run = one('RUN <<A cat /dev/stdin && python3 <<B\nfrom a\nA\nprint(1)\nB', 'RUN');
    expect(run.heredocs.map((h) => [h.name, h.content])).toEqual([
      ['A', 'from a\n'],
      ['B', 'print(1)\n'],
    ]);
  });
  it('COPY <<EOF /dest: heredoc files as sources', () => {
    const copy = one('COPY <<one.txt <<two.txt /dst/\n1\none.txt\n2\ntwo.txt', 'COPY');
    expect(copy.sources).toEqual([]);
    expect(copy.heredocSources.map((h) => [h.name, h.content])).toEqual([
      ['one.txt', '1\n'],
      ['two.txt', '2\n'],
    ]);
    expect(copy.dest).toBe('/dst/');
  });
  it('an unterminated heredoc names the instruction line', () => {
    expect(error('FROM a\nRUN <<EOF\necho').message).toBe('Dockerfile:2: unterminated heredoc <<EOF');
  });
  it('<< inside quotes or words, and in JSON forms, is no heredoc', () => {
    expect(one('RUN echo "<<EOF"', 'RUN').heredocs).toEqual([]);
    expect(one('RUN ["sh", "-c", "cat <<EOF"]', 'RUN').heredocs).toEqual([]);
  });
});

describe('Dockerfile: COPY and ADD', () => {
  it('flags docker accepts', () => {
    const c = one('COPY --from=build --chown=app:app --chmod=0644 --link --exclude=*.md --exclude=x a b /dst', 'COPY');
    expect(c).toMatchObject({ sources: ['a', 'b'], dest: '/dst', from: 'build', chown: 'app:app', chmod: '0644', link: true, exclude: ['*.md', 'x'], json: false });
    const a = one('ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.tgz /y', 'ADD');
    expect(a).toMatchObject({ sources: ['https://x/y.tgz'], checksum: 'sha256:abc', keepGitDir: true, link: false });
  });
  it('flag values may be quoted or escaped; -- ends the flags (BuildKit testfile flags)', () => {
    expect(one('COPY --chown="app user" --exclude=a\\ b x /d', 'COPY')).toMatchObject({ chown: 'app user', exclude: ['a b'], sources: ['x'] });
    expect(one('COPY -- foo /tmp/', 'COPY')).toMatchObject({ sources: ['foo'], dest: '/tmp/' });
    expect(one('COPY --link -- foo /tmp/', 'COPY')).toMatchObject({ link: true, sources: ['foo'] });
  });
  it('JSON form allows spaces in names', () => {
    expect(one('COPY ["a file", "dir/"]', 'COPY')).toMatchObject({ sources: ['a file'], dest: 'dir/', json: true });
  });
  it('refuses unknown flags, ADD --from, bad --chmod, one argument', () => {
    expect(error('FROM a\nCOPY --own=1 a b').message).toMatch(/^Dockerfile:2: COPY does not accept the flag --own \(it accepts --from, --chown/);
    expect(error('FROM a\nADD --from=x a b').message).toMatch(/ADD does not accept the flag --from/);
    expect(error('FROM a\nCOPY --chmod=rwx a b').message).toMatch(/^Dockerfile:2: COPY --chmod: invalid chmod parameter: 'rwx'/);
    expect(error('FROM a\nCOPY --chmod=8 a b').message).toMatch(/^Dockerfile:2: COPY --chmod: invalid chmod parameter: '8'. it should be octal/);
    expect(one('COPY --chmod=u+x,go-w a b', 'COPY').chmod).toBe('u+x,go-w');
    expect(error('FROM a\nCOPY a').message).toBe('Dockerfile:2: COPY needs at least one source and a destination');
    expect(error('FROM a\nCOPY --from a b').message).toBe('Dockerfile:2: COPY --from needs a value (--from=VALUE)');
    expect(error('FROM a\nCOPY --from=a --from=b a b').message).toBe('Dockerfile:2: COPY --from is given twice');
  });
});

describe('Dockerfile: ENV, LABEL, ARG', () => {
  it('ENV K=V pairs keep quotes for substitution; legacy ENV K V takes the rest', () => {
    expect(one('ENV A=1 B="x y" C=a\\ b D=', 'ENV').pairs).toEqual([
      { key: 'A', value: '1' },
      { key: 'B', value: '"x y"' },
      { key: 'C', value: 'a\\ b' },
      { key: 'D', value: '' },
    ]);
    expect(one('ENV PATH /usr/local/bin:$PATH and more', 'ENV').pairs).toEqual([{ key: 'PATH', value: '/usr/local/bin:$PATH and more' }]);
  });
  it('ENV errors', () => {
    expect(error('FROM a\nENV').message).toBe('Dockerfile:2: ENV needs a name');
    expect(error('FROM a\nENV A').message).toBe('Dockerfile:2: ENV A needs a value');
    expect(error('FROM a\nENV A=1 B').message).toBe('Dockerfile:2: ENV: "B" has no =');
    expect(error('FROM a\n\nENV =1').message).toBe('Dockerfile:3: ENV needs a name before = in "=1"');
  });
  it('LABEL pairs', () => {
    expect(one('LABEL "com.example.a"="x y" b=\'z\'', 'LABEL').pairs).toEqual([
      { key: '"com.example.a"', value: '"x y"' },
      { key: 'b', value: "'z'" },
    ]);
  });
  it('ARG NAME, NAME=default, several', () => {
    expect(one('ARG A B=2 C="x y"', 'ARG').args).toEqual([{ name: 'A' }, { name: 'B', default: '2' }, { name: 'C', default: '"x y"' }]);
    expect(error('FROM a\nARG').message).toBe('Dockerfile:2: ARG needs a name');
  });
});

describe('Dockerfile: metadata instructions', () => {
  it('WORKDIR USER STOPSIGNAL MAINTAINER take the rest of the line', () => {
    expect(one('WORKDIR /a b', 'WORKDIR').path).toBe('/a b');
    expect(one('USER app:staff', 'USER').user).toBe('app:staff');
    expect(one('STOPSIGNAL SIGTERM', 'STOPSIGNAL').signal).toBe('SIGTERM');
    const p = parse('FROM a\nMAINTAINER Jane <j@x>');
    expect(p.instructions[1]).toMatchObject({ kind: 'MAINTAINER', author: 'Jane <j@x>' });
    expect(p.warnings).toEqual(['Dockerfile:2: MAINTAINER is deprecated; it sets the image author (use LABEL org.opencontainers.image.authors=... instead)']);
    expect(error('FROM a\nWORKDIR').message).toBe('Dockerfile:2: WORKDIR needs a path');
  });
  it('CMD and ENTRYPOINT, both forms', () => {
    expect(one('CMD ["nginx", "-g", "daemon off;"]', 'CMD').command).toEqual({ form: 'exec', argv: ['nginx', '-g', 'daemon off;'] });
    expect(one('ENTRYPOINT exec top -b', 'ENTRYPOINT').command).toEqual({ form: 'shell', command: 'exec top -b' });
    expect(one('ENTRYPOINT []', 'ENTRYPOINT').command).toEqual({ form: 'exec', argv: [] });
  });
  it('EXPOSE words', () => {
    expect(one('EXPOSE 80 443/tcp 53/udp $P', 'EXPOSE').ports).toEqual(['80', '443/tcp', '53/udp', '$P']);
  });
  it('VOLUME JSON or words', () => {
    expect(one('VOLUME ["/data", "/var/log x"]', 'VOLUME').paths).toEqual(['/data', '/var/log x']);
    expect(one('VOLUME /a /b', 'VOLUME').paths).toEqual(['/a', '/b']);
  });
  it('SHELL must be JSON', () => {
    expect(one('SHELL ["/bin/bash", "-o", "pipefail", "-c"]', 'SHELL').shell).toEqual(['/bin/bash', '-o', 'pipefail', '-c']);
    expect(error('FROM a\nSHELL /bin/bash -c').message).toBe('Dockerfile:2: SHELL needs the JSON form');
  });
  it('HEALTHCHECK NONE, CMD shell and exec forms, durations in nanoseconds', () => {
    expect(one('HEALTHCHECK NONE', 'HEALTHCHECK').health).toEqual({ Test: ['NONE'] });
    expect(
      one('HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1', 'HEALTHCHECK')
        .health,
    ).toEqual({
      Test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
      Interval: 300e9,
      Timeout: 3e9,
      StartPeriod: 90e9,
      StartInterval: 500e6,
      Retries: 3,
    });
    expect(one('HEALTHCHECK CMD ["/bin/check", "a b"]', 'HEALTHCHECK').health).toEqual({ Test: ['CMD', '/bin/check', 'a b'] });
    expect(error('FROM a\nHEALTHCHECK --interval=5x CMD true').message).toMatch(/^Dockerfile:2: HEALTHCHECK --interval: "5x" is not a duration/);
    expect(error('FROM a\nHEALTHCHECK NONE x').message).toBe('Dockerfile:2: HEALTHCHECK NONE takes no arguments');
    expect(error('FROM a\nHEALTHCHECK --retries=-1 CMD true').message).toBe('Dockerfile:2: HEALTHCHECK --retries cannot be negative (-1)');
    expect(error('FROM a\nHEALTHCHECK RUN true').message).toMatch(/unknown type/);
  });
  it('ONBUILD wraps an instruction, parsed; not FROM, MAINTAINER or ONBUILD', () => {
    const o = one('ONBUILD  COPY --chown=1 . /app', 'ONBUILD');
    expect(o.expression).toBe('COPY --chown=1 . /app');
    expect(o.trigger).toMatchObject({ kind: 'COPY', sources: ['.'], dest: '/app', chown: '1' });
    expect(error('FROM a\nONBUILD ONBUILD RUN x').message).toMatch(/^Dockerfile:2: ONBUILD ONBUILD is not allowed/);
    expect(error('FROM a\nONBUILD FROM x').message).toBe('Dockerfile:2: FROM is not allowed as an ONBUILD trigger');
    expect(error('FROM a\nONBUILD MAINTAINER x').message).toBe('Dockerfile:2: MAINTAINER is not allowed as an ONBUILD trigger');
    expect(error('FROM a\nONBUILD COPPY a b').message).toBe('Dockerfile:2: unknown instruction COPPY');
  });
  it('ONBUILD RUN/COPY take heredocs; the stored expression carries the bodies, and parses back', () => {
    const p = parse('FROM a\nONBUILD RUN <<EOF\necho one\nEOF\nUSER x');
    const o = p.instructions[1] as Instruction & { kind: 'ONBUILD' };
    expect(o.expression).toBe('RUN <<EOF\necho one\nEOF');
    expect(o.trigger).toMatchObject({ kind: 'RUN', heredocs: [{ name: 'EOF', content: 'echo one\n' }] });
    expect(p.instructions[2]).toMatchObject({ kind: 'USER', source: { line: 5 } });
    const [again] = parseOnbuildTriggers([o.expression], 'img');
    expect(again).toMatchObject({ kind: 'RUN', heredocs: [{ name: 'EOF', content: 'echo one\n' }] });
  });
  it('base image triggers parse as instructions', () => {
    const t = parseOnbuildTriggers(['RUN echo hi', 'ENV A=1'], 'base:1');
    expect(t.map((i) => i.kind)).toEqual(['RUN', 'ENV']);
    expect(t[0].source.text).toBe('RUN echo hi');
    expect(() => parseOnbuildTriggers(['FROM x'], 'base:1')).toThrow(/ONBUILD trigger 1 of base:1 \("FROM x"\): FROM is not allowed/);
    expect(() => parseOnbuildTriggers(['RUN a\nRUN b'], 'base:1')).toThrow(/holds 2 instructions, not one/);
    expect(() => parseOnbuildTriggers(['COPPY a b'], 'base:1')).toThrow('ONBUILD trigger 1 of base:1 ("COPPY a b"): unknown instruction COPPY');
  });
});

describe('Dockerfile: lines, comments, directives', () => {
  it('unknown instruction suggests the closest one', () => {
    const e = error('FROM a\n\n\n\n\n\nCOPPY a b');
    expect(e.message).toBe('Dockerfile:7: unknown instruction COPPY');
    expect(e.hint).toBe('did you mean COPY?');
    expect(e.exitCode).toBe(125);
    expect(error('FROM a\nfrobnicate x').hint).toMatch(/^instructions are FROM, RUN/);
  });
  it('keywords are case-insensitive; line numbers and joined text are kept', () => {
    const ins = parse('from a\n\n# comment\nrun echo a \\\n  b \\\n  c\nCmd x').instructions;
    expect(ins[1]).toMatchObject({ kind: 'RUN', source: { line: 4, endLine: 6, text: 'run echo a   b   c' } });
    expect(ins[2]).toMatchObject({ kind: 'CMD', source: { line: 7, endLine: 7 } });
  });
  it('continuation lines that are comments or empty are skipped (empty ones warned about)', () => {
    const p = parse('FROM a\nRUN echo a \\\n# a comment\n  # indented comment\n\n  b');
    expect(p.instructions[1]).toMatchObject({ command: { form: 'shell', command: 'echo a   b' }, source: { line: 2, endLine: 6 } });
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).toMatch(/^Dockerfile:2: empty continuation line/);
  });
  it('a backslash with trailing blanks still continues; a comment never does', () => {
    expect(body('RUN a \\  \n b')[0]).toMatchObject({ command: { command: 'a  b' } });
    expect(body('# x \\\nRUN a').map((i) => i.kind)).toEqual(['RUN']);
  });
  it('an escaped escape at the end does not continue (BuildKit testfile trailing-backslash)', () => {
    const ins = body('ENV C trailing\\\\backslash\\\\\nENV D not appended\nENV E hello\\\n\\\nworld\nENV G hello \\\n\\\nworld');
    expect(ins.map((i) => (i as Instruction & { kind: 'ENV' }).pairs)).toEqual([
      [{ key: 'C', value: 'trailing\\\\backslash\\\\' }],
      [{ key: 'D', value: 'not appended' }],
      [{ key: 'E', value: 'helloworld' }],
      [{ key: 'G', value: 'hello world' }],
    ]);
  });
  it('JSON forms with tabs and every JSON escape (BuildKit testfile json)', () => {
    expect(body('CMD\t[\t"a",\t"b"\t]\t\nCMD [""]\nCMD ["\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000", "♥"]').map((i) => (i as Instruction & { kind: 'CMD' }).command)).toEqual([
      { form: 'exec', argv: ['a', 'b'] },
      { form: 'exec', argv: [''] },
      { form: 'exec', argv: ['" \\ / \b \f \n \r \t \u0000', '♥'] },
    ]);
  });
  it('# escape=` changes the continuation character', () => {
    const p = parse('# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\nCOPY a\\b c\\');
    expect(p.escape).toBe('`');
    expect(p.instructions[1]).toMatchObject({ command: { command: 'dir c:\\   /b' } });
    expect(p.instructions[2]).toMatchObject({ sources: ['a\\b'], dest: 'c\\' });
  });
  it('# syntax is accepted and ignored with one warning; directives stop at the first other line', () => {
    const p = parse('# syntax=docker/dockerfile:1\n# escape=\\\nFROM a');
    expect(p.directives).toEqual({ syntax: 'docker/dockerfile:1', escape: '\\' });
    expect(p.warnings).toEqual([
      'Dockerfile:1: the syntax directive (docker/dockerfile:1) is ignored: nook parses Dockerfiles itself, with the stable syntax (heredocs included)',
    ]);
    expect(parse('FROM a\n# escape=`\nRUN a \\\n b').directives).toEqual({});
    expect(parse('# comment\n# escape=`\nFROM a').escape).toBe('\\');
    expect(parse('\n# escape=`\nFROM a').escape).toBe('\\');
    expect(error('# escape=\\\n# escape=`\nFROM a').message).toBe('Dockerfile:2: only one escape parser directive can be used');
    expect(error('# escape=x\nFROM a').message).toMatch(/^Dockerfile:1: invalid escape character "x"/);
  });
  it('CRLF line ends and a byte-order mark are accepted', () => {
    const p = parse('\uFEFFFROM a\r\nRUN x \\\r\n y\r\n');
    expect(p.instructions.map((i) => i.source.text)).toEqual(['FROM a', 'RUN x  y']);
  });
  it('the file name given appears in messages', () => {
    expect(() => parseDockerfile('FROM a\nCOPPY x y', { file: 'ctx/Dockerfile.dev' })).toThrow('ctx/Dockerfile.dev:2: unknown instruction COPPY');
  });
});
