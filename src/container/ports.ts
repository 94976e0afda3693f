/**
 * Published ports as the host allows them: -P's image EXPOSE ports added
 * (each on a free host port), then every host port checked against what an
 * unprivileged user may bind (net.ipv4.ip_unprivileged_port_start), so the
 * error names the port and the fix before anything starts. Binding itself
 * (and "in use") happens where the ports are served: the supervisor.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import type { ContainerConfig } from '../image/config';
import type { PublishedPort } from '../sandbox/spec';
import type { NetworkRequest } from './request';

/** The lowest port an unprivileged process may bind (1024 when the sysctl cannot be read). */
export function unprivilegedPortStart(read = (f: string) => fs.readFileSync(f, 'utf8')): number {
  try {
    const n = Number(read('/proc/sys/net/ipv4/ip_unprivileged_port_start').trim());
    return Number.isInteger(n) && n >= 0 ? n : 1024;
  } catch {
    return 1024;
  }
}

/** "80/tcp", "53/udp", "8000-8002/tcp" (docker's ExposedPorts keys) → container ports. */
export function exposedPorts(config: ContainerConfig | undefined): { port: number; protocol: 'tcp' | 'udp' }[] {
  const out: { port: number; protocol: 'tcp' | 'udp' }[] = [];
  for (const key of Object.keys(config?.ExposedPorts ?? {})) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(key);
    if (!m) continue; // sctp, or a key nook cannot publish: docker skips what it cannot map too
    const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
    for (let p = lo; p <= hi && p <= 65535; p++) if (p > 0) out.push({ port: p, protocol: (m[3] ?? 'tcp') as 'tcp' | 'udp' });
  }
  return out;
}

/**
 * The ports to publish for this request and image, checked. `portStart`:
 * the lowest port this user may bind (unprivilegedPortStart()).
 */
export function publishedPorts(net: NetworkRequest, image: ContainerConfig | undefined, portStart: number): PublishedPort[] {
  const ports: PublishedPort[] = net.ports.map((p) => ({ ...p }));
  if (net.publishAll)
    for (const e of exposedPorts(image))
      if (!ports.some((p) => p.containerPort === e.port && p.protocol === e.protocol))
        ports.push({ hostIp: '', hostPort: 0, containerPort: e.port, protocol: e.protocol });
  const seen = new Set<string>();
  for (const p of ports) {
    if (p.hostPort !== 0 && p.hostPort < portStart)
      throw new NookError(`host port ${p.hostPort} is below ${portStart}, the lowest port an unprivileged user may bind here`, {
        hint: `publish on a higher host port (e.g. -p ${p.hostPort + 8000 <= 65535 ? p.hostPort + 8000 : 8080}:${p.containerPort}), or ask the admin to lower it: sysctl net.ipv4.ip_unprivileged_port_start=${p.hostPort}`,
      });
    const key = `${p.hostIp}:${p.hostPort}/${p.protocol}`;
    if (p.hostPort !== 0 && seen.has(key))
      throw new NookError(`host port ${p.hostPort}/${p.protocol} is published twice`, { hint: 'give each -p a host port of its own' });
    seen.add(key);
  }
  return ports;
}
