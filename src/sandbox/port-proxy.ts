/**
 * nook's built-in port proxy (ffi/port-proxy.c), for a container in a
 * loopback-only network namespace: what the supervisor is told, what its
 * failures mean, and for a foreground container the proxy as a process of
 * its own (`nook-supervisor --proxy PORTS`), since a Node process cannot
 * join the container's namespaces (setns into a user namespace needs a
 * single-threaded caller). A detached container's supervisor runs the same
 * proxy itself (src/container/supervisor.ts).
 */
import { spawn } from 'node:child_process';
import { supervisorPath } from '../../ffi/native';
import { describeErrno, NookError } from '../errors';
import type { PublishedPort } from './spec';

/** The proxy's PORTS argument: "PROTO,HOSTIP,HOSTPORT,CPORT;..." or "-" (ffi/port-proxy.h). */
export function portsArgument(ports: readonly PublishedPort[] | undefined): string {
  if (!ports?.length) return '-';
  return ports.map((p) => `${p.protocol},${p.hostIp},${p.hostPort},${p.containerPort}`).join(';');
}

/** A port the proxy could not bind → the error naming it and the fix. */
export function portFailure(port: PublishedPort | undefined, errno: number): NookError {
  const where = port ? `${port.hostIp ? `${port.hostIp}:` : ''}${port.hostPort}` : 'a host port';
  if (errno === 98 /* EADDRINUSE */)
    return new NookError(`host port ${where} is already in use`, {
      hint: `publish on another host port (e.g. -p ${port && port.hostPort < 65535 ? port.hostPort + 1 : 8080}:${port?.containerPort ?? 80}), or stop what listens on ${where} (ss -ltnp)`,
    });
  if (errno === 99 /* EADDRNOTAVAIL */) return new NookError(`cannot listen on ${where}: no such address on this host`, { hint: 'give an address of this host, or leave the address out' });
  if (errno === 13 /* EACCES */) return new NookError(`cannot listen on host port ${where}: permission denied`, { hint: 'publish on a port of 1024 or above (net.ipv4.ip_unprivileged_port_start)' });
  return new NookError(`cannot listen on host port ${where}: ${describeErrno(errno)}`);
}

/** Applies the proxy's "port I HOSTPORT" / "portfail I ERRNO" report lines to a copy of `ports`. */
export function boundPorts(ports: readonly PublishedPort[], lines: readonly string[]): PublishedPort[] {
  const out = ports.map((p) => ({ ...p }));
  for (const line of lines) {
    const fail = /^portfail (\d+) (\d+)$/.exec(line);
    if (fail) throw portFailure(out[Number(fail[1])], Number(fail[2]));
    const m = /^port (\d+) (\d+)$/.exec(line);
    if (m && out[Number(m[1])]) out[Number(m[1])].hostPort = Number(m[2]);
  }
  return out;
}

export interface ForegroundProxy {
  /** The ports as bound (a free one chosen for each hostPort 0). */
  ports: PublishedPort[];
  /** Starts proxying into the namespaces of the container whose init is `pid`. */
  attach(pid: number): Promise<void>;
  /** Ends the proxy (closing its stdin) and resolves once it is gone and the ports are free. */
  stop(): Promise<void>;
}

/**
 * Binds the ports (before the container starts: a port in use fails the
 * run with nothing started) in a proxy process that ends with the container,
 * or with nook (its stdin's EOF, even when nook is SIGKILLed).
 */
export async function startForegroundProxy(ports: readonly PublishedPort[]): Promise<ForegroundProxy> {
  const child = spawn(supervisorPath(), ['--proxy', portsArgument(ports)], { stdio: ['pipe', 'pipe', 'ignore'], env: {} });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  let ended = false;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    waiters.splice(0).forEach((w) => w());
  });
  child.stdout!.once('end', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  child.once('error', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  child.stdin!.on('error', () => undefined); // the proxy gone: its exit says why
  const until = async (done: () => boolean) => {
    while (!done() && !ended) await new Promise<void>((r) => waiters.push(r));
  };
  const stop = async () => {
    child.stdin!.end();
    await exited;
  };
  await until(() => lines.length >= ports.length || lines.some((l) => l.startsWith('portfail')));
  let bound: PublishedPort[];
  try {
    if (lines.length < ports.length && !lines.some((l) => l.startsWith('portfail')))
      throw new NookError('the port proxy ended before it listened', { hint: 'run `make` again if build/out/nook-supervisor is missing or stale' });
    bound = boundPorts(ports, lines);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    ports: bound,
    async attach(pid) {
      child.stdin!.write(`${pid}\n`);
      await until(() => lines.length > ports.length);
      const answer = lines[ports.length];
      if (answer === 'ok') return;
      const errno = Number(/^fail (\d+)$/.exec(answer ?? '')?.[1] ?? 0);
      throw new NookError(`starting the port proxy in the container's network namespace: ${errno ? describeErrno(errno) : 'it ended'}`);
    },
    stop,
  };
}
