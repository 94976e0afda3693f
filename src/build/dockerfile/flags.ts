/**
 * Instruction flags (`COPY --from=x`, `RUN --mount=...`, `HEALTHCHECK --interval=`):
 * which ones each instruction accepts, their values, and the `--mount`
 * option lists. Problems are thrown as plain messages; parse.ts adds the
 * file and line.
 */
import type { Mount } from './instructions';

export class FlagProblem extends Error {}

type FlagKind = 'string' | 'bool' | 'list';

/** The flags of one instruction, checked against what it accepts (docker's BFlags). */
export class Flags {
  private readonly values = new Map<string, string[]>();

  constructor(instruction: string, words: string[], accepted: Record<string, FlagKind>) {
    for (const word of words) {
      if (!word.startsWith('--')) throw new FlagProblem(`${instruction}: bad flag ${word}, flags start with --`);
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const value = eq < 0 ? undefined : word.slice(eq + 1);
      const kind = accepted[name];
      if (!kind) {
        const known = Object.keys(accepted).map((k) => `--${k}`);
        throw new FlagProblem(
          `${instruction} does not accept the flag --${name}` + (known.length ? ` (it accepts ${known.join(', ')})` : ' (it takes no flags)'),
        );
      }
      if (kind === 'bool') {
        if (value !== undefined && !['true', 'false'].includes(value.toLowerCase()))
          throw new FlagProblem(`${instruction} --${name} expects true or false, not ${JSON.stringify(value)}`);
      } else if (value === undefined) throw new FlagProblem(`${instruction} --${name} needs a value (--${name}=VALUE)`);
      const prior = this.values.get(name);
      if (prior && kind !== 'list') throw new FlagProblem(`${instruction} --${name} is given twice`);
      this.values.set(name, [...(prior ?? []), value ?? 'true']);
    }
  }

  string(name: string): string | undefined {
    return this.values.get(name)?.[0];
  }

  bool(name: string): boolean {
    return this.values.get(name)?.[0].toLowerCase() === 'true';
  }

  list(name: string): string[] {
    return this.values.get(name) ?? [];
  }
}

