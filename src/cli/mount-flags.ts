/**
 * -v/--volume and --mount as docker reads them: a host path (bind), a volume
 * name (named volume, made on first use) or a lone container path (a new
 * anonymous volume); --mount's type=bind|volume|tmpfs with docker's keys and
 * messages. Options :ro/:rw, :z/:Z (SELinux labels: no-ops, nook does no
 * SELinux), :U (podman's: chown to the container's user), nocopy.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError, UsageError } from '../errors';
import type { VolumeMount } from '../container/request';
import type { BindMount, TmpfsMount } from '../sandbox/spec';
import { randomHex } from '../util/random';
import { MS } from '../../ffi/linux';
import { stringList, type FlagValues } from './args';

export interface ParsedMounts {
  binds: BindMount[];
  tmpfs: TmpfsMount[];
  volumes: VolumeMount[];
  /** Host bind sources to chown to the container's user (:U). */
  chownBinds: string[];
}

/** podman's -v options for the mount's flags (the defaults: exec, suid, dev). */
const MOUNT_FLAG_OPTIONS: Record<string, { bit: number; set: boolean }> = {
  noexec: { bit: MS.NOEXEC, set: true },
  exec: { bit: MS.NOEXEC, set: false },
  nosuid: { bit: MS.NOSUID, set: true },
  suid: { bit: MS.NOSUID, set: false },
  nodev: { bit: MS.NODEV, set: true },
  dev: { bit: MS.NODEV, set: false },
};

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function absoluteTarget(spec: string, type: string, dest: string): string {
  if (!dest.startsWith('/'))
    throw new UsageError(`invalid mount config for type "${type}": invalid mount path: '${dest}' mount path must be absolute`, `in ${spec}`);
  return path.posix.normalize(dest);
}

function bindSource(src: string, type = 'bind'): string {
  const source = path.resolve(src);
  if (!fs.existsSync(source))
    throw new NookError(type === 'bind' ? `invalid mount config for type "bind": bind source path does not exist: ${source}` : `bind mount source ${source} does not exist`, {
      hint: `create it first (mkdir -p ${source})`,
    });
  return source;
}

