/**
 * A published port a private network's helper (pasta, slirp4netns) could not
 * bind on the host, in the user's terms: in use, or privileged. Neither helper
 * says which, so the message names both (ports.ts has already refused ports
 * below the sysctl's start, so "in use" is the usual cause).
 */
import fs = require('node:fs');
import { NookError } from '../../errors';

/** `spec`: the port as the helper names it, e.g. "8080:80" or "127.0.0.1/8080:80". */
export function portInUseError(spec: string, proto: 'tcp' | 'udp', read = (f: string) => fs.readFileSync(f, 'utf8')): NookError {
  let start = '';
  try {
    start = read('/proc/sys/net/ipv4/ip_unprivileged_port_start').trim();
  } catch {
    /* not on this kernel */
  }
  return new NookError(`cannot publish ${proto} port ${spec}: the host port is in use${start ? `, or below net.ipv4.ip_unprivileged_port_start (${start})` : ''}`, {
    hint: 'choose another host port with -p HOSTPORT:CONTAINERPORT, or stop what listens there',
  });
}
