import { describe, expect, it } from 'vitest';
import { parsePortSpec } from '../../src/cli/port-flags';
import { portMap, portsColumn } from '../../src/cli/port';
import { exposedPorts, publishedPorts, unprivilegedPortStart } from '../../src/container/ports';
import type { NetworkRequest } from '../../src/container/request';

const tcp = (hostIp: string, hostPort: number, containerPort: number) => ({ hostIp, hostPort, containerPort, protocol: 'tcp' as const });
const net = (over: Partial<NetworkRequest> = {}): NetworkRequest => ({ mode: 'none', ports: [], publishAll: false, dns: [], dnsSearch: [], addHosts: [], ...over });

describe('-p specs, as docker reads them', () => {
  it.each([
    ['80', [tcp('', 0, 80)]],
    ['8080:80', [tcp('', 8080, 80)]],
    ['127.0.0.1:8080:80', [tcp('127.0.0.1', 8080, 80)]],
    ['127.0.0.1::80', [tcp('127.0.0.1', 0, 80)]],
    ['[::1]:8080:80', [tcp('::1', 8080, 80)]],
    ['[::1]::80', [tcp('::1', 0, 80)]],
    ['8000-8001:80-81', [tcp('', 8000, 80), tcp('', 8001, 81)]],
    ['80-81', [tcp('', 0, 80), tcp('', 0, 81)]],
    ['8080:80/tcp', [tcp('', 8080, 80)]],
  ])('%s', (spec, want) => {
    expect(parsePortSpec(spec)).toEqual(want);
  });

  it('reads /udp', () => {
    expect(parsePortSpec('5353:53/udp')).toEqual([{ hostIp: '', hostPort: 5353, containerPort: 53, protocol: 'udp' }]);
  });

  it.each([
    ['', 'invalid container port'],
    ['0', 'invalid container port'],
    ['65536', 'invalid container port'],
    ['8o:80', 'invalid host port "8o"'],
    ['80:', 'invalid container port ""'],
    ['1:2:3:4', 'invalid -p 1:2:3:4'],
    ['300.1.1.1:80:80', 'invalid host address "300.1.1.1"'],
    ['::1:80:80', 'invalid'],
    ['8000-8002:80', 'differ in length'],
    ['90-80', 'invalid container port'],
    ['80/sctp', 'invalid protocol "sctp"'],
  ])('refuses %j', (spec, says) => {
    expect(() => parsePortSpec(spec)).toThrow(says);
  });
});

describe('published ports on this host', () => {
  it('adds the image\'s EXPOSE ports with -P, each on a free host port, after those -p names', () => {
    const image = { ExposedPorts: { '80/tcp': {}, '53/udp': {}, '9000-9001': {}, '1/sctp': {} } };
    expect(exposedPorts(image)).toEqual([
      { port: 80, protocol: 'tcp' }, { port: 53, protocol: 'udp' }, { port: 9000, protocol: 'tcp' }, { port: 9001, protocol: 'tcp' },
    ]);
    const ports = publishedPorts(net({ ports: [tcp('', 8080, 80)], publishAll: true }), image, 1024);
    expect(ports).toEqual([tcp('', 8080, 80), { hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' }, tcp('', 0, 9000), tcp('', 0, 9001)]);
    expect(publishedPorts(net({ publishAll: false }), image, 1024)).toEqual([]);
  });

  it('refuses a host port below ip_unprivileged_port_start, naming it and the fix; a free port (0) is fine', () => {
    expect(() => publishedPorts(net({ ports: [tcp('', 80, 80)] }), undefined, 1024)).toThrow(/host port 80 is below 1024/);
    expect(publishedPorts(net({ ports: [tcp('', 80, 80)] }), undefined, 0)).toEqual([tcp('', 80, 80)]);
    expect(publishedPorts(net({ ports: [tcp('', 0, 80)] }), undefined, 1024)).toEqual([tcp('', 0, 80)]);
    try {
      publishedPorts(net({ ports: [tcp('', 443, 443)] }), undefined, 1024);
    } catch (e) {
      expect((e as { hint: string }).hint).toContain('sysctl net.ipv4.ip_unprivileged_port_start=443');
    }
  });

  it('refuses the same host port twice', () => {
    expect(() => publishedPorts(net({ ports: [tcp('', 8080, 80), tcp('', 8080, 81)] }), undefined, 1024)).toThrow('published twice');
  });

  it('reads the sysctl, and assumes 1024 when it cannot', () => {
    expect(unprivilegedPortStart(() => '80\n')).toBe(80);
    expect(unprivilegedPortStart(() => { throw new Error('ENOENT'); })).toBe(1024);
  });
});

describe('ports as ps and inspect show them', () => {
  const ports = [tcp('', 8080, 80), tcp('127.0.0.1', 0, 81)];
  it('ps: 0.0.0.0:8080->80/tcp, ...', () => {
    expect(portsColumn([tcp('', 8080, 80), tcp('127.0.0.1', 9000, 81), tcp('::1', 9001, 82)])).toBe('0.0.0.0:8080->80/tcp, 127.0.0.1:9000->81/tcp, [::1]:9001->82/tcp');
    expect(portsColumn(undefined)).toBe('');
  });
  it('inspect: PortBindings as asked, NetworkSettings.Ports as bound', () => {
    expect(portMap(ports, true)).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '8080' }], '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    expect(portMap([tcp('', 8080, 80), tcp('', 8081, 80)], false)).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }, { HostIp: '0.0.0.0', HostPort: '8081' }] });
  });
});

describe("the proxy's arguments and report", () => {
  it('passes the ports as PROTO,HOSTIP,HOSTPORT,CPORT;...', async () => {
    const { portsArgument } = await import('../../src/sandbox/port-proxy');
    expect(portsArgument(undefined)).toBe('-');
    expect(portsArgument([tcp('', 8080, 80), tcp('127.0.0.1', 0, 81), tcp('::1', 9000, 82)])).toBe('tcp,,8080,80;tcp,127.0.0.1,0,81;tcp,::1,9000,82');
    expect(portsArgument([{ hostIp: '', hostPort: 5353, containerPort: 53, protocol: 'udp' }])).toBe('udp,,5353,53');
  });

  it('reads the bound ports, and a port that could not be bound as the error that names it', async () => {
    const { boundPorts } = await import('../../src/sandbox/port-proxy');
    const asked = [tcp('', 8080, 80), tcp('', 0, 81)];
    expect(boundPorts(asked, ['port 0 8080', 'port 1 40001'])).toEqual([tcp('', 8080, 80), tcp('', 40001, 81)]);
    expect(asked[1].hostPort).toBe(0); // the request is not changed
    expect(() => boundPorts(asked, ['portfail 0 98'])).toThrow('host port 8080 is already in use');
    expect(() => boundPorts([tcp('10.9.9.9', 8080, 80)], ['portfail 0 99'])).toThrow('cannot listen on 10.9.9.9:8080: no such address');
  });
});
