/**
 * Host ports for `-p CPORT` (hostPort 0) in the private modes: pasta and
 * slirp4netns take only a port number, so nook asks the kernel for a free
 * one first, as podman does. All are held until every one is chosen (no
 * two alike), then released for the helper to bind a moment later; a port
 * taken in between fails the helper's bind, which is reported as "in use".
 */
import dgram = require('node:dgram');
import net = require('node:net');
import type { PublishedPort } from '../spec';

type Held = { port: number; close(): Promise<void> };

function holdTcp(host: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port: 0, host: host || '0.0.0.0', exclusive: true }, () =>
      resolve({ port: (s.address() as net.AddressInfo).port, close: () => new Promise((r) => s.close(() => r())) }),
    );
  });
}

function holdUdp(host: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind({ port: 0, address: host || '0.0.0.0', exclusive: true }, () =>
      resolve({ port: s.address().port, close: () => new Promise((r) => s.close(() => r())) }),
    );
  });
}

/** A copy of `ports` with every hostPort 0 replaced by a port that was free just now. */
export async function withFreeHostPorts(ports: readonly PublishedPort[]): Promise<PublishedPort[]> {
  const held: Held[] = [];
  try {
    const out: PublishedPort[] = [];
    for (const p of ports) {
      if (p.hostPort !== 0) {
        out.push({ ...p });
        continue;
      }
      const h = await (p.protocol === 'udp' ? holdUdp : holdTcp)(p.hostIp);
      held.push(h);
      out.push({ ...p, hostPort: h.port });
    }
    return out;
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
}
