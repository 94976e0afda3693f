import { describe, expect, it } from 'vitest';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { containerEnvFile, hostsFile, keepIdPasswd, resolvConf, writeHostFiles } from '../../src/container/host-files';
import type { NetworkRequest } from '../../src/container/request';
import { testHost } from '../helpers/host';

const net = (over: Partial<NetworkRequest> = {}): NetworkRequest => ({ mode: 'none', ports: [], publishAll: false, dns: [], dnsSearch: [], addHosts: [], ...over });
const files = (map: Record<string, string>) => (f: string) => map[f] ?? '';

describe("a container's resolv.conf", () => {
  const host = files({ '/etc/resolv.conf': 'nameserver 10.1.1.1\nnameserver 127.0.0.1\nsearch corp.example\noptions ndots:2\n' });

  it('is the host\'s with --network host, and without loopback servers in a network of its own', () => {
    expect(resolvConf(net({ mode: 'host' }), host)).toMatch(/^nameserver 10\.1\.1\.1\nnameserver 127\.0\.0\.1\nsearch corp\.example\noptions ndots:2\n$/m);
    const own = resolvConf(net(), host);
    expect(own).toContain('nameserver 10.1.1.1');
    expect(own).not.toContain('127.0.0.1');
  });

  it('follows systemd-resolved to its upstream servers when the host points at the 127.0.0.53 stub', () => {
    const stub = files({ '/etc/resolv.conf': 'nameserver 127.0.0.53\noptions edns0\n', '/run/systemd/resolve/resolv.conf': 'nameserver 192.0.2.7\n' });
    const text = resolvConf(net({ mode: 'host' }), stub);
    expect(text).toContain('nameserver 192.0.2.7');
    expect(text).not.toContain('127.0.0.53');
  });

  it('takes --dns and --dns-search instead of the host\'s', () => {
    const text = resolvConf(net({ mode: 'host', dns: ['9.9.9.9'], dnsSearch: ['a.example', 'b.example'] }), host);
    expect(text).toContain('nameserver 9.9.9.9\nsearch a.example b.example\n');
    expect(text).not.toContain('10.1.1.1');
  });
});

describe("a container's /etc/hosts", () => {
  it('has localhost, the hostname and --add-host lines; with --network host the host\'s entries first', () => {
    const own = hostsFile(net({ addHosts: [{ name: 'db', ip: '10.0.0.5' }] }), 'web', files({}));
    expect(own.split('\n')).toEqual(expect.arrayContaining(['127.0.0.1\tlocalhost', '127.0.1.1\tweb', '10.0.0.5\tdb']));
    const shared = hostsFile(net({ mode: 'host' }), 'web', files({ '/etc/hosts': '# comment\n192.0.2.1 gateway\n' }));
    expect(shared.split('\n').slice(1, 3)).toEqual(['192.0.2.1 gateway', '127.0.1.1\tweb']);
  });
  it("names its address with the container's name too (as podman), once when the two are alike", () => {
    expect(hostsFile(net({ mode: 'pasta' }), 'a1b2c3', files({}), () => '192.0.2.2', 'db').split('\n')).toContain('10.0.2.100\ta1b2c3 db');
    expect(hostsFile(net({}), 'db', files({}), () => undefined, 'db').split('\n')).toContain('127.0.1.1\tdb');
  });
});

