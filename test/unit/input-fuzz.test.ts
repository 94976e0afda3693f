/**
 * Fuzz-style checks (deterministic seed, bounded count) that hostile input
 * never reaches an internal error: image configs with random types, NULs
 * and huge values through the config validator, the run-config rules, the
 * spec builder and the plan encoder; and random `nook run` flags through the
 * flag parser, the spec builder and the plan encoder. Every failure must be
 * a NookError (a message for the user), never a TypeError or the like.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodePlan } from '../../ffi/plan-format';
import { parseArgs } from '../../src/cli/args';
import { RUN_FLAGS } from '../../src/cli/run-flags';
import { requestFromFlags, rootfsFromFlags } from '../../src/cli/run-request';
import { composeSpec } from '../../src/container/compose';
import { defaultRequest } from '../../src/container/request';
import { NookError } from '../../src/errors';
import { parseImageConfig } from '../../src/image/config';
import { parseReference } from '../../src/image/reference';
import { buildPlan } from '../../src/sandbox/plan';
import { testHost } from '../helpers/host';
import { prng } from '../helpers/prng.mjs';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-fuzz-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
fs.mkdirSync(path.join(root, 'etc'));
fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nuser:x:1000:\n');
const envFileNul = path.join(root, 'env-nul');
fs.writeFileSync(envFileNul, 'A=1\nB=x\0y\n');
const envFileBig = path.join(root, 'env-big');
fs.writeFileSync(envFileBig, `BIG=${'v'.repeat(200_000)}\n`);

const host = testHost({ userName: 'fuzz' });
const fds = { syncRead: 10, syncWrite: 11, statusParent: 12, statusChild: 13 };

function strings(r: () => number): string[] {
  const any = Array.from({ length: 1 + Math.floor(r() * 12) }, () => String.fromCharCode(Math.floor(r() * 0x2fff))).join('');
  return [
    '', 'a\0b', '\0', 'x'.repeat(100_000), '-1', '0', '65536', '99999999999999999999', '1e308', 'NaN', '/', '/tmp', 'ro', ':', '::',
    '0:0', 'root', 'user:nogroup', '=', 'A=', '=V', 'K=V', '/a:/b:ro', '/a:/b:xx:yy', 'size=1k', 'ünï', '../..', any,
  ];
}

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)];
}

function randomValue(r: () => number, depth = 0): unknown {
  const s = strings(r);
  const choices: (() => unknown)[] = [
    () => pick(r, s),
    () => Math.floor(r() * 1e6) - 5e5,
    () => pick(r, [1e308, -0, 1.5, Number.MAX_SAFE_INTEGER]),
    () => null,
    () => r() < 0.5,
    () => ({}),
    () => (depth < 2 ? Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1)) : []),
    () => (depth < 2 ? { [pick(r, s)]: randomValue(r, depth + 1) } : {}),
    () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, s)),
  ];
  return pick(r, choices)();
}

const CONFIG_FIELDS = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'StopSignal', 'Labels', 'ExposedPorts', 'Volumes', 'ArgsEscaped'];
const TOP_FIELDS = ['architecture', 'os', 'variant', 'created', 'author', 'history', 'config', 'rootfs', 'os.features'];

/** Runs `fn`; true when it went through, false when it was refused with a NookError. */
function expectUserError(fn: () => unknown, what: string): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (!(e instanceof NookError)) throw new Error(`internal error for ${what}: ${(e as Error).stack}`);
    expect(e.message).not.toMatch(/\n\s+at /);
    return false;
  }
}

