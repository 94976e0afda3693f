// The native parts that go into the executable as SEA assets, and the id
// (a hash of their contents) under which nook unpacks them at run time.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const assets = {
  'koffi.node': path.join(root, 'node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node'),
  'libnook-exec.so': path.join(root, 'build/out/libnook-exec.so'),
  'nook-supervisor': path.join(root, 'build/out/nook-supervisor'),
  'nook-init': path.join(root, 'build/out/nook-init'),
};

export function nativeId() {
  const h = createHash('sha256');
  for (const [name, file] of Object.entries(assets)) h.update(name).update(readFileSync(file));
  return h.digest('hex').slice(0, 16);
}
