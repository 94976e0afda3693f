/**
 * `nook version [--format json|TEMPLATE]`: docker version's Client and
 * Server sections. `nook --version` (one line) is answered in main.ts
 * without loading this module.
 */
import os = require('node:os');
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { parseFormat, renderTemplate, writeOut } from './format';

const VERSION_FLAGS: readonly FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', value: 'FORMAT', help: "json, or a Go template as docker's, e.g. '{{.Client.Version}}'" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** Node's names for architectures, as Go (and so docker) spells them. */
const GOARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export async function versionCommand(argv: string[], version: string): Promise<number> {
  const { flags } = parseArgs(argv, VERSION_FLAGS, 'version');
  if (flags.help) {
    writeOut(`Usage: nook version [FLAGS]\n\nShows nook's version. nook has no daemon: Server repeats the client's, with the kernel's version.\n\nFlags:\n${flagHelp(VERSION_FLAGS)}\n`);
    return 0;
  }
  const format = parseFormat(flags.format as string | undefined);
  const arch = GOARCH[process.arch] ?? process.arch;
  const data = {
    Client: { Platform: { Name: 'nook' }, Version: version, NodeVersion: process.versions.node, Os: 'linux', Arch: arch },
    Server: { Platform: { Name: 'nook (daemonless)' }, Version: version, Os: 'linux', Arch: arch, KernelVersion: os.release() },
  };
  if (format.kind === 'json') writeOut(`${JSON.stringify(data)}\n`);
  else if (format.kind === 'template') writeOut(await renderTemplate({ ...format, table: false }, [data]));
  else writeOut(versionText(data));
  return 0;
}

/** docker version's layout: "Client: NAME", then " Key:  value" lines aligned, a Server section with its Engine. */
function versionText(data: { Client: Record<string, unknown>; Server: Record<string, unknown> }): string {
  const lines = (indent: string, pairs: [string, unknown][]) => pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(19 - indent.length)}${String(v)}\n`).join('');
  const c = data.Client;
  const sv = data.Server;
  return (
    `Client: ${(c.Platform as { Name: string }).Name}\n` +
    lines(' ', [['Version', c.Version], ['Node version', `v${String(c.NodeVersion)}`], ['OS/Arch', `${String(c.Os)}/${String(c.Arch)}`]]) +
    `\nServer: ${(sv.Platform as { Name: string }).Name}\n Engine:\n` +
    lines('  ', [['Version', sv.Version], ['Kernel version', sv.KernelVersion], ['OS/Arch', `${String(sv.Os)}/${String(sv.Arch)}`]])
  );
}
