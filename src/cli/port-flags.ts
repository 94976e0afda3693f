/**
 * docker's -p syntax → PortMappings:
 *   CPORT                 a free host port (CPORT may be a range)
 *   HPORT:CPORT           HPORT and CPORT may be ranges of the same length
 *   IP:HPORT:CPORT        listen on IP only ([v6]:HPORT:CPORT for IPv6)
 *   IP::CPORT             a free host port on IP
 * each with an optional /tcp or /udp (tcp by default).
 */
import { UsageError } from '../errors';
import type { PortMapping } from '../container/request';

const HINT = 'use -p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp], e.g. -p 8080:80, -p 127.0.0.1:8080:80/tcp or -p 80 (a free host port)';

function range(s: string, v: string, what: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw new UsageError(`invalid ${what} "${s}" in -p ${v}: a port is a number from 1 to 65535 (or a range LOW-HIGH)`, HINT);
  return [lo, hi];
}

export function parsePortSpec(v: string): PortMapping[] {
  let rest = v;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp') throw new UsageError(`invalid protocol "${p}" in -p ${v}`, 'the protocol is tcp or udp');
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']:');
    if (end < 0) throw new UsageError(`invalid -p ${v}`, HINT);
    hostIp = rest.slice(1, end);
    rest = rest.slice(end + 2);
    if (!/^[0-9a-fA-F:.]+$/.test(hostIp)) throw new UsageError(`invalid host address "${hostIp}" in -p ${v}`, HINT);
    if (!rest.includes(':')) rest = `:${rest}`; // [v6]:CPORT is not a form; [v6]::CPORT and [v6]:H:C are
  }
  const parts = rest.split(':');
  if (parts.length > 3 || (hostIp && parts.length !== 2)) throw new UsageError(`invalid -p ${v}`, HINT);
  if (parts.length === 3) {
    hostIp = parts[0];
    if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(hostIp) || hostIp.split('.').some((o) => Number(o) > 255))
      throw new UsageError(`invalid host address "${hostIp}" in -p ${v}`, `${HINT}; an IPv6 address goes in brackets: [::1]:8080:80`);
  }
  const cpart = parts[parts.length - 1];
  const hpart = parts.length >= 2 ? parts[parts.length - 2] : '';
  const [clo, chi] = range(cpart, v, 'container port');
  const count = chi - clo + 1;
  let host = (i: number) => (void i, 0);
  if (hpart) {
    const [hlo, hhi] = range(hpart, v, 'host port');
    if (hhi - hlo + 1 !== count)
      throw new UsageError(`the host and container port ranges of -p ${v} differ in length`, 'give ranges of the same length, e.g. -p 8000-8002:80-82');
    host = (i) => hlo + i;
  }
  return Array.from({ length: count }, (_, i) => ({ hostIp, hostPort: host(i), containerPort: clo + i, protocol }));
}
