/**
 * `nook save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`,
 * `nook load [-i FILE] [-q]` and `nook import FILE|- [REF]`: images to and
 * from archives, as docker and podman write and read them.
 */
import fs = require('node:fs');
import tty = require('node:tty');
import type { Readable } from 'node:stream';
import { NookError, UsageError } from '../errors';
import { noteStdoutStreamUsed } from '../util/stdout';
import { parsePlatform } from '../image/manifest';
import { formatReference, parseReference } from '../image/reference';
import type { LayerRecord } from '../image/store/store';
import { parseArgs, flagHelp, stringList, type FlagSpec } from './args';
import { formatBytes } from './format';
import { MAX_EXPANSION_FLAG, maxLayerExpansion } from './pull';

const say = (line: string) => process.stdout.write(`${line}\n`);

const SAVE_FLAGS: readonly FlagSpec[] = [
  { name: 'output', short: 'o', type: 'string', value: 'FILE', help: 'write to FILE instead of standard output' },
  { name: 'format', type: 'string', value: 'FORMAT', help: 'docker-archive (as docker save writes; the default) or oci-archive (an OCI layout); also docker, oci' },
  // podman needs -m to put several images in one archive; nook (as docker) always can: accepted, changes nothing.
  { name: 'multi-image-archive', short: 'm', type: 'boolean', help: "accepted for podman's scripts: several images always go into one archive" },
  { name: 'uncompressed', type: 'boolean', help: "oci-archive: write the layers uncompressed, as podman's flag (docker-archive layers always are)" },
  // podman's: save prints no progress there; nook's never does.
  { name: 'quiet', short: 'q', type: 'boolean', help: "accepted for podman's scripts: nook save prints nothing but errors" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function saveCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, SAVE_FLAGS, 'save', { interleaved: true });
  if (flags.help) {
    say(`Usage: nook save [FLAGS] IMAGE...\n\nWrites images, with their names, to a tar archive that nook load, docker load or podman load read.\n\nFlags:\n${flagHelp(SAVE_FLAGS)}`);
    return 0;
  }
  if (!positionals.length) throw new UsageError('nook save needs at least one image', 'e.g. nook save -o debian.tar debian:12');
  const { parseFormat, resolveImages, saveImages } = await import('../image/archive/save');
  const { fileOutput, stdoutOutput } = await import('../image/archive/output');
  const { ImageStore } = await import('../image/store/store');
  const format = parseFormat((flags.format as string | undefined) ?? 'docker-archive');
  const file = flags.output as string | undefined;
  if (!file && tty.isatty(1))
    throw new UsageError('refusing to write an image archive to a terminal', `give a file with -o, or redirect: nook save ${positionals.join(' ')} > image.tar`);
  const store = ImageStore.open();
  // Before the output is opened: an unknown image leaves no file behind.
  const items = resolveImages(store, positionals);
  const out = file ? fileOutput(file) : stdoutOutput();
  if (!file) noteStdoutStreamUsed();
  try {
    await saveImages(store, items, format, out.stream, { uncompressed: Boolean(flags.uncompressed) });
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return 0;
}

/** The stream to read: a file (checked to exist and be readable) or standard input (not a terminal). */
function openInput(file: string | undefined, command: string, example: string): { source: Readable; what: string; size?: number } {
  if (file === undefined || file === '-') {
    if (tty.isatty(0))
      throw new UsageError(`no ${command === 'load' ? 'archive' : 'tarball'} given, and standard input is a terminal`, `give a file, or redirect: ${example}`);
    return { source: process.stdin, what: 'standard input' };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file))
    throw new UsageError(`nook ${command} reads local files, not URLs: ${file}`, `download it first, e.g. curl -LO ${file}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NookError(code === 'ENOENT' ? `${file}: no such file` : `cannot read ${file}: ${(e as Error).message}`, {
      hint: code === 'ENOENT' ? 'check the path' : 'check the file and its permissions',
    });
  }
  if (st.isDirectory()) throw new NookError(`${file} is a directory, not an archive`, { hint: 'give the tar file itself' });
  return { source: fs.createReadStream(file, { highWaterMark: 1 << 20 }), what: file, size: st.isFile() ? st.size : undefined };
}

const LOAD_FLAGS: readonly FlagSpec[] = [
  { name: 'input', short: 'i', type: 'string', value: 'FILE', help: 'read from FILE instead of standard input' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'print only the names (or ids) of the loaded images' },
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', help: "from a multi-platform image, load this platform (default: this host's)" },
  MAX_EXPANSION_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

function layerLine(quiet: boolean): ((l: LayerRecord, existed: boolean) => void) | undefined {
  if (quiet) return undefined;
  return (l, existed) => say(`${l.digest.slice(7, 19)}: ${existed ? 'Layer already exists' : `Loaded layer (${formatBytes(l.size)})`}`);
}

export async function loadCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, LOAD_FLAGS, 'load');
  if (flags.help) {
    say(`Usage: nook load [FLAGS]\n\nReads images from an archive that nook save, docker save or podman save wrote (docker-archive or OCI layout, plain or gzip/zstd compressed).\n\nFlags:\n${flagHelp(LOAD_FLAGS)}`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`nook load takes no arguments, got "${positionals[0]}"`, `read a file with -i: nook load -i ${positionals[0]}`);
  const platform = flags.platform ? parsePlatform(flags.platform as string) : undefined;
  const maxExpansion = maxLayerExpansion(flags);
  const { source, what, size } = openInput(flags.input as string | undefined, 'load', 'nook load < image.tar');
  const { loadArchive } = await import('../image/archive/load');
  const { familiarName } = await import('../image/archive/names');
  const { ImageStore } = await import('../image/store/store');
  const loaded = await loadArchive(ImageStore.open(), source, what, { platform, size, maxExpansion, onLayer: layerLine(Boolean(flags.quiet)) });
  for (const { record, names } of loaded) {
    if (!names.length) say(`Loaded image ID: ${record.id}`);
    for (const n of names) say(`Loaded image: ${familiarName(n)}`);
  }
  return 0;
}

const IMPORT_FLAGS: readonly FlagSpec[] = [
  { name: 'message', short: 'm', type: 'string', value: 'TEXT', help: 'the comment in the image history (default "Imported from FILE")' },
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', help: "the platform the image says it is for (default: this host's)" },
  { name: 'change', short: 'c', type: 'string', multiple: true, value: 'INSTRUCTION', help: 'apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR' },
  { name: 'quiet', short: 'q', type: 'boolean', help: "accepted for podman's scripts: nook import prints only the image id anyway" },
  MAX_EXPANSION_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function importCommand(argv: string[]): Promise<number> {
  // Flags may follow the file and the name, as docker's and podman's import take them.
  const { flags, positionals } = parseArgs(argv, IMPORT_FLAGS, 'import', { interleaved: true });
  if (flags.help) {
    say(`Usage: nook import [FLAGS] FILE|- [REPOSITORY[:TAG]]\n\nMakes an image of one layer from a root filesystem tarball (plain, gzip or zstd; - reads standard input) and prints its id.\n\nFlags:\n${flagHelp(IMPORT_FLAGS)}`);
    return 0;
  }
  const changes = stringList(flags.change);
  if (positionals.length < 1 || positionals.length > 2)
    throw new UsageError('nook import takes a tarball and, optionally, a name', 'e.g. nook import rootfs.tar.gz myimage:1');
  let name: string | undefined;
  if (positionals[1] !== undefined) {
    const ref = parseReference(positionals[1]);
    if (ref.digest) throw new UsageError(`cannot name an image with a digest: "${positionals[1]}"`, 'give a name with a tag, e.g. myimage:1');
    name = formatReference(ref);
  }
  const platform = flags.platform ? parsePlatform(flags.platform as string) : undefined;
  const maxExpansion = maxLayerExpansion(flags);
  // Checked before anything is read: a bad --change imports nothing.
  const { applyConfigChange } = await import('../image/config-changes');
  const runConfig = changes.reduce(applyConfigChange, {});
  const { source, what, size } = openInput(positionals[0], 'import', 'nook import - myimage < rootfs.tar');
  const { importRootfs } = await import('../image/archive/import');
  const { ImageStore } = await import('../image/store/store');
  const { defaultCreated } = await import('../image/write-image');
  const record = await importRootfs(ImageStore.open(), source, what, {
    name,
    // SOURCE_DATE_EPOCH, as for build and commit: the same tarball gives the same image.
    created: new Date(defaultCreated()),
    platform,
    size,
    maxExpansion,
    runConfig,
    message: (flags.message as string | undefined) ?? `Imported from ${positionals[0]}`,
  });
  say(record.id);
  return 0;
}
