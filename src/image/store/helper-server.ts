/**
 * The store helper's side (`nook __store-helper`), running as root of the
 * user namespace: reads requests on stdin, one at a time, and answers on fd 3.
 */
import fs = require('node:fs');
import path = require('node:path');
import { replyToNook, serveHelperRequests } from '../../sandbox/helper-server';
import { randomHex } from '../../util/random';
import { extractLayer } from '../unpack/extract';
import { assembleLayers } from './assemble';
import type { HelperReply, HelperRequest } from './helper-protocol';

const reply = (r: HelperReply): void => replyToNook(r);

/** Renames `from` to `to` unless `to` already exists (another pull got there first): then `from` is removed. */
function renameIntoPlace(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
    fs.rmSync(from, { recursive: true, force: true });
  }
}

function linkLayer(link: string, dest: string): void {
  const target = path.relative(path.dirname(link), dest);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  const tmp = `${link}.tmp-${process.pid}-${randomHex(4)}`;
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
}

async function extract(req: Extract<HelperRequest, { op: 'extract' }>): Promise<void> {
  if (!fs.existsSync(req.dest)) {
    fs.mkdirSync(req.tmpDir, { recursive: true });
    const work = path.join(req.tmpDir, `${path.basename(req.dest)}.${process.pid}.${randomHex(4)}`);
    fs.mkdirSync(work, { mode: 0o755 });
    let last = 0;
    try {
      const result = await extractLayer(req.blob, work, {
        ids: req.ids,
        squashIds: req.squashIds,
        layerName: req.layerName,
        diffId: req.diffId,
        maxExpansion: req.maxExpansion,
        onWarning: (message) => reply({ id: req.id, event: 'warning', message }),
        onDebug: req.debug ? (message) => reply({ id: req.id, event: 'debug', message }) : undefined,
        onProgress: (bytes) => {
          // A line per megabyte is plenty for a progress bar.
          if (bytes - last < 1 << 20) return;
          last = bytes;
          reply({ id: req.id, event: 'progress', bytes });
        },
      });
      renameIntoPlace(work, req.dest);
      linkLayer(req.link, req.dest);
      reply({ id: req.id, event: 'done', entries: result.entries, bytes: result.bytes });
      return;
    } catch (e) {
      fs.rmSync(work, { recursive: true, force: true });
      throw e;
    }
  }
  linkLayer(req.link, req.dest);
  reply({ id: req.id, event: 'done' });
}

function remove(req: Extract<HelperRequest, { op: 'remove' }>): void {
  for (const p of req.paths) fs.rmSync(p, { recursive: true, force: true });
  reply({ id: req.id, event: 'done' });
}

export function storeHelperMain(): Promise<number> {
  return serveHelperRequests<HelperRequest>(async (req) => {
    if (req.op === 'extract') await extract(req);
    else if (req.op === 'layer') {
      const { writeLayerBlob } = await import('../layer/write-layer');
      const { digest, size, diffId, entries } = await writeLayerBlob(req.source, req.out, { sourceDateEpoch: req.sourceDateEpoch });
      reply({ id: req.id, event: 'done', layer: { digest, size, diffId, entries } });
    } else if (req.op === 'changes') {
      const { listChanges } = await import('../layer/changes');
      const { readError } = await import('../layer/write-layer');
      let changes;
      try {
        changes = listChanges(req.source, req.lowers);
      } catch (e) {
        throw readError(e);
      }
      reply({ id: req.id, event: 'done', changes });
    } else if (req.op === 'assemble') {
      assembleLayers(req.layers, req.dest);
      reply({ id: req.id, event: 'done' });
    } else remove(req);
  });
}