/** Splits `a=b,c="d,e"` as Go's encoding/csv does (docker parses --mount with it). */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let field = '';
  let i = 0;
  let atStart = true;
  while (i <= s.length) {
    const ch = s[i];
    if (i === s.length || ch === ',') {
      out.push(field);
      field = '';
      atStart = true;
      i++;
      if (i > s.length) break;
      continue;
    }
    if (ch === '"' && atStart) {
      i++;
      while (i < s.length) {
        if (s[i] === '"' && s[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (s[i] === '"') {
          i++;
          break;
        } else field += s[i++];
      }
      atStart = false;
      continue;
    }
    // a quote later in a field is taken as-is, like csv with LazyQuotes
    field += ch;
    atStart = false;
    i++;
  }
  return out;
}

function boolValue(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new FlagProblem(`--mount option ${key} expects true or false, not ${JSON.stringify(value)}`);
}

/** A number, unless it still holds a `$VARIABLE` (then substituted and checked when the step runs). */
function numberValue(key: string, value: string | undefined, radix: 8 | 10): number | undefined {
  if (value === undefined) throw new FlagProblem(`--mount option ${key} needs a value`);
  if (value.includes('$')) return undefined;
  const ok = radix === 8 ? /^0?[0-7]+$/.test(value) : /^\d+$/.test(value);
  if (!ok) throw new FlagProblem(`--mount option ${key}=${value} is not ${radix === 8 ? 'an octal mode' : 'a number'}`);
  return parseInt(value, radix);
}

/**
 * One `RUN --mount=...` value, with docker's defaults (type bind, secret
 * target /run/secrets/ID, ...). At parse time (no `expand`) values holding
 * variables are left for later; the engine parses the spec again with
 * `expand` substituting each value, as BuildKit does.
 */
export function parseMount(spec: string, expand?: (value: string) => string): Mount {
  const opts = new Map<string, string | undefined>();
  for (const field of csvFields(spec)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    let key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    let value = eq < 0 ? undefined : field.slice(eq + 1);
    if (key === 'from' && value !== undefined && /\$./.test(value))
      throw new FlagProblem("--mount from= does not support variable expansion (define an alias stage instead: FROM image AS name)");
    if (value !== undefined && expand) value = expand(value);
    key = ({ src: 'source', dst: 'target', destination: 'target', ro: 'readonly', rw: 'readwrite' } as Record<string, string>)[key] ?? key;
    if (opts.has(key)) throw new FlagProblem(`--mount option ${key} is given twice in ${JSON.stringify(spec)}`);
    opts.set(key, value);
  }
  const type = opts.get('type') ?? 'bind';
  const allowed: Record<string, string[]> = {
    bind: ['type', 'target', 'source', 'from', 'readonly', 'readwrite'],
    cache: ['type', 'target', 'source', 'from', 'readonly', 'readwrite', 'id', 'sharing', 'mode', 'uid', 'gid'],
    tmpfs: ['type', 'target', 'size'],
    secret: ['type', 'target', 'id', 'source', 'env', 'required', 'mode', 'uid', 'gid'],
    ssh: ['type', 'target', 'id', 'source', 'required', 'mode', 'uid', 'gid'],
  };
  if (!allowed[type]) throw new FlagProblem(`--mount type=${type} is not a mount type (bind, cache, tmpfs, secret, ssh)`);
  for (const key of opts.keys())
    if (!allowed[type].includes(key)) throw new FlagProblem(`--mount option ${key} does not apply to type=${type}`);
  const str = (k: string) => {
    const v = opts.get(k);
    if (opts.has(k) && (v === undefined || v === '')) throw new FlagProblem(`--mount option ${k} needs a value`);
    return v;
  };
  const target = str('target');
  const ids = () => ({
    mode: opts.has('mode') ? numberValue('mode', opts.get('mode'), 8) : undefined,
    uid: opts.has('uid') ? numberValue('uid', opts.get('uid'), 10) : undefined,
    gid: opts.has('gid') ? numberValue('gid', opts.get('gid'), 10) : undefined,
  });
  const readonly = opts.has('readonly') ? boolValue('readonly', opts.get('readonly')) : undefined;
  const readwrite = opts.has('readwrite') ? boolValue('readwrite', opts.get('readwrite')) : undefined;
  const needTarget = () => {
    if (!target) throw new FlagProblem(`--mount type=${type} needs a target (target=/path)`);
    return target;
  };
  switch (type) {
    case 'bind':
      return { type, target: needTarget(), source: str('source'), from: str('from'), readwrite: readwrite ?? readonly === false };
    case 'cache': {
      const sharing = opts.get('sharing') ?? 'shared';
      if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked')
        throw new FlagProblem(`--mount sharing=${sharing} is not shared, private or locked`);
      return {
        type,
        target: needTarget(),
        id: str('id'),
        sharing,
        from: str('from'),
        source: str('source'),
        readonly: readonly ?? readwrite === false,
        ...ids(),
      };
    }
    case 'tmpfs': {
      const size = opts.get('size');
      let bytes: number | undefined;
      if (size !== undefined) {
        const m = /^(\d+)([kmg]?)b?$/i.exec(size);
        if (!m) throw new FlagProblem(`--mount size=${size} is not a size (like 64m)`);
        bytes = Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
      }
      return { type, target: needTarget(), size: bytes };
    }
    case 'secret':
    case 'ssh': {
      if (opts.has('id') && opts.has('source')) throw new FlagProblem(`--mount type=${type}: both source and id can't be set`);
      const id = str('id') ?? str('source') ?? (target && type === 'secret' ? target.replace(/\/+$/, '').split('/').pop() : undefined);
      if (type === 'secret' && !id) throw new FlagProblem('--mount type=secret needs an id or a target (id=ID)');
      const required = opts.has('required') ? boolValue('required', opts.get('required')) : false;
      const common = { id, required, ...ids() };
      if (type === 'secret') {
        const env = str('env');
        return { type, ...common, env, target: target ?? (env ? undefined : `/run/secrets/${id}`) };
      }
      return { type, ...common, target };
    }
  }
  throw new FlagProblem(`--mount type=${type} is not supported`);
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration (`30s`, `1m30s`, `1.5h`, `0`), in nanoseconds. */
export function parseGoDuration(s: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  if (s === '') throw new FlagProblem('empty duration');
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new FlagProblem(`${JSON.stringify(s)} is not a duration (like 30s, 1m30s, 500ms)`);
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return Math.round(total);
}
