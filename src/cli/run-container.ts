/**
 * `nook run -d` and `nook run --name`: a container with state, listed by
 * `nook ps`. Detached, it runs under a supervisor and nook prints its id;
 * named in the foreground, nook itself keeps it (its lock, its exit record).
 * Without --rm the container, and its writable layer, stay until `nook rm`.
 */
import fs = require('node:fs');
import { NookError } from '../errors';
import { asDetached, createContainer, freeName, removeContainer, startDetached } from '../container/lifecycle';
import type { ContainerRoot } from '../container/rootfs';
import type { RunRequest } from '../container/request';
import { encodeSpec, type StoredRequest } from '../container/spec-codec';
import { ContainerStore, TIMED_OUT_CODE, writeExitRecord, type ContainerDir } from '../container/state';
import { processStartTime } from '../util/proc-stat';
import { randomHex } from '../util/random';
import type { HostIdentity } from '../sandbox/idmap';
import type { SandboxSpec } from '../sandbox/spec';
import { FileLock } from '../util/lock';
import { signalContainer, untilReleased } from '../container/control';
import type { ParsedArgs } from './args';
import { containerOptions, parseSignal, type ContainerOptions, type OutputStreams } from './container-flags';
import { composeSpec } from '../container/compose';
import { afterTimeout, requestFromFlags, rootfsFromFlags, timeoutHooks, timeoutSeconds } from './run-request';
import { SIGNAL } from '../../ffi/linux';


type Timeout = ReturnType<typeof timeoutHooks>;

interface Prepared {
  spec: SandboxSpec;
  /** What the spec was composed from, kept in the record for `nook start`. */
  stored: StoredRequest;
  image: string;
  stopSignal: number;
  /** The image's labels, under the --label ones. */
  imageLabels?: Record<string, string>;
  root?: ContainerRoot;
  /** A --rootfs container's id, drawn before it is created: its state directory holds its /run/.containerenv. */
  id?: string;
}

/**
 * `nook run` with state, or `nook create` (`createOnly`): the same request,
 * kept as a detached container in status "created" for `nook start`.
 */
export async function runContainer(parsed: ParsedArgs, host: HostIdentity, createOnly = false): Promise<number> {
  // A created container is started by `nook start`, under a supervisor: as one run with -d.
  // create -a is accepted, as docker's: what to attach is `start -a`'s choice.
  const opts = containerOptions(createOnly ? { ...parsed.flags, detach: true, attach: undefined } : parsed.flags);
  if (createOnly) opts.createOnly = true;
  else if (opts.detach) opts.pidfile = parsed.flags['conmon-pidfile'] as string | undefined;
  const timeout = timeoutHooks(parsed.flags);
  // Under a supervisor (-d, -a, create): it kills the container at its timeout, at every start.
  opts.timeout = timeoutSeconds(parsed.flags);
  const store = ContainerStore.open();
  if (opts.replace) await replaceContainer(store, opts.name!);
  // Its name is known before the spec is composed: /etc/hosts and /run/.containerenv name it.
  const drawn = opts.name === undefined ? freeName(store) : undefined;
  const name = opts.name ?? drawn!;
  if (parsed.flags.rootfs !== undefined) {
    const rootfs = rootfsFromFlags(parsed);
    const request = { ...requestFromFlags(parsed, { image: false }), name };
    if (request.mounts.volumes || request.mounts.chownBinds) await (await import('../container/volume-attach')).attachVolumes(request, { rootfs }, host);
    // Its /run/.containerenv (and /.dockerenv) in its own state directory, bound where the tree has them (compose.ts),
    // written once the directory exists (runPrepared).
    const id = randomHex(32);
    const root = { rootfs, containerId: id, identityDir: store.dir(id).dir };
    const spec = composeSpec(request, host, root);
    const stored = { request, root };
    return runPrepared(store, host, opts, { spec, stored, image: rootfs, stopSignal: opts.stopSignal ?? SIGNAL.SIGTERM, id }, timeout);
  }
  const { prepareImage, onImageRoot, imageRoot } = await import('./run-image');
  const img = await prepareImage(parsed);
  img.request.name = name;
  const imageSignal = img.config?.StopSignal ? parseSignal(img.config.StopSignal, `the image's StopSignal`) : SIGNAL.SIGTERM;
  return onImageRoot(img, async (root) => {
    const source = imageRoot(img, root);
    let spec: SandboxSpec;
    try {
      if (img.request.mounts.volumes || img.request.mounts.chownBinds) await (await import('../container/volume-attach')).attachVolumes(img.request, source, host);
      spec = composeSpec(img.request, host, source);
    } catch (e) {
      await root.remove();
      await dropAnonymousVolumes(img.request);
      throw e;
    }
    const stored = { request: img.request, root: source };
    return runPrepared(store, host, opts, { spec, stored, image: img.name, stopSignal: opts.stopSignal ?? imageSignal, imageLabels: img.config?.Labels ?? undefined, root }, timeout);
  });
}

