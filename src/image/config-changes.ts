/**
 * `nook commit -c INSTRUCTION`: the Dockerfile instructions docker's commit
 * (and import) --change accepts, applied to an image's container config.
 * Deliberately limited to these one-line forms; the Dockerfile parser of
 * `nook build` is a separate thing. Quoting follows the Dockerfile: "..."
 * and '...' group words, a backslash escapes the next character (not inside
 * single quotes).
 */
import { UsageError } from '../errors';
import type { ContainerConfig } from './config';

export const COMMIT_INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const;

/** Returns a new config with `change` applied (the input is not modified). */
export function applyConfigChange(config: ContainerConfig, change: string): ContainerConfig {
  const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
  const keyword = m?.[1].toUpperCase();
  const rest = (m?.[2] ?? '').trim();
  if (!m || !(COMMIT_INSTRUCTIONS as readonly string[]).includes(keyword!))
    throw new UsageError(`--change "${change}": ${m ? `${m[1]} is not an instruction commit can apply` : 'not an instruction'}`, `use one of ${COMMIT_INSTRUCTIONS.join(', ')}, e.g. -c 'CMD ["sh"]'`);
  if (!rest) throw new UsageError(`--change "${change}": ${keyword} needs an argument`);
  const c: ContainerConfig = { ...config };
  const bad = (why: string) => new UsageError(`--change "${change}": ${why}`);
  switch (keyword) {
    case 'CMD':
      c.Cmd = commandForm(rest);
      break;
    case 'ENTRYPOINT':
      c.Entrypoint = commandForm(rest);
      break;
    case 'ENV': {
      const env = [...(c.Env ?? [])];
      for (const [k, v] of pairs(rest, true, bad)) {
        const i = env.findIndex((e) => e.slice(0, e.indexOf('=')) === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      c.Env = env;
      break;
    }
    case 'LABEL':
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of pairs(rest, false, bad)) c.Labels[k] = v;
      break;
    case 'EXPOSE':
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of words(rest, bad)) for (const port of ports(p, bad)) c.ExposedPorts[port] = {};
      break;
    case 'VOLUME':
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of jsonList(rest) ?? words(rest, bad)) {
        if (!v) throw bad('an empty volume path');
        c.Volumes[v] = {};
      }
      break;
    case 'WORKDIR': {
      const dir = words(rest, bad).join(' ');
      // Relative to the previous one, as docker resolves it.
      c.WorkingDir = dir.startsWith('/') ? dir : `${(c.WorkingDir || '/').replace(/\/$/, '')}/${dir}`;
      break;
    }
    case 'USER':
      c.User = words(rest, bad).join(' ');
      break;
    case 'STOPSIGNAL':
      c.StopSignal = words(rest, bad).join(' ');
      break;
  }
  return c;
}

/** JSON form (`["a", "b"]`) when it parses as a list of strings, else shell form: /bin/sh -c TEXT. */
function commandForm(rest: string): string[] {
  return jsonList(rest) ?? ['/bin/sh', '-c', rest];
}

function jsonList(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(rest);
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  } catch {
    /* not JSON: shell form, as docker falls back */
  }
  return undefined;
}

/** Words split at unquoted whitespace, quotes removed, backslash escapes applied. */
export function words(text: string, bad: (why: string) => Error): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw bad(`unterminated ${quote} quote`);
  if (inWord) out.push(cur);
  return out;
}

/** KEY=VALUE pairs; with `legacy` (ENV), also docker's old "KEY VALUE" form (value: the rest of the line). */
function pairs(rest: string, legacy: boolean, bad: (why: string) => Error): [string, string][] {
  const first = /^\S+/.exec(rest)![0];
  if (!first.includes('=')) {
    if (!legacy) throw bad(`${first} has no value: write KEY=VALUE`);
    const value = rest.slice(first.length).trim();
    return [[words(first, bad)[0], words(value, bad).join(' ')]];
  }
  return words(rest, bad).map((w) => {
    const eq = w.indexOf('=');
    if (eq < 1) throw bad(`${JSON.stringify(w)} is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** "80", "80/udp", "8000-8002/tcp" → the ExposedPorts keys. */
function ports(spec: string, bad: (why: string) => Error): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw bad(`${JSON.stringify(spec)} is not a port (PORT[/PROTO] or FROM-TO[/PROTO])`);
  const from = Number(m[1]);
  const to = m[2] ? Number(m[2]) : from;
  if (from < 1 || to > 65535 || to < from) throw bad(`${JSON.stringify(spec)} is not a port range within 1-65535`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: to - from + 1 }, (_, i) => `${from + i}/${proto}`);
}
