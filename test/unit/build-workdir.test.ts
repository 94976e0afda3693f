/**
 * WORKDIR's "does the directory exist already" check over the store's
 * extracted layers (overlay's format): the topmost layer decides, whiteouts
 * and opaque directories hide what is below, doubt means "no".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isDirInLayers } from '../../src/build/copy-step';
import { ImageStore, type LayerRecord } from '../../src/image/store/store';
import { libcFs } from '../../ffi/libc-fs';
import { OPAQUE_XATTR } from '../../src/image/unpack/whiteouts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-workdir-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const store = new ImageStore(root);
let n = 0;

/** A layer with these entries: 'dir/', 'file', 'wh:name' (a whiteout), 'opaque:dir/'. */
function layer(entries: string[]): LayerRecord {
  const hex = (++n).toString(16).padStart(64, '0');
  const dir = store.layerDir(`sha256:${hex}`);
  for (const e of entries) {
    const [kind, name] = e.includes(':') ? e.split(':') : ['', e];
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (kind === 'wh') {
      if (libcFs().mknod(Buffer.from(`${p}\0`), 0o020000, 0) !== 0) return layer([]);
    } else if (name.endsWith('/')) {
      fs.mkdirSync(p, { recursive: true });
      if (kind === 'opaque') libcFs().lsetxattr(Buffer.from(`${p.replace(/\/$/, '')}\0`), OPAQUE_XATTR, Buffer.from('y'), 1, 0);
    } else fs.writeFileSync(p, '');
  }
  return { digest: `sha256:${hex}`, size: 0, mediaType: '', diffId: `sha256:${hex}` };
}

describe('isDirInLayers', () => {
  it('finds a directory of a lower layer that nothing above hides', () => {
    const base = layer(['srv/app/']);
    expect(isDirInLayers(store, [base, layer(['etc/'])], '/srv/app')).toBe(true);
    expect(isDirInLayers(store, [base], '/srv/missing')).toBe(false);
    expect(isDirInLayers(store, [], '/')).toBe(true);
  });

  it('a file, a symlink or an opaque parent above says no', () => {
    const base = layer(['srv/app/']);
    expect(isDirInLayers(store, [base, layer(['srv/app'])], '/srv/app')).toBe(false);
    expect(isDirInLayers(store, [base, layer(['opaque:srv/'])], '/srv/app')).toBe(false);
    const link = layer([]);
    fs.mkdirSync(store.layerDir(link.diffId), { recursive: true });
    fs.symlinkSync('/elsewhere', path.join(store.layerDir(link.diffId), 'srv'));
    expect(isDirInLayers(store, [base, link], '/srv/app')).toBe(false);
  });

  it('a whiteout above hides it', (ctx) => {
    const base = layer(['srv/app/']);
    const wh = layer(['wh:srv']);
    if (!fs.existsSync(path.join(store.layerDir(wh.diffId), 'srv'))) ctx.skip('making a whiteout (a 0/0 character device) needs CAP_MKNOD: run the suite as root');
    expect(isDirInLayers(store, [base, wh], '/srv/app')).toBe(false);
  });
});