async function runPrepared(store: ContainerStore, host: HostIdentity, opts: ContainerOptions, p: Prepared, timeout?: Timeout): Promise<number> {
  // -a with some output left out: run under the supervisor, whose log has it all (as docker's), and follow the attached streams.
  const supervised = opts.detach || opts.attach !== undefined;
  const spec: SandboxSpec = supervised ? asDetached(p.spec) : p.spec;
  let created: { dir: ContainerDir; lock: FileLock };
  try {
    created = await createContainer(store, {
      id: p.id ?? p.root?.id,
      name: opts.name,
      drawnName: p.stored.request.name,
      image: p.image,
      command: spec.argv,
      detached: supervised,
      autoRemove: opts.autoRemove,
      restart: opts.restart,
      stopSignal: p.stopSignal,
      stopTimeout: opts.stopTimeout,
      ...(supervised && opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
      labels: opts.labels || p.imageLabels ? { ...p.imageLabels, ...opts.labels } : undefined,
      log: opts.log,
      // docker's StdinOnce: -i without -d (create, or a foreground run that may be started again).
      stdinOnce: p.spec.interactive && !p.spec.tty && (opts.createOnly || !opts.detach) ? true : undefined,
      rootDir: p.root?.dir,
      // The hostname it got stays its own across starts.
      spec: encodeSpec(spec, { ...p.stored, request: { ...p.stored.request, hostname: spec.hostname } }),
    });
  } catch (e) {
    await p.root?.remove();
    await dropAnonymousVolumes(p.stored.request);
    throw e;
  }
  const { dir, lock } = created;
  if (p.id) {
    // A --rootfs container's identity files (compose.ts), now that its directory exists (and its name is final).
    const { writeIdentityFiles } = await import('../container/host-files');
    try {
      writeIdentityFiles(dir.dir, { name: dir.config().name, id: dir.id, image: p.image, imageId: '' });
    } catch (e) {
      await removeContainer(store, dir);
      lock.release();
      throw e;
    }
  }
  if (opts.cidfile !== undefined) writeCidfile(opts.cidfile, dir.id);
  if (p.root) {
    p.root.keep(dir.dir);
    p.root.release();
  }
  if (opts.createOnly) {
    lock.release(); // created: `nook start` takes the lock when it starts it
    fs.writeSync(1, `${dir.id}\n`);
    return 0;
  }
  if (opts.attach) return runAttached(store, dir, lock, host, spec, opts.attach);
  return opts.detach ? runDetached(store, dir, lock, host, spec, true, opts.pidfile) : runNamedForeground(store, dir, lock, spec, host, opts, timeout);
}

/** docker's run -a: the attached output streams until the container exits, then its status; the id first when no output is attached. */
async function runAttached(store: ContainerStore, dir: ContainerDir, lock: FileLock, host: HostIdentity, spec: SandboxSpec, streams: OutputStreams): Promise<number> {
  if (!streams.stdout && !streams.stderr) fs.writeSync(1, `${dir.id}\n`);
  const { attachOutput } = await import('./attach');
  return attachOutput(store, dir, { start: () => runDetached(store, dir, lock, host, spec, false), sigProxy: true, streams, stdin: spec.interactive });
}

async function runDetached(store: ContainerStore, dir: ContainerDir, lock: FileLock, host: HostIdentity, spec: SandboxSpec, printId = true, pidfile?: string): Promise<number> {
  try {
    const state = await startDetached(store, dir, lock.descriptor(), host, spec); // just composed: no need to again
    if (pidfile !== undefined && state.supervisorPid) (await import('./pid-file')).writePidFile(pidfile, state.supervisorPid);
  } catch (e) {
    // Refused overlayfs: the caller tries again on a copy, under the same name.
    if (dir.config().autoRemove || (await isOverlayRefusalError(e))) await removeContainer(store, dir);
    lock.release();
    throw e;
  }
  lock.handOver(); // the supervisor holds the lock now
  if (printId) fs.writeSync(1, `${dir.id}\n`);
  return 0;
}

/** A named container in the foreground: nook is its keeper, so `nook ps`, `stop` and `wait` see it while it runs. */
async function runNamedForeground(
  store: ContainerStore,
  dir: ContainerDir,
  lock: FileLock,
  spec: SandboxSpec,
  host: HostIdentity,
  opts: ContainerOptions,
  timeout?: Timeout,
): Promise<number> {
  const { runSandbox } = await import('../sandbox/process');
  let code: number;
  // "running" before the clone: the command may print and be SIGKILLed together with nook before onStarted runs,
  // and a running container whose keeper is gone reads as exited (137), never as created.
  await dir.updateState((s) => ({ ...s, status: 'running', startedAt: new Date().toISOString(), restartCount: 0 }));
  try {
    code = await runSandbox(spec, host, {
      onStarted: async (pid, ports) => {
        timeout?.started();
        await dir.updateState((s) => ({ ...s, pid, pidStart: processStartTime(pid), ports }));
      },
      cancel: timeout?.cancel,
      // docker's and podman's: a kept container's output is logged (and still shown) also in the foreground.
      log: opts.autoRemove || opts.log.none ? undefined : { path: dir.p('container.log'), maxSize: opts.log.maxSize, maxFiles: opts.log.maxFiles },
    });
  } catch (e) {
    code = e instanceof NookError ? e.exitCode : 125;
    const refused = await isOverlayRefusalError(e);
    await finishForeground(store, dir, code, { ...opts, autoRemove: opts.autoRemove || refused });
    lock.release();
    throw e;
  }
  // `nook stop` of a command without a SIGNAL.SIGTERM handler killed it: its code is still 128 + the stop signal.
  const sent = dir.state().stopSignalSent;
  if (code === 137 && sent) code = 128 + sent;
  if (timeout?.cancel.aborted) code = TIMED_OUT_CODE;
  await finishForeground(store, dir, code, opts);
  lock.release();
  return afterTimeout(code, timeout);
}

/** A container that never came to be leaves no anonymous volumes behind. */
async function dropAnonymousVolumes(req: RunRequest): Promise<void> {
  if (req.mounts.volumes?.some((v) => v.anonymous)) await (await import('../container/volumes')).removeAnonymousVolumes(req.mounts.volumes);
}

/** docker's --cidfile: the id, written once the container exists; a file that appeared meanwhile is not overwritten. */
function writeCidfile(file: string, id: string): void {
  try {
    fs.writeFileSync(file, id, { flag: 'wx', mode: 0o644 });
  } catch (e) {
    throw new NookError(`writing the container id to ${file}: ${(e as Error).message}`, { hint: 'give --cidfile a path that does not exist yet in a directory you can write' });
  }
}

/** podman's --replace: a container of that name is removed first, killed if it runs (as rm -f). */
async function replaceContainer(store: ContainerStore, name: string): Promise<void> {
  const id = store.nameOwner(name);
  if (!id) return;
  const dir = store.dir(id);
  let lock = FileLock.tryAcquire(dir.p('lock'));
  if (!lock) {
    await dir.updateState((s) => ({ ...s, stopRequested: true }));
    await signalContainer(store, dir, SIGNAL.SIGKILL, { stopping: true });
    await untilReleased(dir);
    lock = await FileLock.acquire(dir.p('lock'));
  }
  try {
    await removeContainer(store, dir);
  } finally {
    lock.release();
  }
}

async function isOverlayRefusalError(e: unknown): Promise<boolean> {
  return (await import('../container/image-root')).isOverlayRefusal(e);
}

async function finishForeground(store: ContainerStore, dir: ContainerDir, code: number, opts: ContainerOptions): Promise<void> {
  const finishedAt = new Date().toISOString();
  writeExitRecord(dir.p('exitcode'), code, finishedAt);
  await dir.updateState((s) => ({ ...s, status: 'exited', exitCode: code, finishedAt, ports: undefined }));
  if (opts.autoRemove) await removeContainer(store, dir);
}
