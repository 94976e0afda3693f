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
import { decodeSpec, encodeSpec, RECORD_VERSION } from '../../src/container/spec-codec';
import { ContainerStore, parseExitRecord, writeExitRecord, type ContainerConfig } from '../../src/container/state';
import { statusText } from '../../src/cli/format';
import { liveState } from '../../src/container/status';
import { FlagError, NookError } from '../../src/errors';
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
    (await store.create(config(`ab${hex('1').slice(2)}`, 'one'))).lock.release();
    (await store.create(config(`ac${hex('2').slice(2)}`, 'two'))).lock.release();
    expect(store.resolve('one').id).toBe(`ab${hex('1').slice(2)}`);
    expect(store.resolve(`ac${hex('2').slice(2)}`).id).toBe(`ac${hex('2').slice(2)}`);
    expect(store.resolve('ab').id).toBe(`ab${hex('1').slice(2)}`);
    expect(() => store.resolve('a')).toThrow(/ambiguous: it matches 2 containers/);
    expect(() => store.resolve('nothere')).toThrow(/No such container: nothere/);
  });

  it('a name is unique until the container is deleted', async () => {
    const store = new ContainerStore(root);
    const { dir: d, lock } = await store.create(config(hex('3'), 'web'));
    await expect(store.create(config(hex('4'), 'web'))).rejects.toThrow(/"web" is already in use by container 333333333333/);
    await store.delete(d, 'web');
    lock.release();
    expect(fs.existsSync(d.dir)).toBe(false);
    (await store.create(config(hex('4'), 'web'))).lock.release();
    expect(store.resolve('web').id).toBe(hex('4'));
  });
});

describe('creating and updating a container', () => {
  it('create returns the container with its lock held: nobody else can take it (a prune would skip it)', async () => {
    const store = new ContainerStore(root);
    const { dir, lock } = await store.create(config(hex('7'), 'locked'));
    expect(fs.existsSync(dir.p('config.json'))).toBe(true);
    expect(FileLock.tryAcquire(dir.p('lock'))).toBeUndefined();
    expect(dir.isHeld()).toBe(true);
    lock.release();
    expect(dir.isHeld()).toBe(false);
  });

  it('updateState takes the store lock itself: two writers of one state file lose no field', async () => {
    const store = new ContainerStore(root);
    const { dir, lock } = await store.create(config(hex('8'), 'racy'));
    // A second writer (another store object, as another nook process has) starts while the first
    // has read the state and not yet written it: it must wait, then see the first one's change.
    const other = new ContainerStore(root).dir(hex('8'));
    let second: Promise<unknown> | undefined;
    await dir.updateState((s) => {
      second = Promise.resolve(other.updateState((t) => ({ ...t, stopSignalSent: 15 })));
      return { ...s, stopRequested: true };
    });
    await second;
    expect(dir.state()).toMatchObject({ stopRequested: true, stopSignalSent: 15 });
    lock.release();
  });

  it('updateState never brings back a removed container', async () => {
    const store = new ContainerStore(root);
    const { dir, lock } = await store.create(config(hex('9'), 'gone'));
    await store.delete(dir, 'gone');
    lock.release();
    await expect(dir.updateState((s) => ({ ...s, stopRequested: true }))).rejects.toThrow(/was removed/);
    expect(fs.existsSync(dir.dir)).toBe(false);
  });
});

