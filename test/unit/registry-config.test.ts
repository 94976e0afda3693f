import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isInsecureRegistry, normalizeRegistry, registryHost } from '../../src/image/registry/config';
import { RegistryError } from '../../src/image/registry/errors';
import { parseRetryAfter, retryDelay, withRetry } from '../../src/image/registry/retry';

describe('registry names', () => {
  it('normalises what people type and what docker stores', () => {
    expect(normalizeRegistry('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeRegistry('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeRegistry('HTTPS://Ghcr.IO/')).toBe('ghcr.io');
    expect(normalizeRegistry('http://localhost:5000/v2/')).toBe('localhost:5000');
    expect(() => normalizeRegistry('https://')).toThrow(/invalid registry/);
  });

  it('connects to Docker Hub at registry-1.docker.io', () => {
    expect(registryHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryHost('localhost:5000')).toBe('localhost:5000');
  });
});

describe('registries.json', () => {
  let dir: string;
  const saved = process.env.XDG_CONFIG_HOME;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-regconf-'));
    process.env.XDG_CONFIG_HOME = dir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes nothing insecure when absent, not even localhost', () => {
    expect(isInsecureRegistry('localhost:5000')).toBe(false);
    expect(isInsecureRegistry('127.0.0.1:5000')).toBe(false);
  });

  it('lists insecure registries by exact name and port', () => {
    fs.mkdirSync(path.join(dir, 'nook'));
    fs.writeFileSync(path.join(dir, 'nook', 'registries.json'), JSON.stringify({ insecure: ['localhost:5000', 'http://MyReg.lan/'] }));
    expect(isInsecureRegistry('localhost:5000')).toBe(true);
    expect(isInsecureRegistry('localhost:5001')).toBe(false);
    expect(isInsecureRegistry('myreg.lan')).toBe(true);
  });
});

describe('retries', () => {
  it('reads Retry-After as seconds or as a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Thu, 01 Jan 2025 00:00:10 GMT', now)).toBe(0);
  });

  it('backs off exponentially, unless the registry said how long', () => {
    const d = [2, 3, 4].map((n) => retryDelay(n, new Error('x'), 100));
    expect(d[0]).toBeGreaterThanOrEqual(75);
    expect(d[0]).toBeLessThanOrEqual(125);
    expect(d[2]).toBeGreaterThanOrEqual(300);
    expect(d[2]).toBeLessThanOrEqual(500);
    expect(retryDelay(2, new RegistryError('429', { retryable: true, retryAfterMs: 1234 }), 100)).toBe(1234);
  });

  it('retries only retryable errors, a limited number of times', async () => {
    process.env.NOOK_RETRY_BASE_MS = '1';
    let calls = 0;
    await expect(
      withRetry('x', async () => {
        calls++;
        throw new RegistryError('503', { retryable: true });
      }),
    ).rejects.toThrow('503 (gave up after 5 attempts)');
    expect(calls).toBe(5);
    calls = 0;
    await expect(
      withRetry('x', async () => {
        calls++;
        throw new RegistryError('404');
      }),
    ).rejects.toThrow(/^404$/);
    expect(calls).toBe(1);
    delete process.env.NOOK_RETRY_BASE_MS;
  });
});