/** One -v value. */
function parseVolumeFlag(v: string, out: ParsedMounts): void {
  const parts = v.split(':');
  if (parts.length === 1) {
    if (!v.startsWith('/')) throw new UsageError(`invalid volume specification: '${v}'`, 'use -v /container/path (an anonymous volume), -v NAME:/path or -v /host/path:/path[:ro]');
    out.volumes.push({ name: randomHex(32), target: absoluteTarget(v, 'volume', v), readOnly: false, anonymous: true });
    return;
  }
  if (parts.length > 3 || !parts[0] || !parts[1]) throw new UsageError(`invalid volume specification: '${v}'`, 'use -v HOST:DEST[:OPTS], -v NAME:DEST[:OPTS] or -v DEST');
  const [src, dest, mode = ''] = parts;
  let readOnly = false;
  let chown = false;
  let noCopy = false;
  let rw = 0;
  let flags = 0;
  for (const o of mode.split(',').filter(Boolean)) {
    const flag = MOUNT_FLAG_OPTIONS[o];
    if (flag) flags = flag.set ? flags | flag.bit : flags & ~flag.bit;
    else if (o === 'ro') (readOnly = true), rw++;
    else if (o === 'rw') (readOnly = false), rw++;
    else if (o === 'z' || o === 'Z') continue; // SELinux relabelling: nook does no SELinux
    else if (o === 'U') chown = true;
    else if (o === 'nocopy') noCopy = true;
    else throw new UsageError(`invalid mode: ${o}`, `in -v ${v}: the options are ro, rw, z, Z, U, nocopy, and podman's [no]exec, [no]suid, [no]dev`);
  }
  if (rw > 1) throw new UsageError(`invalid mode: ${mode}`, 'give ro or rw once');
  const isBind = src.startsWith('/') || src.startsWith('.') || src.startsWith('~') || src.includes('/');
  if (isBind) {
    const target = absoluteTarget(v, 'bind', dest);
    const source = bindSource(src, '-v');
    out.binds.push({ source, target, readOnly, ...(flags ? { flags } : {}) });
    if (chown) out.chownBinds.push(source);
    return;
  }
  if (!VOLUME_NAME.test(src))
    throw new UsageError(`"${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  out.volumes.push({ name: src, target: absoluteTarget(v, 'volume', dest), readOnly, anonymous: false, chown: chown || undefined, noCopy: noCopy || undefined, flags: flags || undefined });
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw new UsageError(`invalid value for ${key}: ${value}`);
}

/** docker's units.RAMInBytes: 64m, 1g, 512k, plain bytes. */
function ramBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v);
  if (!m) throw new UsageError(`invalid value for tmpfs-size: ${v}`, 'e.g. tmpfs-size=64m');
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase() as ''];
  return Math.floor(Number(m[1]) * mult);
}

/** One --mount value: comma-separated key=value fields, docker's keys. */
function parseMountFlag(v: string, out: ParsedMounts, parseTmpfs: (v: string) => TmpfsMount): void {
  const bad = (msg: string, hint?: string) => new UsageError(`invalid argument "${v}" for "--mount" flag: ${msg}`, hint);
  let type = 'volume';
  let typeGiven = false;
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let noCopy = false;
  let tmpfsSize: number | undefined;
  let tmpfsMode: number | undefined;
  const labels: string[] = [];
  for (const field of v.split(',')) {
    if (!field) continue;
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).toLowerCase();
    const value = i < 0 ? undefined : field.slice(i + 1);
    const need = () => {
      if (value === undefined) throw bad(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type':
        type = need().toLowerCase();
        typeGiven = true;
        break;
      case 'source':
      case 'src':
        source = need();
        break;
      case 'target':
      case 'destination':
      case 'dst':
        target = need();
        break;
      case 'readonly':
      case 'ro':
        readOnly = parseBool(key, value);
        break;
      case 'volume-nocopy':
        noCopy = parseBool(key, value);
        break;
      case 'volume-label':
        labels.push(need());
        break;
      case 'volume-driver':
        if (need() !== 'local') throw bad(`volume driver "${value}" is not supported`, 'nook has the local driver only');
        break;
      case 'volume-opt':
        throw bad(`volume-opt ${need()} is not supported`, "nook's local volumes are directories; options such as type=nfs need mount privileges nook does not have");
      case 'bind-propagation':
        if (!['rprivate', 'private'].includes(need())) throw bad(`bind-propagation=${value} is not supported`, "a rootless container's mounts are private");
        break;
      case 'consistency':
        need(); // macOS only: docker ignores it on Linux too
        break;
      case 'tmpfs-size':
        tmpfsSize = ramBytes(need());
        break;
      case 'tmpfs-mode':
        if (!/^[0-7]{1,4}$/.test(need())) throw bad(`invalid value for tmpfs-mode: ${value}`, 'an octal mode, e.g. tmpfs-mode=1770');
        tmpfsMode = parseInt(value!, 8);
        break;
      default:
        throw bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!typeGiven && source === undefined && target === undefined) throw bad('type is required');
  if (target === undefined) throw bad('target is required');
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw bad(`unknown mount type "${type}"`, 'nook knows bind, volume and tmpfs');
  if (type !== 'volume' && (noCopy || labels.length)) throw bad(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (type !== 'tmpfs' && (tmpfsSize !== undefined || tmpfsMode !== undefined)) throw bad(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  const dest = absoluteTarget(v, type, target);
  if (type === 'bind') {
    if (!source) throw new UsageError(`invalid mount config for type "bind": field Source must not be empty`, `in --mount ${v}`);
    out.binds.push({ source: bindSource(source), target: dest, readOnly });
  } else if (type === 'tmpfs') {
    if (source) throw new UsageError(`invalid mount config for type "tmpfs": field Source must not be specified`, `in --mount ${v}`);
    const opts = [readOnly ? 'ro' : '', tmpfsSize !== undefined ? `size=${tmpfsSize}` : '', tmpfsMode !== undefined ? `mode=${tmpfsMode.toString(8)}` : ''].filter(Boolean);
    out.tmpfs.push(parseTmpfs(`${dest}${opts.length ? `:${opts.join(',')}` : ''}`));
  } else {
    if (source !== undefined && !VOLUME_NAME.test(source))
      throw new UsageError(`"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`, `in --mount ${v}`);
    out.volumes.push({ name: source ?? randomHex(32), target: dest, readOnly, anonymous: source === undefined, noCopy: noCopy || undefined, labels: labels.length ? labels : undefined });
  }
}

/**
 * -v, --mount (and --tmpfs, which run-request.ts parses, and whose parser
 * makes --mount type=tmpfs's mount) → the request's mounts; a mount point
 * given twice is docker's error.
 */
export function mountsFromFlags(flags: FlagValues, tmpfs: TmpfsMount[], parseTmpfs: (v: string) => TmpfsMount): ParsedMounts {
  const out: ParsedMounts = { binds: [], tmpfs: [...tmpfs], volumes: [], chownBinds: [] };
  for (const v of stringList(flags.volume)) parseVolumeFlag(v, out);
  for (const v of stringList(flags.mount)) parseMountFlag(v, out, parseTmpfs);
  const seen = new Set<string>();
  for (const t of [...out.binds.map((b) => b.target), ...out.volumes.map((b) => b.target), ...out.tmpfs.map((b) => b.target)]) {
    if (seen.has(t)) throw new UsageError(`Duplicate mount point: ${t}`);
    seen.add(t);
  }
  return out;
}
