/**
 * nook's side of the store helper: starts it on first use, sends requests,
 * routes replies back to the request that asked. One helper serves a whole
 * command (a pull extracts all its layers through one), since starting it
 * costs a Node start-up.
 */
import readline = require('node:readline');
import { NookError } from '../../errors';
import { computeIdMapping, hostIdentity, type HostIdentity, type IdMapping } from '../../sandbox/idmap';
import { startUsernsHelper, type UsernsHelper } from '../../sandbox/userns-exec';
import type { HelperReply, HelperRequest } from './helper-protocol';
import type { IdPolicy } from '../unpack/owners';
import type { LayerSource } from '../layer/source';
import type { Change } from '../layer/changes';

type Pending = {
  resolve: (r: Extract<HelperReply, { event: 'done' }>) => void;
  reject: (e: Error) => void;
  onProgress?: (bytes: number) => void;
  onWarning?: (message: string) => void;
};

type ExtractRequest = Omit<Extract<HelperRequest, { op: 'extract' }>, 'id' | 'op' | 'ids'>;

export class StoreHelper {
  private helper?: Promise<UsernsHelper>;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  readonly host: HostIdentity;
  readonly idmap: IdMapping;

  constructor(host = hostIdentity()) {
    this.host = host;
    this.idmap = computeIdMapping(host, { keepId: false });
  }

  /** Inside ids that can own files, for the range check during extraction, and why there are not more (for the hint). */
  private ids(): IdPolicy {
    if (this.host.uid === 0) return 'any';
    const { uid, gid, singleIdCause, singleIdReason } = this.idmap;
    return { uid, gid, userName: this.host.userName, singleIdCause, singleIdReason };
  }

  private start(): Promise<UsernsHelper> {
    if (this.helper) return this.helper;
    this.helper = startUsernsHelper(['__store-helper'], this.idmap, this.host).then((h) => {
      readline.createInterface({ input: h.replies }).on('line', (line) => this.onReply(JSON.parse(line) as HelperReply));
      void h.exited.then((code) => this.failAll(new NookError(`nook's store helper exited (code ${code}) with work unfinished`)));
      return h;
    });
    // A helper that could not start fails what was asked of it; the next request tries again.
    this.helper.catch((e) => {
      this.helper = undefined;
      this.failAll(e as Error);
    });
    return this.helper;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onReply(r: HelperReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    switch (r.event) {
      case 'progress':
        p.onProgress?.(r.bytes);
        break;
      case 'warning':
      case 'debug':
        (p.onWarning ?? ((m: string) => process.stderr.write(`nook: ${m}\n`)))(r.message);
        break;
      case 'done':
        this.pending.delete(r.id);
        p.resolve(r);
        break;
      case 'error':
        this.pending.delete(r.id);
        p.reject(new NookError(r.message, { hint: r.hint }));
        break;
    }
  }

  private send(req: HelperRequest, p: Pending): void {
    this.pending.set(req.id, p);
    void this.start().then(
      (h) => h.requests.write(`${JSON.stringify(req)}\n`),
      () => undefined, // failAll rejected it
    );
  }

  extract(req: ExtractRequest, hooks: Pick<Pending, 'onProgress' | 'onWarning'> = {}): Promise<Extract<HelperReply, { event: 'done' }>> {
    return new Promise((resolve, reject) =>
      this.send({ ...req, id: this.nextId++, op: 'extract', ids: this.ids() }, { resolve, reject, ...hooks }),
    );
  }

  remove(paths: string[]): Promise<void> {
    if (!paths.length) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.send({ id: this.nextId++, op: 'remove', paths }, { resolve: () => resolve(), reject }),
    );
  }

  assemble(layers: string[], dest: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.send({ id: this.nextId++, op: 'assemble', layers, dest }, { resolve: () => resolve(), reject }),
    );
  }

  /** Writes the layer of `source` as a gzip blob at `out` (see image/layer/write-layer.ts). */
  writeLayer(source: LayerSource, out: string, sourceDateEpoch?: number): Promise<NonNullable<Extract<HelperReply, { event: 'done' }>['layer']>> {
    return new Promise((resolve, reject) =>
      this.send({ id: this.nextId++, op: 'layer', source, out, sourceDateEpoch }, { resolve: (r) => resolve(r.layer!), reject }),
    );
  }

  /** A container's changes, as `nook diff` lists them. */
  changes(source: LayerSource, lowers: string[]): Promise<Change[]> {
    return new Promise((resolve, reject) =>
      this.send({ id: this.nextId++, op: 'changes', source, lowers }, { resolve: (r) => resolve(r.changes ?? []), reject }),
    );
  }

  /** Requests sent and not yet answered. */
  get busy(): number {
    return this.pending.size;
  }

  /** Lets the helper finish and exit. */
  async close(): Promise<void> {
    const started = this.helper;
    if (!started) return;
    this.helper = undefined;
    let h: UsernsHelper;
    try {
      h = await started;
    } catch {
      return; // never started
    }
    h.requests.end();
    await h.exited;
  }
}

/**
 * Several helpers, for pulls with several layers to extract: a helper is a
 * single Node thread, and extraction is CPU- and syscall-bound, so layers are
 * extracted side by side, one helper per CPU (up to `max`), each started when
 * there is work for it.
 */
export class StoreHelperPool {
  private helpers: StoreHelper[] = [];

  constructor(private readonly max: number) {}

  /** The idle helper, or a new one while under `max`, else the least busy. */
  private pick(): StoreHelper {
    const idle = this.helpers.find((h) => h.busy === 0);
    if (idle) return idle;
    if (this.helpers.length < this.max) {
      const h = new StoreHelper(this.helpers[0]?.host);
      this.helpers.push(h);
      return h;
    }
    return this.helpers.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  extract(...args: Parameters<StoreHelper['extract']>): ReturnType<StoreHelper['extract']> {
    return this.pick().extract(...args);
  }

  writeLayer(...args: Parameters<StoreHelper['writeLayer']>): ReturnType<StoreHelper['writeLayer']> {
    return this.pick().writeLayer(...args);
  }

  async close(): Promise<void> {
    await Promise.all(this.helpers.map((h) => h.close()));
  }
}