describe('live state', () => {
  it('running while the lock is held; exited (137, with a note) once its holder is gone without a record', async () => {
    const store = new ContainerStore(root);
    const { dir: d, lock } = await store.create(config(hex('5'), 'x'));
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
    const { dir: d, lock } = await store.create(config(hex('6'), 'y'));
    lock.release();
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
  const spec = {
    rootfs: '/r', argv: ['sh'], env: ['PATH=/bin'], cwd: '/', hostname: 'h', binds: [], tmpfs: [], ulimits: [],
    idmap: { uid: [], gid: [], method: 'direct', setgroups: false },
    security: { caps: (1n << 40n) | 5n, capNames: ['CHOWN'], noNewPrivs: true, seccomp: Buffer.from([1, 2, 3, 250]), maskPaths: true },
  } as unknown as SandboxSpec;
  const roundTrip = (s: SandboxSpec) => JSON.parse(JSON.stringify(encodeSpec(s))) as Record<string, unknown>;

  it('keeps the capability mask and the seccomp filter exactly', () => {
    const back = decodeSpec(roundTrip(spec));
    expect(back.security.caps).toBe((1n << 40n) | 5n);
    expect(back.security.seccomp).toEqual(Buffer.from([1, 2, 3, 250]));
    expect(back.argv).toEqual(['sh']);
  });

  it('the record carries its version, and a place for the request', () => {
    const rec = encodeSpec(spec);
    expect(rec.version).toBe(RECORD_VERSION);
    expect(decodeSpec({ ...roundTrip(spec), request: { any: 'thing' } }).argv).toEqual(['sh']);
  });

  it('refuses a record from a newer or an older nook, naming the version', () => {
    const newer = () => decodeSpec({ ...roundTrip(spec), version: 99 }, 'container web');
    expect(newer).toThrow(NookError);
    expect(newer).toThrow(/container web was created by a newer nook \(record version 99\); this nook reads record version 1 only/);
    const { version: _, ...unversioned } = roundTrip(spec);
    expect(() => decodeSpec(unversioned)).toThrow(/an older nook \(a record without a version\)/);
    // The records of nooks before versioning: the spec itself, with no wrapper.
    expect(() => decodeSpec(roundTrip(spec).spec)).toThrow(/an older nook/);
    expect(() => decodeSpec(roundTrip(spec).spec)).toThrow(expect.objectContaining({ exitCode: 125 }));
  });

  it('refuses a damaged record, naming the field', () => {
    const rec = roundTrip(spec);
    const spoil = (field: string, value: unknown) => ({ ...rec, spec: { ...(rec.spec as object), [field]: value } });
    expect(() => decodeSpec(spoil('argv', 'sh'))).toThrow(/damaged: spec.argv is missing or malformed/);
    expect(() => decodeSpec(spoil('idmap', undefined))).toThrow(/spec.idmap/);
    expect(() => decodeSpec(spoil('security', { ...(rec.spec as { security: object }).security, caps: 'lots' }))).toThrow(/spec.security.caps/);
    expect(() => decodeSpec(null)).toThrow(NookError);
  });
});

describe('container flags', () => {
  it('restart policies, log options and signals', () => {
    expect(containerOptions({ detach: true, restart: 'on-failure:3' }).restart).toEqual({ name: 'on-failure', maxRetries: 3 });
    expect(containerOptions({ detach: true, restart: 'on-failure' }).restart).toEqual({ name: 'on-failure', maxRetries: 0 });
    expect(containerOptions({ detach: true, 'log-opt': ['max-size=1m', 'max-file=3'] }).log).toEqual({ maxSize: 1_000_000, maxFiles: 3 });
    expect(containerOptions({}).log).toEqual({ maxSize: 10_000_000, maxFiles: 2 });
    expect(parseSignal('TERM', 'x')).toBe(15);
    expect(parseSignal('SIGUSR1', 'x')).toBe(10);
    expect(parseSignal('9', 'x')).toBe(9);
  });

  it('bad values fail with the flag and a hint', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ detach: true, restart: 'sometimes' }, /unsupported --restart policy "sometimes"/],
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
    expect(() => parseSignal('SIGNOPE', '--stop-signal')).toThrow(/^invalid signal: SIGNOPE$/);
  });

  it('signals as docker and podman parse them, and their errors (podman\'s words, flag errors)', () => {
    expect(parseSignal('-HUP', '--signal')).toBe(1);
    expect(parseSignal('-1', '--signal')).toBe(1);
    expect(parseSignal('sigusr2', '--signal')).toBe(12);
    expect(parseSignal('64', '--signal')).toBe(64);
    expect(parseSignal('RTMIN+3', '--signal')).toBe(37);
    expect(parseSignal('SIGRTMAX-1', '--signal')).toBe(63);
    for (const bad of ['0', '-0', 'SIGBADSIG', 'SIG', 'BADSIG', '%%', '!', "''", '-', 'constructor'])
      expect(() => parseSignal(bad, '--signal'), bad).toThrow(new RegExp(`^invalid signal: ${bad.replace(/^-/, '').replace(/[%!'()]/g, '\\$&')}$`));
    for (const bad of ['65', '-65', '96', '99999999']) expect(() => parseSignal(bad, '--signal'), bad).toThrow(/^valid signals are 1 through 64$/);
    expect(() => parseSignal('BOGUS', "the image's StopSignal")).toThrow(/^invalid signal: BOGUS \(the image's StopSignal\)$/);
    let err: unknown;
    try {
      parseSignal('0', '--signal');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlagError);
  });
});
