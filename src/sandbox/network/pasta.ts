/**
 * A private network for a sandbox through passt's `pasta`, as podman's
 * containers/common libnetwork/pasta runs it: pasta joins the waiting
 * child's user and network namespaces (by its PID: joining only the netns
 * fails with EPERM), creates a tap device there, configures it
 * (--config-net) and then translates the container's packets to ordinary
 * sockets of the host. Nothing of the host's loopback is reachable
 * (-T none -U none, --no-map-gw); only the ports asked for are published
 * (-t/-u).
 *
 * The container gets slirp4netns's layout (layout.ts): 10.0.2.100/24,
 * gateway 10.0.2.2, DNS forwarder 10.0.2.3.
 *
 * Lifetime: Debian 12's pasta quits only when a bind-mounted netns file is
 * deleted, so nook stops it itself. pasta daemonizes once its set-up is
 * done (so its exit says the network is ready), and reports its pid through
 * -P. It runs under a watchdog on the container's lifeline (lifeline.ts),
 * which kills the daemon should its owner die before it can (SIGKILL, during
 * the set-up too): no pasta outlives its container.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { NookError } from '../../errors';
import { findExecutable } from '../../util/which';
import type { PublishedPort } from '../spec';
import type { Lifeline } from './lifeline';
import { tunError } from './available';
import { PRIVATE_NET } from './layout';
import { portInUseError } from './port-error';

export interface NetworkHelper {
  /** Stops the helper (and its watchdog). Safe to call more than once. */
  stop(): void;
}

/** pasta's -t/-u specs: [ADDR/]HOSTPORT:CONTAINERPORT, comma-separated, or none. */
export function pastaPortArgs(ports: readonly PublishedPort[]): string[] {
  const spec = (proto: 'tcp' | 'udp') => {
    const list = ports.filter((p) => p.protocol === proto).map((p) => `${p.hostIp ? `${p.hostIp}/` : ''}${p.hostPort}:${p.containerPort}`);
    return list.length ? list.join(',') : 'none';
  };
  return ['-t', spec('tcp'), '-u', spec('udp')];
}

/** The whole argument list for a sandbox whose host pid is `pid`. */
export function pastaArgs(pid: number, ports: readonly PublishedPort[], pidFile: string): string[] {
  return [
    '--config-net',
    '--quiet',
    '--no-map-gw',
    // Nothing of the host's loopback reaches the container.
    '-T', 'none', '-U', 'none',
    ...pastaPortArgs(ports),
    '--ipv4-only',
    '-a', PRIVATE_NET.address, '-n', String(PRIVATE_NET.prefix), '-g', PRIVATE_NET.gateway,
    '--dns-forward', PRIVATE_NET.dns,
    '-P', pidFile,
    String(pid),
  ];
}

/** Why pasta failed, in the user's terms: most often /dev/net/tun that only root may open. */
export function pastaFailure(stderr: string, code: number | null): NookError {
  const text = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Failed to send')).join('; ');
  if (/tun/i.test(text)) return tunError('pasta');
  const bind = /Failed to bind any port for '-([tu]) ([^']+)'/.exec(text);
  if (bind) return portInUseError(bind[2], bind[1] === 't' ? 'tcp' : 'udp');
  return new NookError(`pasta could not set up the container's network${code !== null ? ` (exit ${code})` : ''}${text ? `: ${text}` : ''}`, {
    hint: 'run with --network host, or --network none for no network',
  });
}

/** Starts pasta for the waiting sandbox `pid` and resolves once its network is configured. */
export async function startPasta(pid: number, ports: readonly PublishedPort[], lifeline: Lifeline): Promise<NetworkHelper> {
  const pasta = findExecutable('pasta');
  if (!pasta)
    throw new NookError('--network pasta needs the pasta program, which is not installed', {
      hint: 'install passt (apt-get install passt, dnf install passt), or use --network host',
    });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-pasta-'));
  const pidFile = path.join(dir, 'pid');
  try {
    const r = await lifeline.runWatched([pasta, ...pastaArgs(pid, ports, pidFile)], pidFile);
    if (!r.pid) throw pastaFailure(r.stderr, r.code ?? null);
    return lifeline;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
