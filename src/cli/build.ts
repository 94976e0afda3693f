/**
 * `nook build [FLAGS] CONTEXT`: builds an image from a Dockerfile, as
 * `docker build` / `buildah bud` do, without a daemon and without root.
 * Parses flags into the engine's options (src/build/engine.ts) and prints
 * its progress: `STEP n/N: ...` lines, the commands' output, the image id.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError, UsageError } from '../errors';
import { parsePlatform, hostPlatform } from '../image/manifest';
import { findImage } from '../image/store/lookup';
import { ImageStore, type ImageRecord } from '../image/store/store';
import { hostIdentity } from '../sandbox/idmap';
import { flagHelp, parseArgs, type FlagSpec, type FlagValues } from './args';
import { MAX_EXPANSION_FLAG, pullOptions } from './pull';

const BUILD_FLAGS: readonly FlagSpec[] = [
  { name: 'tag', short: 't', type: 'string', multiple: true, value: 'NAME[:TAG]', help: 'name the image (several times for several names)' },
  { name: 'file', short: 'f', type: 'string', value: 'FILE', help: 'the Dockerfile (default CONTEXT/Dockerfile; - reads it from stdin)' },
  { name: 'build-arg', type: 'string', multiple: true, value: 'K[=V]', help: 'set a build argument (K alone takes its value from your environment)' },
  { name: 'target', type: 'string', value: 'STAGE', help: 'build this stage (name or index) instead of the last' },
  { name: 'no-cache', type: 'boolean', help: 'run every step again instead of using the build cache' },
  { name: 'pull', type: 'string', allowEmpty: true, value: 'POLICY', help: 'pull base images: missing (default), always (also --pull alone), never' },
  { name: 'network', type: 'string', value: 'MODE', help: "RUN steps' network: host (default: the host's, as buildah and Charliecloud) or none" },
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', help: "the platform of the image (default: this host's)" },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print only the image id' },
  { name: 'iidfile', type: 'string', value: 'FILE', help: 'write the image id to FILE' },
  { name: 'label', type: 'string', multiple: true, value: 'K=V', help: 'set a label on the image' },
  { name: 'secret', type: 'string', multiple: true, value: 'id=ID,src=FILE', help: 'a file that RUN --mount=type=secret,id=ID can read (never stored in the image)' },
  { name: 'format', type: 'string', value: 'oci|docker', help: 'manifest and config media types (default oci)' },
  { name: 'tls-verify', type: 'boolean', tristate: true, help: 'require HTTPS with a valid certificate when pulling (default true)' },
  { name: 'authfile', type: 'string', value: 'FILE', help: 'credentials file for pulls' },
  MAX_EXPANSION_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const list = (v: FlagValues[string]): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [String(v)]);

function buildArgs(flags: FlagValues): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of list(flags['build-arg'])) {
    const eq = a.indexOf('=');
    const key = eq < 0 ? a : a.slice(0, eq);
    if (!key) throw new UsageError(`invalid --build-arg "${a}"`, 'use --build-arg NAME=VALUE (or NAME to take it from your environment)');
    // docker: `--build-arg K` takes K from the environment, and is left out when K is unset there.
    const value = eq < 0 ? process.env[key] : a.slice(eq + 1);
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

function labels(flags: FlagValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list(flags.label)) {
    const eq = l.indexOf('=');
    if (eq < 1) throw new UsageError(`invalid --label "${l}"`, 'use --label NAME=VALUE');
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

function secrets(flags: FlagValues): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of list(flags.secret)) {
    const fields = new Map(s.split(',').map((f) => [f.slice(0, f.indexOf('=') < 0 ? f.length : f.indexOf('=')), f.slice(f.indexOf('=') + 1)] as const));
    const id = fields.get('id');
    const src = fields.get('src') ?? fields.get('source');
    const type = fields.get('type') ?? 'file';
    if (!id || !src || type !== 'file')
      throw new UsageError(`invalid --secret "${s}"`, 'use --secret id=ID,src=FILE (secrets from environment variables are not supported)');
    const file = path.resolve(src);
    try {
      if (!fs.statSync(file).isFile()) throw new Error('not a file');
      fs.accessSync(file, fs.constants.R_OK);
    } catch {
      throw new UsageError(`--secret ${id}: cannot read ${file}`, 'give a file you can read');
    }
    out.set(id, file);
  }
  return out;
}

function sourceDateEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH=${v} is not a number of seconds`, 'set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)');
  return Number(v);
}

function pullPolicy(v: FlagValues[string]): 'missing' | 'always' | 'never' {
  if (v === undefined) return 'missing';
  if (v === '' || v === true || v === 'true' || v === 'always') return 'always';
  if (v === 'false' || v === 'missing') return 'missing';
  if (v === 'never') return 'never';
  throw new UsageError(`invalid --pull "${String(v)}"`, 'use --pull (always), --pull=missing or --pull=never');
}

/** The Dockerfile's text and name, and the context directory (none for `nook build -`). */
function inputs(flags: FlagValues, positionals: string[]): { text: string; name: string; path?: string; context?: string } {
  if (positionals.length !== 1) throw new UsageError('nook build takes one build context', 'e.g. nook build -t myimage . (or - to read a Dockerfile from stdin)');
  const readStdin = () => {
    try {
      return fs.readFileSync(0, 'utf8');
    } catch (e) {
      throw new NookError('cannot read the Dockerfile from stdin', { cause: e });
    }
  };
  if (positionals[0] === '-') {
    if (flags.file !== undefined) throw new UsageError('nook build - reads the Dockerfile from stdin: -f makes no sense with it');
    return { text: readStdin(), name: 'Dockerfile' };
  }
  const context = path.resolve(positionals[0]);
  let st: fs.Stats;
  try {
    st = fs.statSync(context);
  } catch {
    throw new UsageError(`the build context ${positionals[0]} does not exist`, 'give a directory, e.g. nook build .');
  }
  if (!st.isDirectory()) throw new UsageError(`the build context ${positionals[0]} is not a directory`, 'give the directory holding the files to COPY (and the Dockerfile)');
  if (flags.file === '-') return { text: readStdin(), name: 'Dockerfile', context };
  const file = flags.file === undefined ? path.join(context, 'Dockerfile') : path.resolve(String(flags.file));
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read the Dockerfile ${file}`, flags.file === undefined ? 'put a Dockerfile in the context, or name it with -f FILE' : 'check the path given with -f');
  }
  return { text, name: flags.file === undefined ? 'Dockerfile' : path.relative(process.cwd(), file) || file, path: file, context };
}

export async function buildCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, BUILD_FLAGS, 'build');
  if (flags.help) {
    process.stdout.write(`Usage: nook build [FLAGS] CONTEXT\n\nBuilds an image from a Dockerfile (CONTEXT/Dockerfile unless -f says otherwise).\n\nFlags:\n${flagHelp(BUILD_FLAGS)}\n`);
    return 0;
  }
  const quiet = Boolean(flags.quiet);
  const network = flags.network === undefined || flags.network === 'default' ? 'host' : String(flags.network);
  if (network !== 'host' && network !== 'none') throw new UsageError(`invalid --network "${network}"`, 'nook build supports --network host (default) or none');
  const format = flags.format === undefined ? 'oci' : String(flags.format);
  if (format !== 'oci' && format !== 'docker') throw new UsageError(`invalid --format "${format}"`, 'use --format oci (default) or docker');
  const policy = pullPolicy(flags.pull);
  const { text, name, path: dockerfilePath, context } = inputs(flags, positionals);
  const tags = list(flags.tag);
  const { normalName } = await import('../image/write-image');
  // Bad names are refused before the build, not after it.
  for (const t of tags) normalName(t);

  const store = ImageStore.open();
  const out = (line: string) => {
    if (!quiet) process.stdout.write(`${line}\n`);
  };
  const controller = new AbortController();
  // Ctrl-C: the step under way ends and everything it made is removed; a second one leaves at once.
  const onInt = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  const devNull = quiet ? fs.openSync('/dev/null', 'w') : undefined;
  const { build } = await import('../build/engine');
  try {
    const platform = flags.platform ? parsePlatform(String(flags.platform)) : hostPlatform();
    const image = await build(
      {
        store,
        host: hostIdentity(),
        dockerfile: { text, name, path: dockerfilePath },
        context,
        buildArgs: buildArgs(flags),
        target: flags.target === undefined ? undefined : String(flags.target),
        noCache: Boolean(flags['no-cache']),
        network,
        platform,
        buildPlatform: hostPlatform(),
        labels: labels(flags),
        secrets: secrets(flags),
        format,
        tags,
        sourceDateEpoch: sourceDateEpoch(),
        outputFd: devNull,
        signal: controller.signal,
      },
      {
        step: (n, total, t) => out(`STEP ${n}/${total}: ${t}`),
        cached: () => out('--> CACHED'),
        warn: (m) => process.stderr.write(`nook: warning: ${m}\n`),
        image: (ref, plat) => baseImage(store, ref, plat ? parsePlatform(plat) : platform, policy, flags, quiet),
      },
    );
    out(`COMMIT${tags.length ? ` ${tags.join(' ')}` : ''}`);
    out(`--> ${image.id.slice(7, 19)}`);
    for (const t of tags) out(`Successfully tagged ${t}`);
    if (flags.iidfile !== undefined) fs.writeFileSync(String(flags.iidfile), image.id);
    process.stdout.write(`${image.id.slice(7)}\n`);
    return 0;
  } catch (e) {
    if (controller.signal.aborted) throw new NookError('the build was interrupted', { exitCode: 130, hint: 'nothing it made was kept but the cache of the steps that finished', cause: e });
    throw e;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onInt);
    if (devNull !== undefined) fs.closeSync(devNull);
  }
}

/** A FROM or COPY --from image: from the store, or pulled as --pull says. */
async function baseImage(store: ImageStore, ref: string, platform: ReturnType<typeof hostPlatform>, policy: 'missing' | 'always' | 'never', flags: FlagValues, quiet: boolean): Promise<ImageRecord> {
  const local = policy === 'always' ? undefined : findImage(store, ref);
  if (local) return local.record;
  if (policy === 'never') throw new NookError(`image ${ref} is not in the store and --pull=never forbids pulling it`, { hint: `pull it first: nook pull ${ref}` });
  const [{ pullImage }, { PullProgress, progressMode }] = await Promise.all([import('../image/pull'), import('./progress')]);
  const progress = new PullProgress(2, progressMode(2, quiet));
  const record = await pullImage(store, ref, { ...pullOptions(flags, progress), platform });
  progress.draw(true);
  return record;
}
