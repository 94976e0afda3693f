/**
 * A run without a container record (`nook run IMAGE` or `--rootfs` without
 * --name or -d) that has volumes: they are made ready first, and its
 * anonymous volumes go with it afterwards, as docker's `run --rm` removes
 * them (nothing is left that could ever mount them again).
 */
import { composeSpec, type RootSource } from '../container/compose';
import type { RunRequest } from '../container/request';
import { attachVolumes } from '../container/volume-attach';
import { removeAnonymousVolumes } from '../container/volumes';
import type { HostIdentity } from '../sandbox/idmap';

export async function runWithVolumes(req: RunRequest, root: RootSource, host: HostIdentity): Promise<number> {
  await attachVolumes(req, root, host);
  try {
    const spec = composeSpec(req, host, root);
    const { runSandbox } = await import('../sandbox/process');
    return await runSandbox(spec, host);
  } finally {
    await removeAnonymousVolumes(req.mounts.volumes ?? []);
  }
}
