/**
 * `nook run IMAGE [CMD...]`: find the image (pulling it as --pull says),
 * give the container a writable layer of its own over the image's layers,
 * compose the request with the image's config, run, and delete that layer
 * afterwards.
 */
import { FlagError, NookError, UsageError } from '../errors';
import { composeSpec, type RootSource } from '../container/compose';
import { withRootFallback } from '../container/image-root';
import type { ContainerRoot } from '../container/rootfs';
import type { RunRequest } from '../container/request';
import type { ContainerConfig } from '../image/config';
import { findImage, type Found } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import type { HostIdentity } from '../sandbox/idmap';
import { mark } from '../util/timing';
import type { ParsedArgs } from './args';
import { afterTimeout, requestFromFlags, timeoutHooks } from './run-request';

const POLICIES = ['missing', 'always', 'never'] as const;
type PullPolicy = (typeof POLICIES)[number];

function pullPolicy(v: unknown): PullPolicy {
  const p = (v ?? 'missing') as PullPolicy;
  if (!POLICIES.includes(p)) throw new UsageError(`invalid --pull "${String(v)}"`, 'use --pull missing (default), always or never');
  return p;
}

export async function ensureImage(store: ImageStore, name: string, parsed: ParsedArgs): Promise<Found> {
  const policy = pullPolicy(parsed.flags.pull);
  if (name.startsWith('docker-archive:') || name.startsWith('oci-archive:')) return (await import('./run-archive')).loadForRun(store, name);
  const local = policy === 'always' ? undefined : findImage(store, name);
  if (local) return local;
  if (policy === 'never')
    throw new NookError(`image ${name} is not in the store and --pull never forbids pulling it`, { hint: `pull it first: nook pull ${name}` });
  // Loaded only to pull: the registry client brings in TLS, which `run` of a stored image never needs.
  const [{ pullImage }, { PullProgress, progressMode }, { pullOptions }] = await Promise.all([
    import('../image/pull'),
    import('./progress'),
    import('./pull'),
  ]);
  const progress = new PullProgress(2, progressMode(2, Boolean(parsed.flags.quiet)));
  if (policy === 'missing') progress.say(`Unable to find image '${name}' locally`);
  const record = await pullImage(store, name, pullOptions(parsed.flags, progress));
  progress.draw(true);
  return { record, name };
}

export interface PreparedImage {
  store: ImageStore;
  found: Found;
  name: string;
  config?: ContainerConfig;
  request: RunRequest;
}

/** podman's --image-volume: what becomes of the image's VOLUMEs. */
function imageVolumeMode(v: unknown): 'bind' | 'tmpfs' | 'ignore' {
  if (v === undefined) return 'bind';
  if (v === 'bind' || v === 'tmpfs' || v === 'ignore') return v;
  throw new FlagError(`invalid --image-volume "${String(v)}"`, 'one of bind, tmpfs, ignore');
}

/** The request the flags make, and the image named by the first positional argument (pulled when the policy says so). */
export async function prepareImage(parsed: ParsedArgs): Promise<PreparedImage> {
  const request = requestFromFlags(parsed, { image: true });
  const store = ImageStore.open();
  const found = await ensureImage(store, parsed.positionals[0], parsed);
  // An archive's image runs under the name it was loaded as.
  const name = /^(docker|oci)-archive:/.test(parsed.positionals[0]) ? (found.name ?? found.record.id) : parsed.positionals[0];
  const config = store.config(found.record).config;
  const imageVolumes = imageVolumeMode(parsed.flags['image-volume']);
  if (config?.Volumes) (await import('../container/volume-attach')).addImageVolumes(request, config, imageVolumes);
  mark('image found');
  return { store, found, name, config, request };
}

/** Where the container's / comes from: its root over the image's layers, and the image's config. */
export function imageRoot(img: PreparedImage, root: ContainerRoot): RootSource {
  return {
    rootfs: root.rootfs,
    overlay: root.overlay,
    image: { name: img.name, config: img.config, id: img.found.record.id },
    hostFiles: root.hostFilesDir,
    containerId: root.id,
  };
}

/** Runs `attempt` on the image's container root, on a private copy of the layers where overlayfs is refused. */
export function onImageRoot<T>(img: PreparedImage, attempt: (root: ContainerRoot) => Promise<T>): Promise<T> {
  const withMtab = (root: ContainerRoot) => {
    root.addMtab();
    return attempt(root);
  };
  return withRootFallback(img.store, img.found.record, img.name, withMtab, (m) => process.stderr.write(`nook: ${m}\n`));
}

export async function runImage(parsed: ParsedArgs, host: HostIdentity): Promise<number> {
  const img = await prepareImage(parsed);
  const timeout = parsed.flags.timeout === undefined ? undefined : timeoutHooks(parsed.flags);
  return onImageRoot(img, async (root) => {
    mark('container root ready');
    try {
      if (img.request.mounts.volumes || img.request.mounts.chownBinds) {
        const { runWithVolumes } = await import('./run-volumes');
        return await runWithVolumes(img.request, imageRoot(img, root), host);
      }
      const spec = composeSpec(img.request, host, imageRoot(img, root));
      const { runSandbox } = await import('../sandbox/process');
      return afterTimeout(await runSandbox(spec, host, timeout ? { cancel: timeout.cancel, onStarted: timeout.started } : {}), timeout);
    } finally {
      await root.remove();
    }
  });
}
