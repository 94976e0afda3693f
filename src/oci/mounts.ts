/**
 * An OCI config's `mounts` as nook's ordered mount list (src/sandbox/mounts.ts
 * compiles it into plan steps): the OCI option names as MS_* flags, the rest
 * as filesystem data, propagation as a step of its own after the mount, and
 * what a user namespace cannot mount (sysfs without a network namespace of
 * its own, cgroup v1 hierarchies) as a recursive bind of the host's instead,
 * as runc does for rootless containers.
 */
import fs = require('node:fs');
import path = require('node:path');
import { MS } from '../../ffi/linux';
import { NookError } from '../errors';
import type { MountEntry } from '../sandbox/mounts';
import type { OciMount } from './config';
import { MOUNT_OPTIONS } from './features';

/** Options that say how the runtime works rather than how the kernel mounts (accepted, no effect here). */
const RUNTIME_ONLY = new Set(['tmpcopyup', 'idmap', 'ridmap']);

/** What the translation needs to know of the container being made. */
export interface MountContext {
  bundle: string;
  /** The container gets a network namespace of its own (else sysfs is the host's, bound). */
  ownNetns: boolean;
  /** The container gets an ipc namespace of its own (else mqueue is the host's, bound). */
  ownIpcns: boolean;
  /** Whether an id is mapped in the container's user namespace (devpts' gid=5 needs it). */
  gidMapped(gid: number): boolean;
}

export interface ParsedOptions {
  flags: number;
  propagation: number;
  bind?: 'bind' | 'rbind';
  data: string[];
}

export function parseMountOptions(options: readonly string[]): ParsedOptions {
  const out: ParsedOptions = { flags: 0, propagation: 0, data: [] };
  for (const o of options) {
    const e = MOUNT_OPTIONS[o];
    if (!e) {
      if (!RUNTIME_ONLY.has(o)) out.data.push(o);
      continue;
    }
    if (e.set) out.flags |= e.set;
    if (e.clear) out.flags &= ~e.clear;
    if (e.propagation) out.propagation = e.propagation | (e.recursive ? MS.REC : 0);
    if (e.bind) out.bind = e.recursive ? 'rbind' : 'bind';
    // rro, rnosuid...: recursive on a recursive bind, where nook's bind applies the flags to the whole tree.
  }
  return out;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function hostBind(m: OciMount, source: string, opts: ParsedOptions, what: string): MountEntry {
  return {
    destination: m.destination, type: 'bind', source, flags: MS.BIND | MS.REC | (opts.flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC)),
    create: 'dir', needsIdMaps: true, what,
  };
}

/** One OCI mount as one or two entries (the second changes propagation). */
export function ociMountEntries(m: OciMount, ctx: MountContext, index: number): MountEntry[] {
  const opts = parseMountOptions(m.options ?? []);
  const type = m.type ?? (opts.bind ? 'bind' : '');
  let entry: MountEntry;
  if (type === 'bind' || opts.bind) {
    if (!m.source) throw new NookError(`config.json: mounts[${index}] (${m.destination}) is a bind mount without a source`, { hint: 'set "source" to a host path' });
    const source = path.resolve(ctx.bundle, m.source);
    if (!fs.existsSync(source))
      throw new NookError(`config.json: mounts[${index}]: the source ${source} of the bind mount on ${m.destination} does not exist`, { hint: 'create it, or fix the path' });
    const rec = opts.bind === 'rbind' ? MS.REC : 0;
    entry = {
      destination: m.destination, type: 'bind', source, flags: MS.BIND | rec | (opts.flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC)),
      create: isDirectory(source) ? 'dir' : 'file', needsIdMaps: true, what: `bind ${source} on ${m.destination}`,
    };
  } else if (!type) {
    throw new NookError(`config.json: mounts[${index}] (${m.destination}) has no type`, { hint: 'give a filesystem type ("tmpfs", "proc", ...) or "bind" with a source' });
  } else if (type === 'sysfs' && !ctx.ownNetns) {
    // A sysfs of its own needs a network namespace owned by the container's user namespace.
    entry = hostBind(m, '/sys', opts, `bind the host's /sys on ${m.destination}`);
  } else if (type === 'mqueue' && !ctx.ownIpcns) {
    entry = hostBind(m, '/dev/mqueue', opts, `bind the host's /dev/mqueue on ${m.destination}`);
  } else if (type === 'cgroup') {
    // cgroup v1 hierarchies cannot be mounted from a user namespace: the host's, bound (read-only when asked).
    entry = hostBind(m, '/sys/fs/cgroup', opts, `bind the host's cgroup hierarchies on ${m.destination}`);
  } else {
    const data = type === 'devpts' ? opts.data.filter((o) => !/^gid=\d+$/.test(o) || ctx.gidMapped(Number(o.slice(4)))) : opts.data;
    entry = {
      destination: m.destination, type, source: m.source ?? type, flags: opts.flags, data: data.length ? data.join(',') : null,
      create: 'dir', needsIdMaps: true, what: `mount ${type} on ${m.destination}`,
    };
  }
  const list = [entry];
  if (opts.propagation)
    list.push({
      destination: m.destination, type: 'none', source: null, flags: opts.propagation, create: 'none', needsIdMaps: true,
      what: `set the propagation of ${m.destination}`,
    });
  return list;
}
