/**
 * `nook info [--format json|TEMPLATE]`: where nook keeps things and what this
 * host lets it do (id mapping, user namespaces, cgroups, overlayfs, network
 * helpers), the first things to check when something fails.
 */
import fs = require('node:fs');
import os = require('node:os');
import { hostInfo } from '../container/system';
import { hostPlatform } from '../image/manifest';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { formatBytes, parseFormat, renderTemplate, writeOut } from './format';

const INFO_FLAGS: readonly FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', value: 'FORMAT', help: "json, or a Go template as docker's, e.g. '{{.Store.Root}}'" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function scalar(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length ? v.map(scalar).join(', ') : '-';
  return String(v);
}

/** Nested keys as indented "Key: value" lines, docker info's way. */
function outline(data: Record<string, unknown>, indent = ''): string {
  let out = '';
  for (const [k, v] of Object.entries(data)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out += `${indent}${k}:\n${outline(v as Record<string, unknown>, `${indent} `)}`;
    else out += `${indent}${k}: ${(k === 'MemTotal' || k === 'MemFree') && typeof v === 'number' ? formatBytes(v) : scalar(v)}\n`;
  }
  return out;
}

function osRelease(): Record<string, string> {
  let text = '';
  try {
    text = fs.readFileSync('/etc/os-release', 'utf8');
  } catch {
    /* no os-release: unknown distribution */
  }
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z_]+)="?([^"\n]*)"?$/gm)) out[m[1]] = m[2];
  return out;
}

/**
 * podman info's Host section (its template fields, e.g. {{.Host.Arch}}), and
 * its names for the store's facts added to Store, from what `nook info` found.
 */
function addPodmanSections(data: Record<string, unknown>): Record<string, unknown> {
  const rel = osRelease();
  const cgroups = data.Cgroups as { Version: string };
  const store = data.Store as Record<string, unknown>;
  const helpers = data.NetworkHelpers as Record<string, string | null>;
  const running = data.ContainersRunning as number;
  const host = {
    Arch: hostPlatform().architecture,
    OS: 'linux',
    Kernel: data.KernelVersion,
    Hostname: data.Name,
    CPUs: data.NCPU,
    MemTotal: data.MemTotal,
    MemFree: os.freemem(),
    Distribution: { Distribution: rel.ID ?? 'unknown', Version: rel.VERSION_ID ?? '', Codename: rel.VERSION_CODENAME ?? '' },
    // nook runs containers itself (its C executor), without an OCI runtime.
    OCIRuntime: { Name: 'nook', Path: process.execPath, Version: data.ServerVersion },
    Security: { Rootless: data.Rootless, SECCOMPEnabled: true, SELinuxEnabled: false, AppArmorEnabled: false },
    // nook keeps no event log.
    EventLogger: 'none',
    LogDriver: 'k8s-file',
    CgroupsVersion: cgroups.Version === '2' ? 'v2' : cgroups.Version === '1' ? 'v1' : 'none',
    CgroupManager: data.CgroupDriver,
    NetworkBackend: helpers.pasta ? 'pasta' : helpers.slirp4netns ? 'slirp4netns' : 'none',
  };
  const podmanStore = {
    GraphRoot: store.Root,
    GraphDriverName: store.Driver,
    RunRoot: (data.RuntimeDir as { Path: string }).Path,
    ImageStore: { Number: data.Images },
    ContainerStore: { Number: data.Containers, Running: running, Paused: data.ContainersPaused, Stopped: data.ContainersStopped },
  };
  return { ...data, Store: { ...store, ...podmanStore }, Host: host };
}

export async function infoCommand(argv: string[], version: string): Promise<number> {
  const { flags } = parseArgs(argv, INFO_FLAGS, 'info');
  if (flags.help) {
    writeOut(`Usage: nook info [FLAGS]\n\nShows where nook keeps images and containers, and what this host lets it do:\nthe id mapping, user namespaces, cgroups and their delegation, overlayfs, network helpers.\n\nFlags:\n${flagHelp(INFO_FLAGS)}\n`);
    return 0;
  }
  const format = parseFormat(flags.format as string | undefined);
  const data = addPodmanSections(hostInfo(version));
  if (format.kind === 'json') writeOut(`${JSON.stringify(data)}\n`);
  else if (format.kind === 'template') writeOut(await renderTemplate({ ...format, table: false }, [data]));
  else writeOut(outline(data));
  return 0;
}
