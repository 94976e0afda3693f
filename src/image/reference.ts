/**
 * Image references, parsed and normalised as docker does
 * (github.com/distribution/reference): `debian` is
 * `docker.io/library/debian:latest`; the first path component is a registry
 * when it has a `.` or a `:` or is `localhost`; a digest pins the content.
 */
import { UsageError } from '../errors';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host, with port when given: "docker.io", "localhost:5000". */
  registry: string;
  /** Repository path in the registry: "library/debian". */
  repository: string;
  /** Tag; "latest" when neither a tag nor a digest was given. */
  tag?: string;
  /** "sha256:<64 hex>" when the reference pins a digest. */
  digest?: string;
}

const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:]+\]$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const NAME_MAX = 255;

function bad(input: string, why: string, hint?: string): UsageError {
  return new UsageError(`invalid image reference "${input}": ${why}`, hint ?? 'e.g. debian:12, ghcr.io/owner/app:1.0, localhost:5000/app@sha256:<digest>');
}

function isRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

function checkRegistry(input: string, registry: string): void {
  const colon = registry.startsWith('[') ? registry.indexOf(':', registry.indexOf(']')) : registry.lastIndexOf(':');
  const host = colon < 0 ? registry : registry.slice(0, colon);
  const port = colon < 0 ? undefined : registry.slice(colon + 1);
  const hostOk = IPV6_HOST.test(host) || host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
  if (!hostOk) throw bad(input, `"${registry}" is not a valid registry host`);
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535))
    throw bad(input, `"${port}" is not a valid port (1-65535)`);
  // What URL parsing would refuse later (e.g. bad punycode "xn--a"), refused here with the reference named.
  if (!canParseUrl(`https://${registry}/`)) throw bad(input, `"${registry}" is not a valid registry host`);
}

function canParseUrl(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

export function parseReference(input: string): Reference {
  if (!input) throw bad(input, 'it is empty');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(input, `"${digest}" is not a digest`, 'a digest looks like sha256:<64 hex digits>');
    if (digest.startsWith('sha256:') && !/^sha256:[a-f0-9]{64}$/.test(digest))
      throw bad(input, 'a sha256 digest has 64 lowercase hex digits');
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(input, `"${tag}" is not a valid tag`, 'a tag has up to 128 letters, digits, _, . and -, and does not start with . or -');
  }

  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  if (parts.length > 1 && isRegistry(parts[0])) {
    registry = parts.shift()!;
    checkRegistry(input, registry);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  for (const p of parts) {
    if (p !== p.toLowerCase()) throw bad(input, 'repository names must be lowercase');
    if (!PATH_COMPONENT.test(p)) throw bad(input, `"${p}" is not a valid repository path component`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (registry.length + 1 + repository.length > NAME_MAX) throw bad(input, `the name is longer than ${NAME_MAX} characters`);

  return { registry, repository, tag: tag ?? (digest ? undefined : DEFAULT_TAG), digest };
}

/** The full, normalised form: "docker.io/library/debian:12", "localhost:5000/app@sha256:…". */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The short form docker prints: "debian:12" for docker.io/library/debian:12. */
export function familiarReference(ref: Reference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DEFAULT_REGISTRY) name = ref.repository.startsWith('library/') ? ref.repository.slice(8) : ref.repository;
  return `${name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
