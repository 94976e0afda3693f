/**
 * `nook port CONTAINER [PORT[/PROTO]]`, and the published ports as docker
 * shows them in `ps` (0.0.0.0:8080->80/tcp) and `inspect`
 * (NetworkSettings.Ports, HostConfig.PortBindings).
 */
import { UsageError } from '../errors';
import { ContainerStore } from '../container/state';
import { liveState } from '../container/status';
import type { PublishedPort } from '../sandbox/spec';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { writeOut } from './format';

/** The address a port listens on as docker prints it: 0.0.0.0 for all (nook's proxy listens on IPv4). */
const shownIp = (p: PublishedPort) => p.hostIp || '0.0.0.0';
const hostAddr = (p: PublishedPort) => (shownIp(p).includes(':') ? `[${shownIp(p)}]:${p.hostPort}` : `${shownIp(p)}:${p.hostPort}`);

/** ps's PORTS column: "0.0.0.0:8080->80/tcp, 127.0.0.1:8443->443/tcp". */
export function portsColumn(ports: readonly PublishedPort[] | undefined): string {
  return (ports ?? []).map((p) => `${hostAddr(p)}->${p.containerPort}/${p.protocol}`).join(', ');
}

/** inspect's NetworkSettings.Ports (as bound, while running) or HostConfig.PortBindings (as asked: "" for a free port). */
export function portMap(ports: readonly PublishedPort[] | undefined, asked: boolean): Record<string, { HostIp: string; HostPort: string }[]> {
  const m: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of ports ?? [])
    (m[`${p.containerPort}/${p.protocol}`] ??= []).push(asked ? { HostIp: p.hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' } : { HostIp: shownIp(p), HostPort: String(p.hostPort) });
  return m;
}

const PORT_FLAGS: readonly FlagSpec[] = [{ name: 'help', type: 'boolean', help: 'show this help' }];

export async function portCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, PORT_FLAGS, 'port');
  if (flags.help || positionals.length < 1 || positionals.length > 2) {
    if (!flags.help) throw new UsageError('nook port needs a container (and optionally a port)', 'e.g. nook port web, or nook port web 80/tcp');
    writeOut(`Usage: nook port CONTAINER [PORT[/PROTO]]\n\nLists a running container's published ports, or where one of them is published.\n\nFlags:\n${flagHelp(PORT_FLAGS)}\n`);
    return 0;
  }
  const dir = ContainerStore.open().resolve(positionals[0]);
  const name = dir.config().name;
  const s = liveState(dir);
  const ports = s.display === 'running' ? (s.ports ?? []) : [];
  if (positionals.length === 1) {
    writeOut(ports.map((p) => `${p.containerPort}/${p.protocol} -> ${hostAddr(p)}\n`).join(''));
    return 0;
  }
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(positionals[1]);
  if (!m) throw new UsageError(`invalid port "${positionals[1]}"`, 'give a container port, e.g. 80 or 80/tcp');
  const key = `${Number(m[1])}/${m[2] ?? 'tcp'}`;
  const found = ports.filter((p) => `${p.containerPort}/${p.protocol}` === key);
  if (!found.length) throw new UsageError(`no public port ${key} published for ${name}`, `see the published ports with: nook port ${name}`);
  writeOut(found.map((p) => `${hostAddr(p)}\n`).join(''));
  return 0;
}
