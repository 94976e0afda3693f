/**
 * nook's side of the build helper: started on first use and kept for the
 * whole build (starting it costs a Node start-up: once per build, not per
 * step), requests sent as JSON lines, replies routed back to the request
 * that asked. The engine calls `copy` for COPY and ADD, `mkdir` for a
 * WORKDIR that does not exist, `resolveUser` for USER and --chown checks.
 */
import readline = require('node:readline');
import { NookError } from '../../errors';
import { computeIdMapping, hostIdentity, type HostIdentity, type IdMapping } from '../../sandbox/idmap';
import { startUsernsHelper, type UsernsHelper } from '../../sandbox/userns-exec';
import type { IdPolicy } from '../../image/unpack/owners';
import type { BuildHelperReply, BuildHelperRequest, CopyRequest, MkdirRequest, ResolvedIds, ResolveUserRequest } from './protocol';

type Done = Extract<BuildHelperReply, { event: 'done' }>;
type Pending = { resolve: (r: Done) => void; reject: (e: Error) => void; onWarning?: (message: string) => void };
/** A request's own fields: `id` and `ids` are the client's to add. */
type Body<R> = R extends unknown ? Omit<R, 'id' | 'ids'> : never;

export class BuildHelper {
  private helper?: Promise<UsernsHelper>;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  readonly host: HostIdentity;
  readonly idmap: IdMapping;

  constructor(host = hostIdentity()) {
    this.host = host;
    this.idmap = computeIdMapping(host, { keepId: false });
  }

  /** The inside ids that can own files, and why there are not more (for the hint). */
  private ids(): IdPolicy {
    if (this.host.uid === 0) return 'any';
    const { uid, gid, singleIdCause, singleIdReason } = this.idmap;
    return { uid, gid, userName: this.host.userName, singleIdCause, singleIdReason };
  }

  private start(): Promise<UsernsHelper> {
    if (this.helper) return this.helper;
    this.helper = startUsernsHelper(['__build-helper'], this.idmap, this.host, { mountNs: true }).then((h) => {
      readline.createInterface({ input: h.replies }).on('line', (line) => this.onReply(JSON.parse(line) as BuildHelperReply));
      void h.exited.then((code) => this.failAll(new NookError(`nook's build helper exited (code ${code}) with work unfinished`)));
      return h;
    });
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

  private onReply(r: BuildHelperReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.event === 'warning') (p.onWarning ?? ((m: string) => process.stderr.write(`nook: ${m}\n`)))(r.message);
    else {
      this.pending.delete(r.id);
      if (r.event === 'done') p.resolve(r);
      else p.reject(new NookError(r.message, { hint: r.hint }));
    }
  }

  private send(body: Body<BuildHelperRequest>, onWarning?: (message: string) => void): Promise<Done> {
    return new Promise((resolve, reject) => {
      const req = { ...body, id: this.nextId++, ids: this.ids() } as BuildHelperRequest;
      this.pending.set(req.id, { resolve, reject, onWarning });
      void this.start().then(
        (h) => h.requests.write(`${JSON.stringify(req)}\n`),
        () => undefined, // failAll rejected it
      );
    });
  }

  /** COPY or ADD (`req.add`) into the step's root; the number of entries written. */
  async copy(req: CopyRequest, onWarning?: (message: string) => void): Promise<{ files: number }> {
    const r = await this.send({ op: 'copy', ...req }, onWarning);
    return { files: r.files ?? 0 };
  }

  /** Makes the directory `req.path` (and its parents) inside the root, owned by `req.chown` (default 0:0). */
  async mkdir(req: MkdirRequest): Promise<void> {
    await this.send({ op: 'mkdir', ...req });
  }

  /** USER's NAME|UID[:GROUP|GID] as the root's /etc/passwd and /etc/group define them. */
  async resolveUser(req: ResolveUserRequest): Promise<ResolvedIds> {
    const r = await this.send({ op: 'resolve-user', ...req });
    return r.user!;
  }

  /** Lets the helper finish and exit (its mounts go with its mount namespace). */
  async close(): Promise<void> {
    const started = this.helper;
    if (!started) return;
    this.helper = undefined;
    let h: UsernsHelper;
    try {
      h = await started;
    } catch {
      return;
    }
    h.requests.end();
    await h.exited;
  }
}
