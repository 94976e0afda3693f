/**
 * Command-line flags: a declarative table per command, parsed with minimist.
 * Unknown flags are errors that name the flag; flags stop at the first
 * positional argument (what follows belongs to the sandboxed command), as in
 * `docker run`.
 */
import minimist from 'minimist';
import { FlagError, UsageError } from '../errors';

export interface FlagSpec {
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** May be given several times; the value is then a list. */
  multiple?: boolean;
  /** Placeholder for the value in help text. */
  value?: string;
  /** A string flag for which "" is meaningful (e.g. --entrypoint "" clears the entrypoint). */
  allowEmpty?: boolean;
  /** A boolean whose absence is undefined rather than false (e.g. --tls-verify, default decided elsewhere). */
  tristate?: boolean;
  help: string;
}

export type FlagValues = Record<string, string | string[] | boolean | undefined>;

export interface ParsedArgs {
  flags: FlagValues;
  positionals: string[];
}

/**
 * `interleaved`: flags may also follow the arguments (`nook rm web -f`), as
 * docker takes them for commands that run no command of their own.
 */
export function parseArgs(argv: string[], specs: readonly FlagSpec[], command: string, opts: { interleaved?: boolean } = {}): ParsedArgs {
  const known = new Set<string>();
  const alias: Record<string, string> = {};
  for (const s of specs) {
    known.add(s.name);
    if (s.short) {
      known.add(s.short);
      alias[s.short] = s.name;
    }
  }
  let unknown: string | null = null;
  // minimist reads `--no-cache` as "cache: false"; a declared boolean named no-... means itself.
  const negatives = new Set(specs.filter((s) => s.type === 'boolean' && s.name.startsWith('no-')).map((s) => `--${s.name}`));
  const end = argv.indexOf('--');
  argv = argv.map((a, i) => ((end < 0 || i < end) && negatives.has(a) ? `${a}=true` : a));
  const parsed = minimist(argv, {
    // '_' keeps positional arguments as typed (minimist would turn "0x10" into 16).
    string: ['_', ...specs.filter((s) => s.type === 'string').map((s) => s.name)],
    boolean: specs.filter((s) => s.type === 'boolean').map((s) => s.name),
    alias,
    // Tri-state booleans stay null (→ undefined) when not given, so "not said" differs from "false".
    default: Object.fromEntries(specs.filter((s) => s.tristate).map((s) => [s.name, null])),
    stopEarly: !opts.interleaved,
    unknown: (arg: string) => {
      if (arg.startsWith('-') && arg !== '-' && unknown === null) unknown = arg.split('=')[0];
      return true;
    },
  });
  if (unknown !== null)
    throw new FlagError(`unknown flag: ${unknown}`, `see \`nook ${command} --help\` for the flags it takes`);

  const flags: FlagValues = {};
  for (const s of specs) {
    const v = parsed[s.name] as unknown;
    if (s.type === 'boolean') {
      flags[s.name] = s.tristate && v === null ? undefined : Boolean(v);
      continue;
    }
    if (v === undefined) continue;
    const list = (Array.isArray(v) ? v : [v]).map(String);
    if (list.some((x) => x.includes('\0'))) throw new UsageError(`the value of --${s.name} contains a NUL byte`, 'a NUL byte cannot be passed to the kernel; remove it');
    if (!s.allowEmpty && list.some((x) => x === '')) throw new FlagError(`flag --${s.name} needs a value`, `e.g. --${s.name} ${s.value ?? 'VALUE'}`);
    // A single-value flag given again: the last one wins, as docker's (pflag's).
    flags[s.name] = s.multiple ? list : list[list.length - 1];
  }
  const positionals = (parsed._ as unknown[]).map(String);
  const nul = positionals.findIndex((p) => p.includes('\0'));
  if (nul >= 0) throw new UsageError(`argument ${nul + 1} contains a NUL byte`, 'a NUL byte cannot be passed to the kernel; remove it');
  if (positionals[0] === '--') positionals.shift();
  return { flags, positionals };
}

export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = (s.short ? `-${s.short}, ` : '    ') + `--${s.name}` + (s.value ? ` ${s.value}` : '');
    return [names, s.help];
  });
  const width = Math.max(...rows.map(([n]) => n.length)) + 2;
  return rows.map(([n, h]) => `  ${n.padEnd(width)}${h}`).join('\n');
}

export function stringList(v: string | string[] | boolean | undefined): string[] {
  if (v === undefined || typeof v === 'boolean') return [];
  return Array.isArray(v) ? v : [v];
}
