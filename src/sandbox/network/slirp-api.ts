/**
 * slirp4netns's API socket (--api-socket), as podman uses it to publish
 * ports: one JSON request per connection, the request's end marked by
 * shutdown(SHUT_WR) (slirp4netns reads it with a single read(2), so it must
 * be under 4096 bytes), one JSON reply ({"return": ...} or {"error":
 * {"desc": ...}}) and then EOF. add_hostfwd is IPv4 only; without a
 * guest_addr it forwards to the address --configure gave the container.
 */
import net = require('node:net');
import { NookError } from '../../errors';
import type { PublishedPort } from '../spec';
import { portInUseError } from './port-error';

/** How long one request may take: slirp4netns answers at once once ready; a hang is a failure, not a wait. */
const REPLY_TIMEOUT_MS = 10_000;

/** The add_hostfwd request that publishes `p` (a hostIp of '' is every IPv4 address). */
export function addHostfwdRequest(p: PublishedPort): string {
  return JSON.stringify({
    execute: 'add_hostfwd',
    arguments: { proto: p.protocol, host_addr: p.hostIp || '0.0.0.0', host_port: p.hostPort, guest_port: p.containerPort },
  });
}

/** A reply: its "return" value, or the error's description (a reply nook cannot read is an error too). */
export function parseReply(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: text.trim() ? `unreadable reply ${JSON.stringify(text.slice(0, 200))}` : 'no reply' };
  }
  if (v && typeof v === 'object') {
    const o = v as { return?: unknown; error?: { desc?: unknown } };
    if ('error' in o) return { ok: false, error: typeof o.error?.desc === 'string' ? o.error.desc : JSON.stringify(o.error) };
    if ('return' in o) return { ok: true, value: o.return };
  }
  return { ok: false, error: `unexpected reply ${JSON.stringify(text.slice(0, 200))}` };
}

/** "127.0.0.1:8080:80", as -p spells it (the host address only when one was given). */
export const portSpec = (p: PublishedPort): string => `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}:${p.containerPort}`;

/** A port slirp4netns cannot publish: add_hostfwd takes IPv4 host addresses only. */
export function unsupportedPort(ports: readonly PublishedPort[]): NookError | undefined {
  const v6 = ports.find((p) => p.hostIp.includes(':'));
  if (!v6) return undefined;
  return new NookError(`--network slirp4netns publishes ports on IPv4 host addresses only, not [${v6.hostIp}]:${v6.hostPort}`, {
    hint: 'publish on an IPv4 address (or none: every address), or use --network pasta',
  });
}

/** Sends one request on a fresh connection; resolves with the whole reply. */
export function apiCall(socketPath: string, request: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ path: socketPath });
    const timer = setTimeout(() => sock.destroy(new Error(`no reply from slirp4netns's API within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.end(request));
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/**
 * Publishes every port through the API at `socketPath`, in order; the first
 * that fails throws, naming the port (slirp4netns only says
 * "slirp_add_hostfwd failed" when the bind fails: in use, or privileged).
 */
export async function addHostForwards(socketPath: string, ports: readonly PublishedPort[]): Promise<void> {
  for (const p of ports) {
    let reply: string;
    try {
      reply = await apiCall(socketPath, addHostfwdRequest(p));
    } catch (e) {
      throw new NookError(`cannot publish ${p.protocol} port ${portSpec(p)}: slirp4netns's API socket: ${(e as Error).message}`, {
        hint: 'use --network pasta for -p',
        cause: e,
      });
    }
    const r = parseReply(reply);
    if (r.ok) continue;
    if (/slirp_add_hostfwd failed/.test(r.error)) throw portInUseError(portSpec(p), p.protocol);
    throw new NookError(`cannot publish ${p.protocol} port ${portSpec(p)}: slirp4netns says: ${r.error}`, { hint: 'use --network pasta for -p' });
  }
}
