import { describe, expect, it } from 'vitest';
import { pastaArgs, pastaPortArgs } from '../../src/sandbox/network/pasta';
import { slirpArgs } from '../../src/sandbox/network/slirp4netns';
import { networkMode } from '../../src/cli/run-request';
import { runDefaults } from '../../src/cli/run-defaults';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe('pasta arguments', () => {
  it("join the sandbox by pid, keep the host's loopback out, and give it slirp4netns's layout", () => {
    const args = pastaArgs(4242, [], '/run/x/pid');
    expect(args[args.length - 1]).toBe('4242');
    expect(args.join(' ')).toContain('-T none -U none -t none -u none');
    expect(args).toContain('--no-map-gw');
    expect(args.join(' ')).toContain('-a 10.0.2.100 -n 24 -g 10.0.2.2 --dns-forward 10.0.2.3');
    expect(args.join(' ')).toContain('-P /run/x/pid');
  });

  it('publish ports per protocol, with the host address when given', () => {
    expect(
      pastaPortArgs([
        { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: 8443, containerPort: 443, protocol: 'tcp' },
        { hostIp: '', hostPort: 5353, containerPort: 53, protocol: 'udp' },
      ]),
    ).toEqual(['-t', '8080:80,127.0.0.1/8443:443', '-u', '5353:53']);
  });
});

describe('slirp4netns arguments', () => {
  it('join the user namespace by path and the netns by pid, with ready and exit descriptors', () => {
    expect(slirpArgs(99)).toEqual(expect.arrayContaining(['--configure', '--disable-host-loopback', '--ready-fd=3', '--exit-fd=4', '--userns-path=/proc/99/ns/user']));
    expect(slirpArgs(99).slice(-2)).toEqual(['99', 'tap0']);
  });
});

describe('--network', () => {
  it('takes none (the default), host, pasta, private (= pasta), slirp4netns, container:NAME; --net too', () => {
    expect(networkMode({}, false, () => ({}))).toBe('none');
    for (const m of ['none', 'host', 'pasta', 'slirp4netns']) expect(networkMode({ network: m })).toBe(m);
    expect(networkMode({ network: 'private' })).toBe('pasta');
    expect(networkMode({ net: 'pasta' })).toBe('pasta');
    expect(networkMode({ network: 'container:web' })).toEqual({ container: 'web' });
    expect(() => networkMode({ network: 'bridge' })).toThrow(/network mode "bridge" is not supported/);
    expect(() => networkMode({ network: 'container:' })).toThrow(/not supported/);
  });
  it("-p or -P with no mode asked for (flag or nook.json) is 'auto': a private network where the host allows one", () => {
    expect(networkMode({}, true, () => ({}))).toBe('auto');
    expect(networkMode({ network: 'none' }, true, () => ({}))).toBe('none');
    expect(networkMode({}, true, () => ({ network: 'slirp4netns' }))).toBe('slirp4netns');
  });
});

describe("pasta's failures, in the user's terms", () => {
  it('a port it could not bind names the port and the fix; a tun it could not open names /dev/net/tun', async () => {
    const { pastaFailure } = await import('../../src/sandbox/network/pasta');
    const port = pastaFailure("Failed to bind any port for '-t 18999:80', exiting\n", 1);
    expect(port.exitCode).toBe(125);
    expect(port.message).toMatch(/^cannot publish tcp port 18999:80: the host port is in use/);
    expect(port.hint).toMatch(/another host port/);
    expect(pastaFailure('Failed to open tun socket in namespace\n', 1).message).toMatch(/^pasta cannot open \/dev\/net\/tun: it (is mode \d{4}|is missing)/);
    expect(pastaFailure('Failed to send 12 bytes to syslog\nsomething else\n', 1).message).toBe("pasta could not set up the container's network (exit 1): something else");
  });
});

describe('nook.json: a user default for --network', () => {
  it('is used without a flag; a flag wins; a missing file is no default; a bad one is named', () => {
    expect(networkMode({}, false, () => ({ network: 'pasta' }))).toBe('pasta');
    expect(networkMode({ network: 'none' }, false, () => ({ network: 'pasta' }))).toBe('none');
    expect(() => networkMode({}, false, () => ({ network: 'bridge' }))).toThrow(/"bridge" is not supported/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-defaults-'));
    try {
      const file = path.join(dir, 'nook.json');
      expect(runDefaults(file)).toEqual({});
      fs.writeFileSync(file, '{"network": "private"}');
      expect(runDefaults(file)).toEqual({ network: 'private' });
      fs.writeFileSync(file, '{"network": 1}');
      expect(() => runDefaults(file)).toThrow(/nook\.json: "network" is not a string/);
      fs.writeFileSync(file, '{');
      expect(() => runDefaults(file)).toThrow(/cannot read .*nook\.json/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
