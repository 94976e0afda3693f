/**
 * A nook helper (nook itself as root of a user namespace, userns-exec.ts)
 * seen as a request/reply channel: started on first use, one JSON line per
 * request on its stdin, replies (JSON lines on its fd 3) routed back by id
 * to the request that asked. The store helper and the build helper are thin
 * clients of this, each with its own operations.
 */
import readline = require('node:readline');
import { NookError } from '../errors';
import { computeIdMapping, hostIdentity, type HostIdentity, type IdMapping } from './idmap';
import { startUsernsHelper, type UsernsHelper } from './userns-exec';

/** What every helper reply is: the request's id and what happened. */
export type ReplyBase =
  | { id: number; event: 'done' }
  | { id: number; event: 'error'; message: string; hint?: string }
  | { id: number; event: 'warning' | 'debug'; message: string }
  | { id: number; event: 'progress'; bytes: number };

export interface ReplyHandlers<Done> {
  onProgress?: (bytes: number) => void;
  /** Warnings and debug notes (default: nook's stderr). */
  onWarning?: (message: string) => void;
  resolve?: (r: Done) => void;
}

type Pending<Done> = ReplyHandlers<Done> & { resolve: (r: Done) => void; reject: (e: Error) => void };

/** Inside ids that may own files, and why there are not more (for hints): what helpers check owners against. */
export interface IdPolicyBase {
  uid: IdMapping['uid'];
  gid: IdMapping['gid'];
  userName: string;
  singleIdCause: IdMapping['singleIdCause'];
  singleIdReason: IdMapping['singleIdReason'];
}

export class HelperChannel<Req extends { id: number }, Reply extends { id: number; event: string }> {
  private helper?: Promise<UsernsHelper>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending<Extract<Reply, { event: 'done' }>>>();
  readonly host: HostIdentity;
  readonly idmap: IdMapping;

  constructor(
    /** The hidden verb, e.g. `__store-helper`; it also names the helper in messages. */
    private readonly verb: string,
    private readonly opts: { mountNs?: boolean; host?: HostIdentity; /** Given to the helper as its fd 4 (userns-exec.ts). */ passFd?: number } = {},
  ) {
    this.host = opts.host ?? hostIdentity();
    this.idmap = computeIdMapping(this.host, { keepId: false });
  }

  /** The id policy requests carry: 'any' for real root, else the mapping's ranges. */
  ids(): 'any' | IdPolicyBase {
    if (this.host.uid === 0) return 'any';
    const { uid, gid, singleIdCause, singleIdReason } = this.idmap;
    return { uid, gid, userName: this.host.userName, singleIdCause, singleIdReason };
  }

  private start(): Promise<UsernsHelper> {
    if (this.helper) return this.helper;
    const name = this.verb.replace(/^__/, '').replace('-', ' ');
    this.helper = startUsernsHelper([this.verb], this.idmap, this.host, { mountNs: this.opts.mountNs, passFd: this.opts.passFd }).then((h) => {
      readline.createInterface({ input: h.replies }).on('line', (line) => this.onReply(JSON.parse(line) as ReplyBase));
      void h.exited.then((code) => this.failAll(new NookError(`nook's ${name} exited (code ${code}) with work unfinished`)));
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

  private onReply(r: ReplyBase): void {
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
        p.resolve(r as unknown as Extract<Reply, { event: 'done' }>);
        break;
      case 'error':
        this.pending.delete(r.id);
        p.reject(new NookError(r.message, { hint: r.hint }));
        break;
    }
  }

  /** Sends `body` (its id is added here) and resolves with the request's 'done' reply. */
  request(body: Req extends unknown ? Omit<Req, 'id'> : never, handlers: ReplyHandlers<Extract<Reply, { event: 'done' }>> = {}): Promise<Extract<Reply, { event: 'done' }>> {
    return new Promise((resolve, reject) => {
      const req = { ...body, id: this.nextId++ } as unknown as Req;
      this.pending.set(req.id, { ...handlers, resolve, reject });
      void this.start().then(
        (h) => h.requests.write(`${JSON.stringify(req)}\n`),
        () => undefined, // failAll rejected it
      );
    });
  }

  /** Requests sent and not yet answered. */
  get busy(): number {
    return this.pending.size;
  }

  /** Lets the helper finish its work and exit. */
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
