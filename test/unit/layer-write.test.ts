/**
 * Layers from a container's changes (image/layer/): an overlay upper dir and
 * a copy-mode root become tar entries as expected, the same tree gives the
 * same digest, and extracting the layer over its lower layer with nook's own
 * extractor gives back exactly the container's tree. Runs as real root (the
 * store helper would read as root of the user namespace), in-process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { libcFs } from '../../ffi/libc-fs';
import { listChanges } from '../../src/image/layer/changes';
import { LayerBlobWriter } from '../../src/image/layer/blob-writer';
import { encodeHeader } from '../../src/image/layer/tar-entry';
import { writeLayerBlob } from '../../src/image/layer/write-layer';
import { assembleLayers } from '../../src/image/store/assemble';
import { extractLayer } from '../../src/image/unpack/extract';
import { TarReader, type TarEntry } from '../../src/image/unpack/tar-reader';
import { makeLayer, needRootToChown } from '../helpers/layers';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-layer-'));
  dirs.push(d);
  return d;
}

const T = 1700000000;

function setXattr(file: string, name: string, value: string | Buffer): void {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  if (libcFs().lsetxattr(Buffer.from(`${file}\0`), name, v, v.length, 0) !== 0) throw new Error(`setxattr ${name} on ${file}: errno ${libcFs().errno()}`);
}

function mknod(file: string, mode: number, dev = 0): void {
  if (libcFs().mknod(Buffer.from(`${file}\0`), mode, dev) !== 0) throw new Error(`mknod ${file}: errno ${libcFs().errno()}`);
}

/** The image's layer, as the store holds it: extracted by nook. */
async function lowerLayer(): Promise<string> {
  const dir = tmp();
  const blob = path.join(dir, 'blob');
  fs.writeFileSync(
    blob,
    makeLayer([
      { path: 'bin/', type: 'dir', mtime: T },
      { path: 'bin/gone', content: 'deleted by the container', mtime: T },
      { path: 'bin/sh', content: 'shell', mode: 0o755, mtime: T },
      { path: 'etc/', type: 'dir', mtime: T },
      { path: 'etc/passwd', content: 'root:x:0:0\n', mtime: T },
      { path: 'etc/same', content: 'unchanged', mtime: T },
      { path: 'opt/', type: 'dir', mtime: T },
      { path: 'opt/old1', content: 'hidden by the opaque dir', mtime: T },
      { path: 'opt/sub/', type: 'dir', mtime: T },
      { path: 'opt/sub/old2', content: 'also hidden', mtime: T },
      { path: 'usr/', type: 'dir', mtime: T },
    ]),
  );
  const dest = path.join(dir, 'layer');
  fs.mkdirSync(dest);
  await extractLayer(blob, dest, { ids: 'any' });
  return dest;
}

const LONG = `usr/${'d'.repeat(60)}/${'f'.repeat(70)}`;
const LATIN = Buffer.from('usr/caf\xe9', 'latin1'); // not UTF-8

