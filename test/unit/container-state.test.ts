/**
 * Container state without a daemon: names, ids and prefixes, the live status
 * derived from the container's lock, exit records, the spec round trip, and
 * the run flags that make a container.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerOptions, parseSignal } from '../../src/cli/container-flags';
import { decodeSpec, encodeSpec } from '../../src/container/spec-codec';
import { ContainerStore, parseExitRecord, writeExitRecord, type ContainerConfig } from '../../src/container/state';
import { statusText } from '../../src/cli/format';
import { liveState } from '../../src/container/status';
import { NookError } from '../../src/errors';
import type { SandboxSpec } from '../../src/sandbox/spec';
import { FileLock } from '../../src/util/lock';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-state-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const hex = (c: string) => c.repeat(64);

function config(id: string, name: string): ContainerConfig {
  return {
    id, name, image: 'busybox', command: ['true'], created: new Date().toISOString(), detached: true, autoRemove: false,
    restart: { name: 'no' }, stopSignal: 15, log: { maxSize: 1 << 20, maxFiles: 2 }, spec: {},
  };
}

describe('ContainerStore', () => {
  it('resolves names, full ids and unique prefixes; says what is ambiguous or missing', async () => {
    const store = new ContainerStore(root);
    await store.create(config(`ab${hex('1').slice(2)}`, 'one'));
    await store.create(config(`ac${hex('2').slice(2)}`, 'two'));
    expect(store.resolve('one').id).toBe(`ab${hex('1').slice(2)}`);
    expect(store.resolve(`ac${hex('2').slice(2)}`).id).toBe(`ac${hex('2').slice(2)}`);
    expect(store.resolve('ab').id).toBe(`ab${hex('1').slice(2)}`);
    expect(() => store.resolve('a')).toThrow(/ambiguous: it matches 2 containers/);
    expect(() => store.resolve('nothere')).toThrow(/no such container: nothere/);
  });

  it('a name is unique until the container is deleted', async () => {
    const store = new ContainerStore(root);
    const d = await store.create(config(hex('3'), 'web'));
    await expect(store.create(config(hex('4'), 'web'))).rejects.toThrow(/"web" is already in use by container 333333333333/);
    await store.delete(d, 'web');
    expect(fs.existsSync(d.dir)).toBe(false);
    await store.create(config(hex('4'), 'web'));
    expect(store.resolve('web').id).toBe(hex('4'));
  });
});

describe('live state', () => {
  it('running while the lock is held; exited (137, with a note) once its holder is gone without a record', async () => {
    const store = new ContainerStore(root);
    const d = await store.create(config(hex('5'), 'x'));
    const lock = FileLock.tryAcquire(d.p('lock'))!;
    d.writeState({ status: 'running', pid: 1, startedAt: '2026-01-01T00:00:00.000Z', restartCount: 0 });
    expect(liveState(d).display).toBe('running');
    lock.release();
    const s = liveState(d);
    expect(s).toMatchObject({ display: 'exited', exitCode: 137 });
    expect(s.note).toMatch(/supervisor was killed/);
    expect(statusText(s)).toBe('Exited (137)');
  });

  it('an exit record written after the start is the truth when the state was not updated', async () => {
    const store = new ContainerStore(root);
    const d = await store.create(config(hex('6'), 'y'));
    d.writeState({ status: 'running', pid: 1, startedAt: '2026-01-01T00:00:00.000Z', restartCount: 0 });
    writeExitRecord(d.p('exitcode'), 3, '2026-01-01T00:00:05.000Z');
    expect(liveState(d)).toMatchObject({ display: 'exited', exitCode: 3, finishedAt: '2026-01-01T00:00:05.000Z' });
  });

  it('exit records are rewritten in place, so a reader holding the file sees the latest', () => {
    const f = path.join(root, 'exitcode');
    fs.writeFileSync(f, '');
    const fd = fs.openSync(f, 'r');
    writeExitRecord(f, 143, '2026-01-01T00:00:01.000Z');
    writeExitRecord(f, 0, '2026-01-01T00:00:02.000Z');
    fs.rmSync(f);
    const buf = Buffer.alloc(64);
    const n = fs.readSync(fd, buf, 0, 64, 0);
    fs.closeSync(fd);
    expect(parseExitRecord(buf.toString('utf8', 0, n))).toEqual({ code: 0, finishedAt: '2026-01-01T00:00:02.000Z' });
  });

  it('status texts as docker prints them', () => {
    const now = Date.parse('2026-01-01T00:01:00.000Z');
    expect(statusText({ display: 'running', status: 'running', startedAt: '2026-01-01T00:00:00.000Z', restartCount: 0 }, now)).toBe('Up 1 minute');
    expect(statusText({ display: 'exited', status: 'exited', exitCode: 2, finishedAt: '2026-01-01T00:00:30.000Z', restartCount: 0 }, now)).toBe('Exited (2) 30 seconds ago');
    expect(statusText({ display: 'created', status: 'created', restartCount: 0 }, now)).toBe('Created');
  });
});

describe('spec codec', () => {
  it('keeps the capability mask and the seccomp filter exactly', () => {
    const spec = {
      argv: ['sh'],
      security: { caps: (1n << 40n) | 5n, capNames: ['CHOWN'], noNewPrivs: true, seccomp: Buffer.from([1, 2, 3, 250]), maskPaths: true },
    } as unknown as SandboxSpec;
    const back = decodeSpec(JSON.parse(JSON.stringify(encodeSpec(spec))));
    expect(back.security.caps).toBe((1n << 40n) | 5n);
    expect(back.security.seccomp).toEqual(Buffer.from([1, 2, 3, 250]));
    expect(back.argv).toEqual(['sh']);
  });
});

describe('container flags', () => {
  it('restart policies, log options and signals', () => {
    expect(containerOptions({ detach: true, restart: 'on-failure:3' }).restart).toEqual({ name: 'on-failure', maxRetries: 3 });
    expect(containerOptions({ detach: true, restart: 'on-failure' }).restart).toEqual({ name: 'on-failure', maxRetries: 0 });
    expect(containerOptions({ detach: true, 'log-opt': ['max-size=1m', 'max-file=3'] }).log).toEqual({ maxSize: 1 << 20, maxFiles: 3 });
    expect(containerOptions({}).log).toEqual({ maxSize: 10 << 20, maxFiles: 2 });
    expect(parseSignal('TERM', 'x')).toBe(15);
    expect(parseSignal('SIGUSR1', 'x')).toBe(10);
    expect(parseSignal('9', 'x')).toBe(9);
  });

  it('bad values fail with the flag and a hint', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ detach: true, restart: 'always' }, /unsupported --restart policy "always"/],
      [{ restart: 'on-failure' }, /--restart needs -d/],
      [{ detach: true, rm: true, restart: 'on-failure' }, /--restart and --rm/],
      [{ 'log-opt': ['max-file=0'] }, /unsupported --log-opt "max-file=0"/],
      [{ name: '-bad' }, /invalid container name/],
    ];
    for (const [flags, re] of cases) {
      let err: unknown;
      try {
        containerOptions(flags as never);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(flags)).toBeInstanceOf(NookError);
      expect((err as NookError).message).toMatch(re);
      expect((err as NookError).hint ?? '', JSON.stringify(flags)).not.toBe('');
    }
    expect(() => parseSignal('SIGNOPE', '--stop-signal')).toThrow(/invalid signal "SIGNOPE" for --stop-signal/);
  });
});
