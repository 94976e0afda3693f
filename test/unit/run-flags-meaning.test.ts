import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from '../../src/cli/args';
import { containerOptions, wantsContainer } from '../../src/cli/container-flags';
import { RUN_FLAGS } from '../../src/cli/run-flags';
import { parseEntrypoint, timeoutHooks, timeoutSeconds, timezoneBind } from '../../src/cli/run-request';
import { imageRunConfig } from '../../src/image/run-config';
import { commandExitCode, FlagError, NookError, UsageError } from '../../src/errors';

const flags = (argv: string[]) => parseArgs([...argv, 'sh'], RUN_FLAGS, 'run').flags;

describe("docker's exit codes per command", () => {
  it('run, create and exec keep their codes; every other command exits 1, or 125 for a bad flag', () => {
    const runtime = new NookError('No such container: x');
    for (const cmd of ['run', 'create', 'exec']) expect(commandExitCode(cmd, runtime, 125)).toBe(125);
    for (const cmd of ['rm', 'ps', 'inspect', 'pull', 'image', 'container', 'bogus']) {
      expect(commandExitCode(cmd, runtime, 125)).toBe(1);
      expect(commandExitCode(cmd, new UsageError('needs an argument'), 125)).toBe(1);
      expect(commandExitCode(cmd, new FlagError('unknown flag: --x'), 125)).toBe(125);
    }
    expect(commandExitCode('run', new NookError('not found', { exitCode: 127 }), 127)).toBe(127);
    // start of a container whose command is missing: docker's start exits 1.
    expect(commandExitCode('start', new NookError('not found', { exitCode: 127 }), 127)).toBe(1);
    expect(commandExitCode('build', new NookError('interrupted', { exitCode: 130 }), 130)).toBe(130);
    // Before any command is known (nook --root without a value): as is.
    expect(commandExitCode(undefined, new FlagError('--root needs a directory'), 125)).toBe(125);
  });
});

describe('container flags', () => {
  it('labels: files first, then --label, later ones winning; K alone is an empty value', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-labels-'));
    try {
      const file = path.join(dir, 'l');
      fs.writeFileSync(file, '# c\na=1\r\nb=2\n\n');
      const o = containerOptions(flags(['--label-file', file, '-l', 'b=3', '-l', 'c', '-l', 'd=x=y']));
      expect(o.labels).toEqual({ a: '1', b: '3', c: '', d: 'x=y' });
      expect(() => containerOptions(flags(['-l', '=v']))).toThrow(/invalid label/);
      expect(() => containerOptions(flags(['--label-file', path.join(dir, 'none')]))).toThrow(/reading label file/);
      // An existing cidfile is refused with docker's message.
      expect(() => containerOptions(flags(['--cidfile', file]))).toThrow(/Container ID file found, make sure the other container isn't running or delete/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restart policies, stop timeout, log driver and --replace', () => {
    expect(containerOptions(flags(['-d', '--restart', 'always'])).restart).toEqual({ name: 'always' });
    expect(containerOptions(flags(['-d', '--restart', 'unless-stopped'])).restart).toEqual({ name: 'unless-stopped' });
    expect(containerOptions(flags(['-d', '--restart', 'on-failure:3'])).restart).toEqual({ name: 'on-failure', maxRetries: 3 });
    expect(() => containerOptions(flags(['-d', '--restart', 'sometimes']))).toThrow(/unsupported --restart/);
    expect(containerOptions(flags(['--stop-timeout', '3'])).stopTimeout).toBe(3);
    expect(() => containerOptions(flags(['--stop-timeout=-1']))).toThrow(/invalid --stop-timeout/);
    expect(containerOptions(flags(['--log-driver', 'none'])).log.none).toBe(true);
    expect(containerOptions(flags(['--log-driver', 'json-file'])).log.none).toBeUndefined();
    expect(() => containerOptions(flags(['--log-driver', 'journald']))).toThrow(/unsupported --log-driver/);
    expect(() => containerOptions(flags(['--replace']))).toThrow(/--replace needs --name/);
    for (const f of [['-l', 'a=b'], ['--label-file', 'x'], ['--cidfile', 'x'], ['--stop-timeout', '1'], ['--log-driver', 'none'], ['--replace']])
      expect(wantsContainer(flags(f))).toBe(true);
    expect(wantsContainer(flags(['-e', 'A=1']))).toBe(false);
  });
});

describe('process flags', () => {
  it('--entrypoint: a JSON array is the exec form; anything else is one command', () => {
    expect(parseEntrypoint('["/bin/sh","-c"]')).toEqual(['/bin/sh', '-c']);
    expect(parseEntrypoint('/bin/sh')).toBe('/bin/sh');
    expect(parseEntrypoint('[')).toBe('['); // test(1)'s other name, not JSON
    expect(parseEntrypoint('')).toBe('');
    expect(() => parseEntrypoint('["a", 1]')).toThrow(/invalid --entrypoint/);
    expect(imageRunConfig({ Entrypoint: ['old'], Cmd: ['x'] }, { entrypoint: ['/bin/sh', '-c'], args: ['echo hi'] }, 'img').argv).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(imageRunConfig({ Entrypoint: ['old'], Cmd: ['x'] }, { entrypoint: [], args: ['true'] }, 'img').argv).toEqual(['true']);
  });

  it('--tz: a zone file of the host, never a path out of zoneinfo', (ctx) => {
    if (!fs.existsSync('/usr/share/zoneinfo/UTC')) ctx.skip('no /usr/share/zoneinfo on this host');
    const b = timezoneBind('UTC');
    expect(b).toMatchObject({ target: '/etc/localtime', readOnly: true });
    expect(b.source.startsWith('/usr/share/zoneinfo/')).toBe(true);
    for (const bad of ['../../etc/passwd', '/etc/passwd', 'Nowhere/Special', 'a//b']) expect(() => timezoneBind(bad)).toThrow(/--tz/);
  });

  it('--timeout: whole seconds (with -d too: the supervisor applies them); the signal aborts only after the command started', () => {
    expect(timeoutHooks(flags([]))).toBeUndefined();
    expect(() => timeoutHooks(flags(['--timeout', '0']))).toThrow(/invalid --timeout/);
    expect(() => timeoutHooks(flags(['--timeout', '1.5']))).toThrow(/invalid --timeout/);
    expect(timeoutSeconds(flags(['-d', '--timeout', '5']))).toBe(5);
    expect(() => timeoutSeconds(flags(['-d', '--timeout', '2m']))).toThrow(/invalid --timeout/);
    const t = timeoutHooks(flags(['--timeout', '5']))!;
    expect(t.cancel.aborted).toBe(false);
  });
});
