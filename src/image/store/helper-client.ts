/**
 * nook's side of the store helper: starts it on first use, sends requests,
 * routes replies back to the request that asked. One helper serves a whole
 * command (a pull extracts all its layers through one), since starting it
 * costs a Node start-up.
 */
import { HelperChannel } from '../../sandbox/helper-channel';
import type { HostIdentity } from '../../sandbox/idmap';
import type { HelperReply, HelperRequest } from './helper-protocol';
import type { LayerSource } from '../layer/source';
import type { Change } from '../layer/changes';

type Done = Extract<HelperReply, { event: 'done' }>;
type ExtractRequest = Omit<Extract<HelperRequest, { op: 'extract' }>, 'id' | 'op' | 'ids'>;

export class StoreHelper {
  private readonly channel: HelperChannel<HelperRequest, HelperReply>;

  constructor(host?: HostIdentity) {
    this.channel = new HelperChannel('__store-helper', { host });
  }

  get host(): HostIdentity {
    return this.channel.host;
  }

  extract(req: ExtractRequest, hooks: { onProgress?: (bytes: number) => void; onWarning?: (message: string) => void } = {}): Promise<Done> {
    return this.channel.request({ ...req, op: 'extract', ids: this.channel.ids() }, hooks);
  }

  async remove(paths: string[]): Promise<void> {
    if (paths.length) await this.channel.request({ op: 'remove', paths });
  }

  async assemble(layers: string[], dest: string): Promise<void> {
    await this.channel.request({ op: 'assemble', layers, dest });
  }

  /** Writes the layer of `source` as a gzip blob at `out` (see image/layer/write-layer.ts). */
  async writeLayer(source: LayerSource, out: string, sourceDateEpoch?: number): Promise<NonNullable<Done['layer']>> {
    return (await this.channel.request({ op: 'layer', source, out, sourceDateEpoch })).layer!;
  }

  /** A container's changes, as `nook diff` lists them. */
  async changes(source: LayerSource, lowers: string[]): Promise<Change[]> {
    return (await this.channel.request({ op: 'changes', source, lowers })).changes ?? [];
  }

  /** Requests sent and not yet answered. */
  get busy(): number {
    return this.channel.busy;
  }

  /** Lets the helper finish and exit. */
  close(): Promise<void> {
    return this.channel.close();
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