describe('fuzzing image configs', () => {
  it('every random config is either accepted and runs through to a plan, or refused with a NookError', () => {
    const r = prng(0x5eed);
    let ok = 0;
    for (let n = 0; n < 400; n++) {
      const config: Record<string, unknown> = { Cmd: ['sh'], Env: ['A=1'] };
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) config[pick(r, CONFIG_FIELDS)] = randomValue(r);
      const doc: Record<string, unknown> = {
        architecture: 'amd64',
        os: 'linux',
        config,
        rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] },
      };
      if (r() < 0.3) doc[pick(r, TOP_FIELDS)] = randomValue(r);
      const body = JSON.stringify(doc);
      if (expectUserError(() => {
        const parsed = parseImageConfig(body, 'fuzz');
        const spec = composeSpec(defaultRequest([]), host, { rootfs: root, image: { name: 'fuzz', config: parsed.config } });
        encodePlan(buildPlan(spec, fds), 3);
      }, body.slice(0, 300))) ok++;
    }
    // Not all refused at the first check: the fuzz reaches the spec builder and the plan.
    expect(ok).toBeGreaterThan(10);
  });

  it('refuses non-string and NUL-holding commands and environments, naming the field', () => {
    const base = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
    const cfg = (config: unknown) => JSON.stringify({ ...base, config });
    expect(() => parseImageConfig(cfg({ Cmd: 'echo hi' }), 'img')).toThrow(/config\.Cmd is not a list of strings/);
    expect(() => parseImageConfig(cfg({ Entrypoint: [1, 2] }), 'img')).toThrow(/config\.Entrypoint is not a list of strings/);
    expect(() => parseImageConfig(cfg({ Env: [{ A: 1 }] }), 'img')).toThrow(/config\.Env is not a list of strings/);
    expect(() => parseImageConfig(cfg({ Env: ['A=1\0B'] }), 'img')).toThrow(/config\.Env\[0\] contains a NUL byte/);
    expect(() => parseImageConfig(cfg({ Cmd: ['sh', 'a\0'] }), 'img')).toThrow(/config\.Cmd\[1\] contains a NUL byte/);
    expect(() => parseImageConfig(cfg({ WorkingDir: 7 }), 'img')).toThrow(/config\.WorkingDir is not a string/);
    expect(() => parseImageConfig(cfg({ Labels: { a: 1 } }), 'img')).toThrow(/config\.Labels is not an object of strings/);
    expect(() => parseImageConfig(cfg({ Volumes: ['/data'] }), 'img')).toThrow(/config\.Volumes is not an object/);
    expect(() => parseImageConfig(cfg([]), 'img')).toThrow(/config is not an object/);
    expect(() => parseImageConfig(JSON.stringify({ ...base, os: 1 }), 'img')).toThrow(/os is not a string/);
    // null is what Go writes for an empty list: accepted.
    expect(parseImageConfig(cfg({ Cmd: null, Entrypoint: null, Env: null, Labels: null }), 'img').config?.Cmd).toBeNull();
  });
});

describe('fuzzing nook run flags', () => {
  it('every random flag combination builds a plan or is refused with a NookError', () => {
    const r = prng(0xf1a95);
    const stringFlags = RUN_FLAGS.filter((f) => f.type === 'string' && !['rootfs', 'pull', 'platform', 'name', 'restart', 'log-opt'].includes(f.name));
    const booleans = ['read-only', 'init', 'tty', 'interactive', 'privileged'];
    let ok = 0;
    for (let n = 0; n < 300; n++) {
      const argv: string[] = ['--rootfs', root];
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++) {
        const f = pick(r, stringFlags);
        const v = f.name === 'env-file' ? pick(r, [envFileNul, envFileBig, '/nonexistent', 'a\0b']) : pick(r, strings(r));
        argv.push(r() < 0.5 ? `--${f.name}=${v}` : `--${f.name}`, ...(r() < 0.5 ? [] : [v]));
      }
      if (r() < 0.3) argv.push(`--${pick(r, booleans)}`);
      argv.push('--', ...Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, strings(r))));
      if (expectUserError(() => {
        const parsed = parseArgs(argv, RUN_FLAGS, 'run');
        const spec = composeSpec(requestFromFlags(parsed, { image: false }), host, { rootfs: rootfsFromFlags(parsed) });
        // As process.ts does: with --init the plan carries the init program (its bytes don't matter here).
        encodePlan(buildPlan(spec, fds, { initImage: spec.init ? Buffer.from('init program') : undefined }), 3);
      }, JSON.stringify(argv).slice(0, 300))) ok++;
    }
    expect(ok).toBeGreaterThan(10);
  });

  it('names the flag or the file that holds a NUL byte', () => {
    expect(() => parseArgs(['-w', '/a\0b', 'x'], RUN_FLAGS, 'run')).toThrow(/--workdir contains a NUL byte/);
    expect(() => parseArgs(['--rootfs', root, '--', 'sh', 'a\0'], RUN_FLAGS, 'run')).toThrow(/argument 2 contains a NUL byte/);
    const parsed = parseArgs(['--rootfs', root, '--env-file', envFileNul, 'true'], RUN_FLAGS, 'run');
    expect(() => requestFromFlags(parsed, { image: false })).toThrow(/env file .*env-nul, line 2: contains a NUL byte/);
    expect(() => composeSpec(defaultRequest([]), host, { rootfs: root, image: { name: 'x', config: { Cmd: ['sh'], Env: ['A=\0'] } } })).toThrow(
      /the environment contains a NUL byte/,
    );
  });

  it('refuses registry ports out of range, naming the reference', () => {
    expect(() => parseReference('127.0.0.1:99999/x')).toThrow(/"99999" is not a valid port/);
    expect(() => parseReference('localhost:0/x')).toThrow(/"0" is not a valid port/);
    expect(parseReference('localhost:65535/x').registry).toBe('localhost:65535');
  });
});
