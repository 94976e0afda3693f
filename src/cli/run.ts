/**
 * `nook run`: parses the flags into a request (run-request.ts) and hands it
 * to the path that runs it: a container with state (run-container.ts), an
 * image (run-image.ts), or a directory tree (here, the lightest path).
 */
import { UsageError } from '../errors';
import { composeSpec } from '../container/compose';
import { hostIdentity } from '../sandbox/idmap';
import { parseArgs, type ParsedArgs } from './args';
import { wantsContainer } from './container-flags';
import { RUN_FLAGS, runUsage } from './run-flags';
import { afterTimeout, requestFromFlags, rootfsFromFlags, timeoutHooks } from './run-request';
import { mark } from '../util/timing';

export async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, RUN_FLAGS, 'run');
  if (parsed.flags.help) {
    process.stdout.write(runUsage());
    return 0;
  }
  mark('flags parsed');
  if (parsed.flags['conmon-pidfile'] !== undefined && !parsed.flags.detach) (await import('./pid-file')).writePidFile(parsed.flags['conmon-pidfile'] as string, process.pid);
  if (parsed.flags.rmi) return runThenRemoveImage(parsed);
  const host = hostIdentity();
  mark('host identity');
  if (wantsContainer(parsed.flags)) {
    const { runContainer } = await import('./run-container');
    return runContainer(parsed, host);
  }
  if (parsed.flags.rootfs === undefined) {
    if (!parsed.positionals.length)
      throw new UsageError('nook run needs an image (or --rootfs DIR)', 'e.g. nook run debian:12 cat /etc/os-release, or nook run --rootfs ./rootfs -- sh');
    const { runImage } = await import('./run-image');
    return runImage(parsed, host);
  }
  const rootfs = rootfsFromFlags(parsed);
  const req = requestFromFlags(parsed, { image: false });
  const timeout = parsed.flags.timeout === undefined ? undefined : timeoutHooks(parsed.flags);
  mark('request');
  if (req.mounts.volumes || req.mounts.chownBinds) {
    const { runWithVolumes } = await import('./run-volumes');
    return runWithVolumes(req, { rootfs }, host);
  }
  const spec = composeSpec(req, host, { rootfs });
  mark('composed');
  const { runSandbox } = await import('../sandbox/process');
  return afterTimeout(await runSandbox(spec, host, timeout ? { cancel: timeout.cancel, onStarted: timeout.started } : {}), timeout);
}

/** podman's --rmi: the run, as with --rm, then its image removed unless another container uses it. */
async function runThenRemoveImage(parsed: ParsedArgs): Promise<number> {
  if (parsed.flags.detach) throw new UsageError('--rmi is not supported with -d', 'nook removes the image when a foreground run ends; remove it yourself after a detached one: nook rmi IMAGE');
  if (parsed.flags.rootfs !== undefined || !parsed.positionals.length) throw new UsageError('--rmi needs an image', 'e.g. nook run --rmi debian:12 true');
  const image = parsed.positionals[0];
  const host = hostIdentity();
  const flags = { ...parsed.flags, rm: true, rmi: false };
  const remove = async () => (await import('./run-rmi')).removeImageAfterRun(image);
  let code: number;
  try {
    if (wantsContainer(flags)) code = await (await import('./run-container')).runContainer({ ...parsed, flags }, host);
    else code = await (await import('./run-image')).runImage({ ...parsed, flags }, host);
  } catch (e) {
    await remove().catch(() => undefined); // the run's own error is the one to report
    throw e;
  }
  await remove();
  return code;
}
