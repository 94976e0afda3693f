/**
 * Per-user registry settings and registry names. Which registries may be
 * reached over plain HTTP or with unverified certificates comes from
 * $XDG_CONFIG_HOME/nook/registries.json, e.g. {"insecure": ["localhost:5000"]}.
 * Nothing is insecure by default, not even localhost: a process on the same
 * host can listen there too, and an image pulled from it runs as you.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { NookError, UsageError } from '../../errors';
import { DEFAULT_REGISTRY } from '../reference';

/** $XDG_CONFIG_HOME/nook, or ~/.config/nook. Read at each call: tests and login change the environment. */
export function nookConfigDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'nook');
  return path.join(homeDir(), '.config', 'nook');
}

export function homeDir(): string {
  const home = process.env.HOME;
  return home && path.isAbsolute(home) ? home : os.homedir();
}

export function registriesConfigPath(): string {
  return path.join(nookConfigDir(), 'registries.json');
}

/**
 * "https://index.docker.io/v1/" → "docker.io", "HTTPS://Host:5000/" →
 * "host:5000": the forms people type after `nook login` and the keys docker
 * writes into config.json, reduced to what Reference.registry holds.
 */
export function normalizeRegistry(input: string): string {
  let s = input.trim();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  s = s.replace(/\/.*$/, '').toLowerCase();
  if (!s || /[\s@]/.test(s)) throw new UsageError(`invalid registry "${input}"`, 'give a registry host, e.g. docker.io, ghcr.io or localhost:5000');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === DEFAULT_REGISTRY) return DEFAULT_REGISTRY;
  return s;
}

/** The host to connect to: Docker Hub's API is not served at docker.io. */
export function registryHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? 'registry-1.docker.io' : registry;
}

export interface RegistriesConfig {
  insecure: string[];
}

export function loadRegistriesConfig(): RegistriesConfig {
  const file = registriesConfigPath();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { insecure: [] };
    throw new NookError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const hint = 'it should look like {"insecure": ["localhost:5000", "myregistry.lan"]}';
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new NookError(`${file} is not valid JSON (${(e as Error).message})`, { hint });
  }
  const insecure = (doc as { insecure?: unknown } | null)?.insecure ?? [];
  if (!Array.isArray(insecure) || insecure.some((x) => typeof x !== 'string'))
    throw new NookError(`${file}: "insecure" must be a list of registry names`, { hint });
  return { insecure: insecure.map((x: string) => normalizeRegistry(x)) };
}

/** Listed in registries.json; an exact match, port included, as docker's insecure-registries. */
export function isInsecureRegistry(registry: string): boolean {
  return loadRegistriesConfig().insecure.includes(normalizeRegistry(registry));
}
