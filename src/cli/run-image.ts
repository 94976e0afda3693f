/**
 * `nook run IMAGE [CMD...]`: find the image (pulling it as --pull says),
 * combine its config with the flags, give the container a writable layer of
 * its own over the image's layers, run, and delete that layer afterwards.
 */
import { describeErrno, NookError, UsageError } from '../errors';
import { rememberOverlayRefused, rootMode } from '../container/overlay-support';
import { StepError } from '../sandbox/diagnose';
import { ContainerRoot } from '../container/rootfs';
import { imageRunConfig, type ImageRunConfig } from '../image/run-config';
import { findImage, type Found } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';
import { runSandbox } from '../sandbox/process';
import type { HostIdentity } from '../sandbox/idmap';
import type { ParsedArgs } from './args';
import { mark } from '../util/timing';
import { buildRunSpec } from './run';

/**
 * What the kernel says when overlayfs can't be mounted in a user namespace at all: EPERM
 * (before Linux 5.11, or forbidden), ENODEV (no overlayfs), EINVAL (no `userxattr`),
 * EOPNOTSUPP (the store's filesystem can't be a layer). Other errors are real problems to report.
 */
const OVERLAY_UNSUPPORTED = new Set([1, 19, 22, 95]);

const POLICIES = ['missing', 'always', 'never'] as const;
type PullPolicy = (typeof POLICIES)[number];

function pullPolicy(v: unknown): PullPolicy {
  const p = (v ?? 'missing') as PullPolicy;
  if (!POLICIES.includes(p)) throw new UsageError(`invalid --pull "${String(v)}"`, 'use --pull missing (default), always or never');
  return p;
}

export async function ensureImage(store: ImageStore, name: string, parsed: ParsedArgs): Promise<Found> {
  const policy = pullPolicy(parsed.flags.pull);
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
  /** The image's run settings combined with the flags. */
  image: ImageRunConfig;
  /** The image's StopSignal, if it names one. */
  stopSignal?: string;
}

/** Finds (or pulls) the image named by the first positional argument and combines its config with the flags. */
export async function prepareImage(parsed: ParsedArgs): Promise<PreparedImage> {
  const [name, ...args] = parsed.positionals;
  const { flags } = parsed;
  const store = ImageStore.open();
  const found = await ensureImage(store, name, parsed);
  const config = store.config(found.record);
  const image = imageRunConfig(
    config.config,
    {
      entrypoint: flags.entrypoint as string | undefined,
      args,
      workdir: flags.workdir as string | undefined,
      user: flags.user as string | undefined,
    },
    name,
  );
  mark('image found');
  return { store, found, name, image, stopSignal: config.config?.StopSignal };
}

/**
 * Runs `attempt` on a container root in overlay mode, and once more on a
 * private copy when the kernel refuses overlayfs in a user namespace (the
 * overlay mount is the child's first step: nothing ran yet, so trying again is safe).
 */
/** The kernel refused overlayfs in the user namespace (the sandbox's first step): a copy of the layers will do. */
export function isOverlayRefusal(e: unknown): e is StepError {
  return e instanceof StepError && e.step.args[2] === 'overlay' && OVERLAY_UNSUPPORTED.has(e.errno);
}

export async function withRootFallback<T>(img: PreparedImage, attempt: (root: ContainerRoot) => Promise<T>): Promise<T> {
  const { store, found, name } = img;
  const mode = rootMode(store);
  try {
    return await attempt(await ContainerRoot.create(store, found.record, name, mode));
  } catch (e) {
    if (!(mode === 'overlay' && isOverlayRefusal(e))) throw e;
    const why = describeErrno(e.errno);
    rememberOverlayRefused(store, why);
    process.stderr.write(`nook: the kernel refuses overlayfs here (${why}); using a private copy of the image's layers instead (slower start)\n`);
    return attempt(await ContainerRoot.create(store, found.record, name, 'copy'));
  }
}

export async function runImage(parsed: ParsedArgs, host: HostIdentity): Promise<number> {
  const img = await prepareImage(parsed);
  return withRootFallback(img, (root) => runOn(root, parsed, host, img.image));
}

async function runOn(root: ContainerRoot, parsed: ParsedArgs, host: HostIdentity, image: ImageRunConfig): Promise<number> {
  mark('container root ready');
  try {
    const spec = buildRunSpec(parsed, host, { rootfs: root.rootfs, overlay: root.overlay, image });
    return await runSandbox(spec, host);
  } finally {
    await root.remove();
  }
}
