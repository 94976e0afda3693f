/**
 * `nook push [-q] [--tls-verify=false] [--authfile FILE] [--format oci|docker] IMAGE [DEST]`
 */
import { UsageError } from '../errors';
import { parseArgs, flagHelp, type FlagSpec } from './args';
import { progressMode } from './progress';

const PUSH_FLAGS: readonly FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print only the pushed reference with its digest' },
  { name: 'tls-verify', type: 'boolean', tristate: true, help: 'require HTTPS with a valid certificate (default true; =false allows plain HTTP)' },
  { name: 'authfile', type: 'string', value: 'FILE', help: 'credentials file to use instead of the default ones' },
  { name: 'format', type: 'string', value: 'oci|docker', help: "push the manifest in this format (default: as stored; the blobs stay the same, the manifest digest changes)" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const USAGE = `Usage: nook push [FLAGS] IMAGE [DESTINATION]

Uploads IMAGE from the local store to its registry, or to DESTINATION
(another name, e.g. localhost:5000/app:v1). The image goes as stored: same
blobs, same digests. Credentials are those of nook login (or --authfile).`;

export async function pushCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, PUSH_FLAGS, 'push');
  if (flags.help) {
    process.stdout.write(`${USAGE}\n\nFlags:\n${flagHelp(PUSH_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 2)
    throw new UsageError('nook push takes an image and, optionally, a destination', 'e.g. nook push localhost:5000/app:v1, or nook push app:v1 registry.example/team/app:v1');
  const { ImageStore } = await import('../image/store/store');
  const { pushImage } = await import('../image/push');
  const { PushProgress } = await import('./push-progress');
  const quiet = Boolean(flags.quiet);
  const progress = new PushProgress(1, progressMode(1, quiet));
  const format = flags.format as string | undefined;
  if (format !== undefined && format !== 'oci' && format !== 'docker') throw new UsageError(`unknown manifest format "${format}"`, 'use --format oci or --format docker');
  const result = await pushImage(ImageStore.open(), positionals[0], positionals[1], {
    format,
    tlsVerify: flags['tls-verify'] as boolean | undefined,
    authFile: flags.authfile as string | undefined,
    events: progress,
  });
  progress.draw(true);
  if (quiet) process.stdout.write(`${result.repoDigest}\n`);
  else progress.say(`${result.tag ?? result.digest}: digest: ${result.digest} size: ${result.size}`);
  return 0;
}
