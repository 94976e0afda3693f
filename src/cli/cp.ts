/**
 * `nook cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-`, `nook cp [-a] [-L]
 * SRC_PATH|- CONTAINER:DEST_PATH` and `nook export [-o FILE] CONTAINER`,
 * with docker's arguments, path rules, messages and exit codes (1 for any
 * failure, as docker's).
 */
import fs = require('node:fs');
import tty = require('node:tty');
import { NookError } from '../errors';
import { noteStdoutStreamUsed } from '../util/stdout';
import { flagHelp, parseArgs, type FlagSpec } from './args';

const CP_FLAGS: readonly FlagSpec[] = [
  { name: 'archive', short: 'a', type: 'boolean', help: 'archive mode: keep the owners (uid/gid) the files have at the source' },
  { name: 'follow-link', short: 'L', type: 'boolean', help: 'follow a symbolic link given as SRC_PATH' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'accepted for docker; nook prints no progress anyway' },
  // podman's --pause (default true): nook pauses a running container always, so that it cannot swap a directory for a symlink mid-copy.
  { name: 'pause', type: 'boolean', help: "accepted for podman's scripts; nook always pauses a running container while it copies" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const CP_USAGE = `Usage: nook cp [FLAGS] CONTAINER:SRC_PATH DEST_PATH|-
       nook cp [FLAGS] SRC_PATH|- CONTAINER:DEST_PATH
       nook cp [FLAGS] CONTAINER:SRC_PATH CONTAINER:DEST_PATH

Copies files or directories between a container (running or stopped) and the
host, or between two containers. '-' as SRC_PATH reads a tar from standard input and extracts it into the
container's directory DEST_PATH; '-' as DEST_PATH writes SRC_PATH as a tar to
standard output. SRC_PATH ending in /. copies a directory's contents.
`;

/** docker's argument errors exit 1 (its flag errors 125, as parseArgs's). */
const argError = (message: string) => new NookError(message, { exitCode: 1, hint: "see 'nook cp --help'" });

interface CpArg {
  container?: string;
  path: string;
}

/** docker's splitCpArg: an absolute path or one without ':' is local; else CONTAINER:PATH at the first ':'. */
function splitArg(arg: string): CpArg {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i < 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** A host path made absolute without cleaning it: a trailing `/` or `/.` keeps its meaning. */
function hostPath(p: string): string {
  return p.startsWith('/') ? p : `${process.cwd().replace(/\/$/, '')}/${p}`;
}

async function resolveContainer(ref: string) {
  const { ContainerStore } = await import('../container/state');
  try {
    return ContainerStore.open().resolve(ref);
  } catch (e) {
    if (e instanceof NookError && e.message.startsWith('no such container')) throw new NookError(`No such container: ${ref}`, { exitCode: 1 });
    throw e;
  }
}

export async function cpCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, CP_FLAGS, 'cp');
  if (flags.help) {
    process.stdout.write(`${CP_USAGE}\nFlags:\n${flagHelp(CP_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length !== 2) throw argError('"nook cp" requires exactly 2 arguments.');
  const [src, dest] = positionals.map(splitArg);
  if (src.container === undefined && dest.container === undefined) throw argError('must specify at least one container source');
  if (src.container === '' || dest.container === '') throw argError('container name is empty');
  const opts = { archive: Boolean(flags.archive), follow: Boolean(flags['follow-link']) };
  const files = await import('../container/copy/container-files');
  if (src.container !== undefined && dest.container !== undefined) {
    // podman's copy from one container to another (docker refuses it).
    if (src.path === '' || dest.path === '') throw argError('filesystem path is empty');
    if (src.path === '-' || dest.path === '-') throw argError('"-" copies between a container and a tar stream, not between containers');
    const from = await resolveContainer(src.container);
    const to = await resolveContainer(dest.container);
    await files.copyBetweenContainers(from, src.container, src.path, to, dest.container, dest.path, opts);
    return 0;
  }
  if (src.container !== undefined) {
    const dir = await resolveContainer(src.container);
    if (src.path === '') throw argError('filesystem path is empty');
    if (dest.path === '-') {
      noteStdoutStreamUsed();
      await files.tarFromContainer(dir, src.container, src.path, process.stdout, opts);
    } else {
      // A pipe, terminal or device (/dev/stdout) is not a place for files: '-' writes a tar there.
      const st = fs.statSync(hostPath(dest.path), { throwIfNoEntry: false });
      if (st && !st.isDirectory() && !st.isFile())
        throw new NookError(`invalid destination: "${dest.path}" must be a directory or a regular file`, { exitCode: 1, hint: `to write to standard output, give - (a tar): nook cp ${src.container}:${src.path} -` });
      await files.copyFromContainer(dir, src.container, src.path, hostPath(dest.path), opts);
    }
    return 0;
  }
  const ref = dest.container!;
  const dir = await resolveContainer(ref);
  if (dest.path === '') throw argError('filesystem path is empty');
  if (src.path === '-') await files.tarIntoContainer(dir, ref, process.stdin, dest.path, opts);
  else await files.copyIntoContainer(dir, ref, hostPath(src.path), dest.path, opts);
  return 0;
}

const EXPORT_FLAGS: readonly FlagSpec[] = [
  { name: 'output', short: 'o', type: 'string', value: 'FILE', help: 'write to FILE instead of standard output' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export async function exportCommand(argv: string[]): Promise<number> {
  // -o may follow the container, as docker's and podman's export take it.
  const { flags, positionals } = parseArgs(argv, EXPORT_FLAGS, 'export', { interleaved: true });
  if (flags.help) {
    process.stdout.write(`Usage: nook export [FLAGS] CONTAINER\n\nWrites a container's files (its image's with its own changes) as a tar archive.\n\nFlags:\n${flagHelp(EXPORT_FLAGS)}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new NookError('"nook export" requires exactly 1 argument.', { exitCode: 1, hint: 'e.g. nook export -o files.tar mycontainer' });
  const file = flags.output as string | undefined;
  // docker's check and words.
  if (!file && tty.isatty(1)) throw new NookError('cowardly refusing to save to a terminal. Use the -o flag or redirect', { exitCode: 1 });
  const ref = positionals[0];
  const dir = await resolveContainer(ref);
  const { exportContainer } = await import('../container/copy/container-files');
  if (!file) {
    noteStdoutStreamUsed();
    await exportContainer(dir, ref, process.stdout);
    return 0;
  }
  // As docker's CopyToFile: a temporary file next to FILE, renamed once whole; nothing is left on failure.
  const out = (await import('../image/archive/output')).fileOutput(file);
  try {
    await exportContainer(dir, ref, out.stream);
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return 0;
}
