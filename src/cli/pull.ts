/**
 * `nook pull [-q] [--platform OS/ARCH] [--tls-verify=false] [--squash-ids] REF`
 */
import { UsageError } from '../errors';
import { parsePlatform } from '../image/manifest';
import type { PullOptions } from '../image/pull';
import { parseArgs, flagHelp, type FlagSpec, type FlagValues } from './args';
import { PullProgress, progressMode } from './progress';

/** --max-layer-expansion, for every command that brings layers into the store. */
export const MAX_EXPANSION_FLAG: FlagSpec = {
  name: 'max-layer-expansion',
  type: 'string',
  value: 'N',
  help: 'refuse a layer that decompresses to more than N times its compressed size (default 100, at least 64 MiB; 0: no limit)',
};

/** The value of --max-layer-expansion, checked; undefined when not given (the default applies). */
export function maxLayerExpansion(flags: FlagValues): number | undefined {
  const v = flags['max-layer-expansion'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n) || (n !== 0 && n < 1))
    throw new UsageError(`invalid --max-layer-expansion "${String(v)}"`, 'give a ratio of at least 1, e.g. --max-layer-expansion 500, or 0 for no limit');
  return n;
}

export const PULL_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print only the image digest' },
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', help: "pull for this platform (default: this host's)" },
  { name: 'tls-verify', type: 'boolean', tristate: true, help: 'require HTTPS with a valid certificate (default true; =false allows plain HTTP)' },
  { name: 'authfile', type: 'string', value: 'FILE', help: 'credentials file to use instead of the default ones' },
  { name: 'squash-ids', type: 'boolean', help: 'make files whose owner does not exist in your id range owned by root (instead of failing)' },
  { name: 'debug', type: 'boolean', help: 'print debug notes (e.g. skipped device nodes)' },
  MAX_EXPANSION_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

/** The pull settings shared by `pull` and `run`. */
export function pullOptions(flags: FlagValues, progress: PullProgress): PullOptions {
  return {
    platform: flags.platform ? parsePlatform(flags.platform as string) : undefined,
    tlsVerify: flags['tls-verify'] as boolean | undefined,
    authFile: flags.authfile as string | undefined,
    squashIds: Boolean(flags['squash-ids']),
    debug: Boolean(flags.debug),
    maxExpansion: maxLayerExpansion(flags),
    events: progress,
  };
}

export async function pullCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, PULL_FLAGS, 'pull');
  if (flags.help) {
    process.stdout.write(`Usage: nook pull [FLAGS] IMAGE\n\nDownloads IMAGE (e.g. debian:12) into the local store.\n\nFlags:\n${flagHelp(PULL_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('nook pull takes one image reference', 'e.g. nook pull debian:12');
  const { ImageStore } = await import('../image/store/store');
  const { pullImage } = await import('../image/pull');
  const progress = new PullProgress(1, progressMode(1, Boolean(flags.quiet)));
  const record = await pullImage(ImageStore.open(), positionals[0], pullOptions(flags, progress));
  progress.draw(true);
  if (flags.quiet) process.stdout.write(`${record.repoDigests[0]?.split('@')[1] ?? record.manifestDigest}\n`);
  else progress.say(`Pulled ${record.repoDigests[0]} (image id ${record.id.slice(7, 19)})`);
  return 0;
}
