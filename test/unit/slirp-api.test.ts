/**
 * slirp4netns's API socket as nook speaks it: the add_hostfwd requests,
 * the replies read, and the errors named, against a stand-in server that
 * answers as slirp4netns 1.2 does (one read, one reply, EOF).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addHostForwards, addHostfwdRequest, apiCall, parseReply, unsupportedPort } from '../../src/sandbox/network/slirp-api';
import { portInUseError } from '../../src/sandbox/network/port-error';
import { slirpArgs } from '../../src/sandbox/network/slirp4netns';
import type { PublishedPort } from '../../src/sandbox/spec';

const tcp = (hostPort: number, containerPort: number, hostIp = ''): PublishedPort => ({ hostIp, hostPort, containerPort, protocol: 'tcp' });

describe('add_hostfwd requests', () => {
  it('one per port: proto, the host address (0.0.0.0 for every address), host and guest ports; no guest_addr (--configure\'s)', () => {
    expect(JSON.parse(addHostfwdRequest(tcp(8080, 80)))).toEqual({
      execute: 'add_hostfwd',
      arguments: { proto: 'tcp', host_addr: '0.0.0.0', host_port: 8080, guest_port: 80 },
    });
    expect(JSON.parse(addHostfwdRequest({ hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' }))).toEqual({
      execute: 'add_hostfwd',
      arguments: { proto: 'udp', host_addr: '127.0.0.1', host_port: 5353, guest_port: 53 },
    });
  });

  it('IPv6 host addresses are refused before anything starts, naming the port and pasta', () => {
    expect(unsupportedPort([tcp(8080, 80), tcp(8081, 81, '127.0.0.1')])).toBeUndefined();
    const e = unsupportedPort([tcp(8080, 80), tcp(8443, 443, '::1')])!;
    expect(e.exitCode).toBe(125);
    expect(e.message).toContain('[::1]:8443');
    expect(e.hint).toContain('--network pasta');
  });

  it('--api-socket only when there are ports to publish', () => {
    expect(slirpArgs(7).some((a) => a.startsWith('--api-socket'))).toBe(false);
    expect(slirpArgs(7, '/tmp/d/api.sock')).toContain('--api-socket=/tmp/d/api.sock');
    expect(slirpArgs(7, '/tmp/d/api.sock').slice(-2)).toEqual(['7', 'tap0']);
  });
});

describe('replies', () => {
  it('"return" is success; "error" gives its description; anything else is an error too', () => {
    expect(parseReply('{"return": {"id": 42}}')).toEqual({ ok: true, value: { id: 42 } });
    expect(parseReply('{"return":{}}')).toEqual({ ok: true, value: {} });
    expect(parseReply('{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed"}}')).toEqual({ ok: false, error: 'bad request: add_hostfwd: slirp_add_hostfwd failed' });
    expect(parseReply('')).toEqual({ ok: false, error: 'no reply' });
    expect(parseReply('{"ret')).toMatchObject({ ok: false, error: expect.stringContaining('unreadable reply') });
    expect(parseReply('[1]')).toMatchObject({ ok: false, error: expect.stringContaining('unexpected reply') });
  });
});

describe('over a socket, as slirp4netns answers', () => {
  let dir: string | undefined;
  let server: net.Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    server = dir = undefined;
  });

  /** A stand-in API: reads a request to EOF (as the client's SHUT_WR marks it), answers with `answer(request)`, closes. */
  async function fakeApi(answer: (req: { arguments: { host_port: number } }) => string): Promise<{ socket: string; got: string[] }> {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-slirp-unit-'));
    const socket = path.join(dir, 'api.sock');
    const got: string[] = [];
    server = net.createServer({ allowHalfOpen: true }, (c) => {
      const chunks: Buffer[] = [];
      c.on('data', (b: Buffer) => chunks.push(b));
      c.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        got.push(text);
        c.end(answer(JSON.parse(text)));
      });
    });
    await new Promise<void>((r) => server!.listen(socket, r));
    return { socket, got };
  }

  it('sends one request per connection, ending it with a half-close, and reads the reply to EOF', async () => {
    const { socket, got } = await fakeApi(() => '{"return": {"id": 1}}');
    expect(await apiCall(socket, '{"execute":"list_hostfwd"}')).toBe('{"return": {"id": 1}}');
    expect(got).toEqual(['{"execute":"list_hostfwd"}']);
  });

  it('adds every port in order; a bind failure names that port and the fix', async () => {
    const { socket, got } = await fakeApi((req) =>
      req.arguments.host_port === 8082 ? '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed"}}' : '{"return":{"id":1}}',
    );
    await addHostForwards(socket, [tcp(8080, 80), tcp(8081, 81)]);
    expect(got.map((g) => JSON.parse(g).arguments.host_port)).toEqual([8080, 8081]);
    const e = await addHostForwards(socket, [tcp(8083, 83), tcp(8082, 80, '127.0.0.1'), tcp(8084, 84)]).catch((x: unknown) => x);
    expect(e).toMatchObject({ exitCode: 125, message: expect.stringMatching(/^cannot publish tcp port 127\.0\.0\.1:8082:80: the host port is in use/) });
    expect((e as { hint: string }).hint).toMatch(/another host port/);
    // Nothing after the failed one was asked for.
    expect(got.map((g) => JSON.parse(g).arguments.host_port)).toEqual([8080, 8081, 8083, 8082]);
  });

  it('another error is quoted; no API at the path is named as such', async () => {
    const { socket } = await fakeApi(() => '{"error":{"desc":"bad request: add_hostfwd: bad arguments.host_port"}}');
    await expect(addHostForwards(socket, [tcp(8080, 80)])).rejects.toThrow(/cannot publish tcp port 8080:80: slirp4netns says: bad request: add_hostfwd: bad arguments\.host_port/);
    await expect(addHostForwards(path.join(dir!, 'absent.sock'), [tcp(8080, 80)])).rejects.toThrow(/slirp4netns's API socket: .*ENOENT/);
  });
});

describe('a port a helper could not bind', () => {
  it('says in use, and the sysctl\'s start when the kernel has it', () => {
    expect(portInUseError('8080:80', 'udp', () => '1024\n').message).toBe('cannot publish udp port 8080:80: the host port is in use, or below net.ipv4.ip_unprivileged_port_start (1024)');
    expect(portInUseError('8080:80', 'tcp', () => { throw new Error('ENOENT'); }).message).toBe('cannot publish tcp port 8080:80: the host port is in use');
  });
});