/** The same changes, made to `root` (an upper dir when `overlay`, else a copy of the lower). */
function makeChanges(root: string, overlay: boolean, latin1Name = false): void {
  const p = (r: string) => path.join(root, r);
  const mkdir = (r: string, mode = 0o755) => {
    fs.mkdirSync(p(r), { recursive: true });
    fs.chmodSync(p(r), mode);
  };
  mkdir('etc');
  mkdir('bin');
  mkdir('usr');
  fs.writeFileSync(p('etc/passwd'), 'root:x:0:0\nuser:x:1000:1000\n');
  fs.writeFileSync(p('etc/new'), 'new file');
  setXattr(p('etc/new'), 'user.note', 'kept');
  fs.writeFileSync(p('usr/su'), 'setuid');
  fs.chmodSync(p('usr/su'), 0o4755);
  fs.writeFileSync(p('usr/owned'), 'theirs');
  fs.chownSync(p('usr/owned'), 1000, 1001);
  fs.chmodSync(p('usr/owned'), 0o2750);
  fs.writeFileSync(p('usr/ping'), 'capable');
  setXattr(p('usr/ping'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'));
  fs.writeFileSync(p('usr/a'), 'linked');
  fs.linkSync(p('usr/a'), p('usr/b'));
  fs.symlinkSync('../etc/new', p('usr/link'));
  mknod(p('usr/fifo'), 0o010644);
  mkdir('tmp', 0o1777);
  fs.mkdirSync(p(path.dirname(LONG)), { recursive: true });
  fs.writeFileSync(p(LONG), 'long name');
  // (Only where no copy is assembled: assembleLayers, the copy-mode fallback, handles UTF-8 names only.)
  if (latin1Name) fs.writeFileSync(Buffer.from(`${root}/${LATIN.toString('latin1')}`, 'latin1'), 'latin1 name');
  if (overlay) {
    mknod(p('bin/gone'), 0o020000); // overlayfs's whiteout
    mkdir('opt');
    setXattr(p('opt'), 'user.overlay.opaque', 'y');
    setXattr(p('etc/passwd'), 'user.overlay.origin', 'overlay bookkeeping, not content');
  } else {
    fs.rmSync(p('bin/gone'));
    fs.rmSync(p('opt'), { recursive: true });
    mkdir('opt');
  }
  fs.writeFileSync(p('opt/fresh'), 'replaces the old content');
  // Everything dated now: the clamp must bring it down to SOURCE_DATE_EPOCH.
}

async function readEntries(blob: string): Promise<{ entries: TarEntry[]; contents: Map<string, string> }> {
  const tar = zlib.gunzipSync(fs.readFileSync(blob));
  const entries: TarEntry[] = [];
  const contents = new Map<string, string>();
  const reader = new TarReader({
    note: () => undefined,
    entry: (e) => {
      entries.push(e);
      const parts: Buffer[] = [];
      return { write: (c) => void parts.push(Buffer.from(c)), end: () => void contents.set(e.path, Buffer.concat(parts).toString('latin1')) };
    },
  });
  reader.push(tar);
  reader.finish();
  return { entries, contents };
}

/** Every file of a tree with what a container would see of it. */
function snapshot(root: string, xattrs = true): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(Buffer.from(path.join(root, rel)), { encoding: 'buffer' }).map((b) => b.toString('latin1')).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = Buffer.from(path.join(root, r), 'latin1');
      const st = fs.lstatSync(abs);
      let what = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isFile()) what += ` ${fs.readFileSync(abs).toString('latin1')} nlink=${st.nlink} ${Math.floor(st.mtimeMs / 1000)}`;
      if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(abs)}`;
      for (const x of xattrs ? ['user.note', 'security.capability', 'user.overlay.opaque'] : []) {
        const buf = Buffer.alloc(64);
        const n = libcFs().lgetxattr(Buffer.concat([abs, Buffer.alloc(1)]), x, buf, buf.length);
        if (n >= 0) what += ` ${x}=${buf.subarray(0, n).toString('hex')}`;
      }
      out[r] = what;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/** The tree a container sees over `layers` (bottom first, overlay form). */
function merged(layers: string[]): string {
  const dest = tmp();
  assembleLayers(layers, dest);
  return dest;
}

describe('layer tar headers', () => {
  it('fit ustar where they can, with PAX records for long names, big ids and xattrs, and no user or group names', () => {
    const plain = encodeHeader({ name: 'etc/passwd', kind: 'file', mode: 0o4755, uid: 1000, gid: 5, mtime: T, size: 3 });
    expect(plain.length).toBe(512);
    expect(plain.toString('latin1', 0, 10)).toBe('etc/passwd');
    expect(plain.toString('latin1', 100, 107)).toBe('0004755');
    expect(plain.toString('latin1', 265, 297)).toBe('\0'.repeat(32));
    const big = encodeHeader({ name: 'x'.repeat(150), kind: 'file', mode: 0o644, uid: 3_000_000, gid: 0, mtime: T, size: 0, xattrs: [['user.a', Buffer.from([0, 1, 2])]] });
    expect(big.length).toBe(512 * 3);
    expect(big[156]).toBe('x'.charCodeAt(0));
    const pax = big.toString('latin1', 512, 1024);
    expect(pax).toContain(`path=${'x'.repeat(150)}\n`);
    expect(pax).toContain('uid=3000000\n');
    expect(pax).toContain('SCHILY.xattr.user.a=\0\x01\x02\n');
  });
});

describe('LayerBlobWriter', () => {
  it('gives the same blob however the tar arrives, which gzip and zlib read back whole', async () => {
    const data = Buffer.alloc(3 * (1 << 20) + 12345);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const write = async (chunk: number) => {
      const file = path.join(tmp(), 'blob');
      const w = new LayerBlobWriter(file);
      for (let off = 0; off < data.length; off += chunk) await w.write(data.subarray(off, off + chunk));
      return { file, blob: await w.finish() };
    };
    const a = await write(1 << 20);
    const b = await write(4099);
    expect(b.blob).toEqual(a.blob);
    expect(a.blob.diffId).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(a.blob.size).toBe(fs.statSync(a.file).size);
    expect(zlib.gunzipSync(fs.readFileSync(a.file)).equals(data)).toBe(true);
    expect(execFileSync('gzip', ['-dc', a.file], { maxBuffer: 1 << 26 }).equals(data)).toBe(true);
    // An empty tar still gives a valid gzip file.
    const empty = path.join(tmp(), 'empty');
    const w = new LayerBlobWriter(empty);
    await w.finish();
    expect(zlib.gunzipSync(fs.readFileSync(empty)).length).toBe(0);
  });
});

describe('writeLayerBlob from an overlay upper dir', () => {
  it('turns whiteouts, opaque dirs, hardlinks, setuid, xattrs, symlinks and fifos into the OCI entries, sorted', async (ctx) => {
    needRootToChown(ctx);
    const upper = tmp();
    makeChanges(upper, true, true);
    const out = path.join(tmp(), 'blob');
    const epoch = T + 100;
    const layer = await writeLayerBlob({ upper }, out, { sourceDateEpoch: epoch });
    const { entries, contents } = await readEntries(out);
    const names = entries.map((e) => e.path);
    expect(names).toEqual([
      'bin/',
      'bin/.wh.gone',
      'etc/',
      'etc/new',
      'etc/passwd',
      'opt/',
      'opt/.wh..wh..opq',
      'opt/fresh',
      'tmp/',
      'usr/',
      'usr/a',
      'usr/b',
      LATIN.toString('latin1'),
      `${path.dirname(LONG)}/`,
      LONG,
      'usr/fifo',
      'usr/link',
      'usr/owned',
      'usr/ping',
      'usr/su',
    ]);
    expect(layer.entries).toBe(names.length);
    const e = (n: string) => entries.find((x) => x.path === n)!;
    expect(e('usr/b')).toMatchObject({ kind: 'hardlink', linkpath: 'usr/a' });
    expect(e('usr/su')).toMatchObject({ kind: 'file', mode: 0o4755, uid: 0, gid: 0 });
    expect(e('usr/owned')).toMatchObject({ mode: 0o2750, uid: 1000, gid: 1001 });
    expect(e('tmp/')).toMatchObject({ kind: 'dir', mode: 0o1777 });
    expect(e('usr/link')).toMatchObject({ kind: 'symlink', linkpath: '../etc/new' });
    expect(e('usr/fifo')).toMatchObject({ kind: 'fifo', mode: 0o644 });
    expect(e('etc/new').xattrs).toEqual([['user.note', Buffer.from('kept')]]);
    expect(e('usr/ping').xattrs.map(([k]) => k)).toEqual(['security.capability']);
    expect(e('etc/passwd').xattrs).toEqual([]); // user.overlay.origin is overlayfs's, not the image's
    expect(e('opt/').xattrs).toEqual([]);
    expect(contents.get('etc/passwd')).toBe('root:x:0:0\nuser:x:1000:1000\n');
    expect(contents.get(LONG)).toBe('long name');
    for (const x of entries) expect(x.mtime.sec).toBeLessThanOrEqual(epoch);
    expect(e('etc/new').mtime.sec).toBe(epoch);
    expect(layer.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
    // GNU tar reads it too, with the same names.
    const listed = execFileSync('tar', ['--quoting-style=literal', '-tzf', out], { encoding: 'latin1' }).trim().split('\n');
    expect(listed).toEqual(names);
  });

  it('gives the same digest for the same tree, and another when a file changes', async (ctx) => {
    needRootToChown(ctx);
    const upper = tmp();
    makeChanges(upper, true);
    const at = (n: number) => writeLayerBlob({ upper }, path.join(tmp(), `blob${n}`), { sourceDateEpoch: T });
    const a = await at(1);
    const b = await at(2);
    expect(b.digest).toBe(a.digest);
    expect(b.diffId).toBe(a.diffId);
    fs.writeFileSync(path.join(upper, 'etc/new'), 'other');
    const c = await at(3);
    expect(c.digest).not.toBe(a.digest);
  });

  it('extracted over the lower layer by nook, gives exactly the container tree', async (ctx) => {
    needRootToChown(ctx);
    const lower = await lowerLayer();
    const upper = tmp();
    makeChanges(upper, true);
    const out = path.join(tmp(), 'blob');
    await writeLayerBlob({ upper }, out);
    const extracted = tmp();
    await extractLayer(out, extracted, { ids: 'any' });
    // The layer as the store holds it is the upper dir again (whiteouts, opaque dirs, xattrs and all)...
    expect(snapshot(extracted)).toEqual(snapshot(upper));
    // ...so the container tree over the image is the same.
    const expected = snapshot(merged([lower, upper]));
    expect(snapshot(merged([lower, extracted]))).toEqual(expected);
    expect(expected['bin/gone']).toBeUndefined();
    expect(expected['opt/old1']).toBeUndefined();
    expect(expected['opt/sub']).toBeUndefined();
    expect(expected['etc/same']).toBeDefined();
  });

  it('of an empty upper dir has no entries', async () => {
    const layer = await writeLayerBlob({ upper: tmp() }, path.join(tmp(), 'blob'));
    expect(layer.entries).toBe(0);
  });

  it('lists the changes as docker diff does', async (ctx) => {
    needRootToChown(ctx);
    const lower = await lowerLayer();
    const upper = tmp();
    makeChanges(upper, true);
    const changes = listChanges({ upper }, [lower]).map((c) => `${c.kind} ${c.path}`);
    expect(changes).toEqual(
      expect.arrayContaining(['C /bin', 'D /bin/gone', 'C /etc', 'A /etc/new', 'C /etc/passwd', 'C /opt', 'D /opt/old1', 'D /opt/sub', 'A /opt/fresh', 'A /usr/su', 'A /tmp']),
    );
    expect(changes).not.toContain('C /etc/same');
    const paths = changes.map((c) => c.slice(2));
    expect(paths).toEqual([...paths].sort());
  });
});

describe('reading a container tree', () => {
  it('never follows a symlink out of it: links are entries, their targets are not read', async () => {
    const outside = tmp();
    fs.writeFileSync(path.join(outside, 'secret'), 'host secret');
    const upper = tmp();
    fs.symlinkSync(outside, path.join(upper, 'escape'));
    fs.symlinkSync(path.join(outside, 'secret'), path.join(upper, 'file-link'));
    const out = path.join(tmp(), 'blob');
    await writeLayerBlob({ upper }, out);
    const { entries, contents } = await readEntries(out);
    expect(entries.map((e) => [e.path, e.kind, e.linkpath])).toEqual([
      ['escape', 'symlink', outside],
      ['file-link', 'symlink', path.join(outside, 'secret')],
    ]);
    expect([...contents.values()].join('')).not.toContain('host secret');
    // In copy mode too, a directory of the image replaced by a symlink is a symlink entry.
    const lower = await lowerLayer();
    const rootfs = merged([lower]);
    fs.rmSync(path.join(rootfs, 'opt'), { recursive: true });
    fs.symlinkSync(outside, path.join(rootfs, 'opt'));
    const out2 = path.join(tmp(), 'blob2');
    await writeLayerBlob({ rootfs, lowers: [lower] }, out2);
    const second = await readEntries(out2);
    expect(second.entries.map((e) => [e.path, e.kind])).toEqual([['opt', 'symlink']]);
    expect([...second.contents.values()].join('')).not.toContain('host secret');
  });
});

describe("nook's mount stubs and directories overlayfs merely copied up", () => {
  it('are not in the layer nor in the changes', async (ctx) => {
    needRootToChown(ctx);
    const lower = await lowerLayer();
    const upper = tmp();
    // What the sandbox leaves in an upper dir when the image lacks them: mount points.
    fs.mkdirSync(path.join(upper, 'etc'));
    for (const f of ['hosts', 'hostname', 'resolv.conf']) fs.writeFileSync(path.join(upper, 'etc', f), '');
    for (const d of ['proc', 'sys', 'dev']) fs.mkdirSync(path.join(upper, d));
    // A directory copied up for a file created and deleted again.
    fs.mkdirSync(path.join(upper, 'usr'));
    const empty = await writeLayerBlob({ upper, lowers: [lower] }, path.join(tmp(), 'blob'));
    expect(empty.entries).toBe(0);
    expect(listChanges({ upper }, [lower])).toEqual([]);
    // A real change in such a directory keeps it.
    fs.writeFileSync(path.join(upper, 'etc/new'), 'x');
    fs.chmodSync(path.join(upper, 'usr'), 0o700);
    const out = path.join(tmp(), 'blob');
    await writeLayerBlob({ upper, lowers: [lower] }, out);
    expect((await readEntries(out)).entries.map((e) => e.path)).toEqual(['etc/', 'etc/new', 'usr/']);
    expect(listChanges({ upper }, [lower]).map((c) => `${c.kind} ${c.path}`)).toEqual(['C /etc', 'A /etc/new', 'C /usr']);
  });
});

describe('writeLayerBlob from a copy-mode root', () => {
  it('holds what changed against the lower layers, and round-trips to the same tree', async (ctx) => {
    needRootToChown(ctx);
    const lower = await lowerLayer();
    const rootfs = merged([lower]);
    makeChanges(rootfs, false);
    // Rewritten with the same bytes: not a change (mtime alone is ignored).
    fs.writeFileSync(path.join(rootfs, 'etc/same'), 'unchanged');
    fs.utimesSync(path.join(rootfs, 'etc/same'), T + 5, T + 5);
    const out = path.join(tmp(), 'blob');
    await writeLayerBlob({ rootfs, lowers: [lower] }, out);
    const { entries } = await readEntries(out);
    const names = entries.map((e) => e.path);
    expect(names).toEqual(expect.arrayContaining(['bin/', 'bin/.wh.gone', 'etc/passwd', 'etc/new', 'opt/', 'opt/.wh.old1', 'opt/.wh.sub', 'opt/fresh', 'usr/b']));
    expect(names).not.toContain('etc/same');
    expect(names).not.toContain('bin/sh');
    const extracted = tmp();
    await extractLayer(out, extracted, { ids: 'any' });
    // (assembleLayers, the copy-mode fallback, copies no xattrs: those are checked on the layer itself.)
    const got = snapshot(merged([lower, extracted]), false);
    const want = snapshot(rootfs, false);
    // etc/same kept its old time in the layer below: the one difference allowed.
    delete got['etc/same'];
    delete want['etc/same'];
    expect(got).toEqual(want);
    const layerFiles = snapshot(extracted);
    expect(layerFiles['etc/new']).toContain(`user.note=${Buffer.from('kept').toString('hex')}`);
    expect(layerFiles['usr/ping']).toContain('security.capability=');
    const changes = listChanges({ rootfs, lowers: [lower] }, [lower]).map((c) => `${c.kind} ${c.path}`);
    expect(changes).toEqual(expect.arrayContaining(['C /bin', 'D /bin/gone', 'C /etc/passwd', 'A /etc/new', 'D /opt/old1', 'A /opt/fresh']));
    expect(changes).not.toContain('C /etc/same');
  });
});
