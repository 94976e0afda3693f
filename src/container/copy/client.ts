/**
 * nook's side of the cp helper (protocol.ts): started on first use, one
 * request at a time from `nook cp` and `nook export`.
 */
import { HelperChannel } from '../../sandbox/helper-channel';
import type { CpHelperReply, CpHelperRequest, CpInRequest, CpOutRequest, ExportRequest } from './protocol';

/** Where the helper finds the descriptor given to its constructor. */
export const PASSED_ROOT = '/proc/self/fd/4';

export class CpHelper {
  private readonly channel: HelperChannel<CpHelperRequest, CpHelperReply>;

  /** `rootFd`: a running container's root, opened by nook; the helper reaches it as PASSED_ROOT. */
  constructor(rootFd?: number) {
    this.channel = new HelperChannel('__cp-helper', { mountNs: true, passFd: rootFd });
  }

  async copyOut(req: CpOutRequest): Promise<void> {
    await this.channel.request({ op: 'cp-out', ...req, ids: this.channel.ids() });
  }

  async copyIn(req: CpInRequest, onWarning?: (m: string) => void): Promise<void> {
    await this.channel.request({ op: 'cp-in', ...req, ids: this.channel.ids() }, { onWarning });
  }

  async exportTar(req: ExportRequest): Promise<void> {
    await this.channel.request({ op: 'export', ...req, ids: this.channel.ids() });
  }

  close(): Promise<void> {
    return this.channel.close();
  }
}
