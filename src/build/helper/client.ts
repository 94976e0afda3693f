/**
 * nook's side of the build helper: started on first use and kept for the
 * whole build (starting it costs a Node start-up: once per build, not per
 * step), requests sent as JSON lines, replies routed back to the request
 * that asked. The engine calls `copy` for COPY and ADD, `mkdir` for a
 * WORKDIR that does not exist, `resolveUser` for USER and --chown checks.
 */
import { HelperChannel } from '../../sandbox/helper-channel';
import type { HostIdentity } from '../../sandbox/idmap';
import type { BuildHelperReply, BuildHelperRequest, ChownRequest, CopyRequest, MkdirRequest, PopulateRequest, ResolvedIds, ResolveUserRequest } from './protocol';

export class BuildHelper {
  private readonly channel: HelperChannel<BuildHelperRequest, BuildHelperReply>;

  constructor(host?: HostIdentity) {
    // A mount namespace of its own: it mounts each step's overlay, and its mounts never reach the host.
    this.channel = new HelperChannel('__build-helper', { host, mountNs: true });
  }

  /** COPY or ADD (`req.add`) into the step's root; the number of entries written. */
  async copy(req: CopyRequest, onWarning?: (message: string) => void): Promise<{ files: number }> {
    const r = await this.channel.request({ op: 'copy', ...req, ids: this.channel.ids() }, { onWarning });
    return { files: r.files ?? 0 };
  }

  /** Makes the directory `req.path` (and its parents) inside the root, owned by `req.chown` (default 0:0). */
  async mkdir(req: MkdirRequest): Promise<void> {
    await this.channel.request({ op: 'mkdir', ...req, ids: this.channel.ids() });
  }

  /** USER's NAME|UID[:GROUP|GID] as the root's /etc/passwd and /etc/group define them. */
  async resolveUser(req: ResolveUserRequest): Promise<ResolvedIds> {
    return (await this.channel.request({ op: 'resolve-user', ...req, ids: this.channel.ids() })).user!;
  }

  /** Fills a new volume from the image's content at a path (docker's copy-up); the number of entries written. */
  async populate(req: PopulateRequest): Promise<{ files: number }> {
    const r = await this.channel.request({ op: 'populate', ...req, ids: this.channel.ids() });
    return { files: r.files ?? 0 };
  }

  /** Gives every file under a directory the owner, as ids inside the user namespace (:U). */
  async chown(req: ChownRequest): Promise<void> {
    await this.channel.request({ op: 'chown', ...req, ids: this.channel.ids() });
  }

  /** Lets the helper finish and exit (its mounts go with its mount namespace). */
  close(): Promise<void> {
    return this.channel.close();
  }
}
