/**
 * `nook run`: parses the flags into a request (run-request.ts) and hands it
 * to the path that runs it: a container with state (run-container.ts), an
 * image (run-image.ts), or a directory tree (here, the lightest path).
 */
import { UsageError } from '../errors';
import { composeSpec } from '../container/compose';
import { hostIdentity } from '../sandbox/idmap';
import { parseArgs } from './args';
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