describe('with a private network (pasta, slirp4netns)', () => {
  const host = files({ '/etc/resolv.conf': 'nameserver 10.1.1.1\nnameserver 127.0.0.53\n' });

  it("puts the helper's DNS forwarder first, then the host's non-loopback servers; --dns still replaces them", () => {
    for (const mode of ['pasta', 'slirp4netns'] as const) {
      const text = resolvConf(net({ mode }), host);
      expect(text).toMatch(/^# .*\nnameserver 10\.0\.2\.3\nnameserver 10\.1\.1\.1\n$/);
      expect(resolvConf(net({ mode, dns: ['9.9.9.9'] }), host)).not.toContain('10.0.2.3');
    }
  });

  it("names the container's own address with its hostname, and the host's address host.containers.internal, host.docker.internal and host-gateway", () => {
    const text = hostsFile(net({ mode: 'pasta', addHosts: [{ name: 'gw', ip: 'host-gateway' }] }), 'web', files({}), () => '192.0.2.2');
    expect(text.split('\n')).toEqual(expect.arrayContaining(['10.0.2.100\tweb', '192.0.2.2\thost.containers.internal host.docker.internal', '192.0.2.2\tgw']));
    expect(text).not.toContain('127.0.1.1');
  });

  it('refuses host-gateway where nothing reaches the host (--network none), naming the flag', () => {
    expect(() => hostsFile(net({ addHosts: [{ name: 'gw', ip: 'host-gateway' }] }), 'web', files({}), () => '192.0.2.2')).toThrow(/--add-host gw:host-gateway.*--network none/);
  });
});

describe('the hostname that goes into them', () => {
  it('is refused with a newline, a blank or a control character, naming it', async () => {
    const { composeSpec } = await import('../../src/container/compose');
    const { defaultRequest } = await import('../../src/container/request');
    const host = testHost();
    for (const bad of ['web\n10.0.0.1 bank', 'a b', 'x\ty', 'z\x7f']) {
      const req = { ...defaultRequest(['true']), hostname: bad };
      expect(() => composeSpec(req, host, { rootfs: '/nonexistent' })).toThrow(/invalid hostname/);
    }
  });
});

describe('/run/.containerenv', () => {
  it("is podman's key=\"value\" lines: engine, name, id, image, imageid, rootless", () => {
    const text = containerEnvFile({ name: 'web', id: 'ab'.repeat(32), image: 'base:1', imageId: 'cd'.repeat(32) }, true);
    const lines = text.trimEnd().split('\n');
    expect(lines.map((l) => l.split('=')[0])).toEqual(['engine', 'name', 'id', 'image', 'imageid', 'rootless']);
    expect(lines[0]).toMatch(/^engine="nook-[^"]+"$/);
    expect(lines.slice(1)).toEqual(['name="web"', `id="${'ab'.repeat(32)}"`, 'image="base:1"', `imageid="${'cd'.repeat(32)}"`, 'rootless=1']);
    expect(containerEnvFile({ name: 'a"b', id: 'x', image: 'i', imageId: '' }, false)).toContain('name="a\\"b"\n');
    expect(containerEnvFile({ name: '', id: 'x', image: 'i', imageId: '' }, false)).toMatch(/rootless=0\n$/);
  });

  it('is mounted read-only with an empty /.dockerenv for a container, and not for a build step', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-hostfiles-'));
    try {
      const plain = writeHostFiles(dir, net(), 'h');
      expect(plain.map((b) => b.target)).toEqual(['/etc/resolv.conf', '/etc/hosts', '/etc/hostname']);
      const mounts = writeHostFiles(dir, net(), 'h', 'web', { name: 'web', id: 'x', image: 'base:1', imageId: 'y' });
      const env = mounts.find((b) => b.target === '/run/.containerenv')!;
      const docker = mounts.find((b) => b.target === '/.dockerenv')!;
      expect([env.readOnly, env.optional, docker.readOnly, docker.optional]).toEqual([true, true, true, true]);
      expect(fs.readFileSync(env.source, 'utf8')).toContain('name="web"\nid="x"\n');
      expect(fs.readFileSync(docker.source, 'utf8')).toBe('');
      expect(path.dirname(env.source)).toBe(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--userns keep-id: /etc/passwd', () => {
  const me = { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice' };
  const withTmp = (fn: (dir: string) => void) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-passwd-'));
    try {
      fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  it("is the image's with the user's line added, bound over /etc/passwd", () =>
    withTmp((dir) => {
      const bind = keepIdPasswd(dir, 'root:x:0:0:root:/root:/bin/sh', me);
      expect(bind).toEqual({ source: path.join(dir, 'passwd'), target: '/etc/passwd', readOnly: false, optional: true });
      expect(fs.readFileSync(bind!.source, 'utf8')).toBe('root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n');
    }));

  it('adds nothing when the image names the uid already, or for a name or home a passwd line cannot hold', () =>
    withTmp((dir) => {
      expect(keepIdPasswd(dir, 'root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n', me)).toBeUndefined();
      expect(keepIdPasswd(dir, '', { ...me, name: 'ev:il' })).toBeUndefined();
      expect(keepIdPasswd(dir, '', { ...me, name: 'evil\nroot' })).toBeUndefined();
      expect(keepIdPasswd(dir, '', { ...me, home: '/x:0:0' })).toBeUndefined();
      expect(fs.existsSync(path.join(dir, 'passwd'))).toBe(false);
    }));
});
