/**
 * Which owner an extracted file gets. Inside nook's user namespace only the
 * mapped ids exist, and chown to any other fails (EINVAL) — on a host where
 * the user has no subordinate ids that is every id but 0. Checking up front
 * gives one clear error naming the file, instead of an errno; with
 * --squash-ids such files become root's instead, counted for one warning.
 */
import { isMapped, moreIdsHint, type IdMapping, type IdRange, type NeededId } from '../../sandbox/idmap';
import { NookError } from '../../errors';

export type { IdRange };

/**
 * The ids files may have, or 'any'; with the facts behind the mapping (why
 * only one id is mapped, whose ranges), so the hint names this host's fix.
 */
export type IdPolicy =
  | { uid: IdRange[]; gid: IdRange[]; userName?: string; singleIdCause?: IdMapping['singleIdCause']; singleIdReason?: string }
  | 'any';

/** What to do about a file whose owner is not mapped. */
export function moreIdsForFiles(ids: IdPolicy, need?: NeededId): string {
  const fix = ids === 'any' ? 'give your user subordinate ids' : moreIdsHint(ids, ids.userName ?? '$USER', need);
  return `${fix}; or pull with --squash-ids to make such files owned by root`;
}

function describeRanges(ranges: IdRange[]): string {
  if (ranges.length === 0) return 'none';
  return ranges.map((r) => (r.count === 1 ? `${r.inside}` : `${r.inside}-${r.inside + r.count - 1}`)).join(', ');
}

export class Owners {
  /** Files whose owner was replaced by root, and the first of them for the warning. */
  squashed = 0;
  private example?: string;

  constructor(
    private readonly ids: IdPolicy,
    private readonly squash: boolean,
    private readonly layer: string,
  ) {}

  /** The owner to give `shown` (a quoted entry name), or a NookError when it has none usable. */
  resolve(uid: number, gid: number, shown: string): { uid: number; gid: number } {
    if (this.ids === 'any') return { uid, gid };
    const uidOk = isMapped(this.ids.uid, uid);
    const gidOk = isMapped(this.ids.gid, gid);
    if (uidOk && gidOk) return { uid, gid };
    if (!this.squash) throw this.unmapped(shown, uidOk ? 'gid' : 'uid', uidOk ? gid : uid);
    this.squashed++;
    this.example ??= `${shown} (${uidOk ? '' : `uid ${uid}`}${!uidOk && !gidOk ? ', ' : ''}${gidOk ? '' : `gid ${gid}`})`;
    return { uid: uidOk ? uid : 0, gid: gidOk ? gid : 0 };
  }

  /** The error for an owner the kernel refused (EINVAL from chown): the same as a failed check. */
  unmapped(shown: string, kind: 'uid' | 'gid', id: number): NookError {
    const available = this.ids === 'any' ? '' : ` (available: ${describeRanges(this.ids[kind])})`;
    return new NookError(`${this.layer}: ${shown} is owned by ${kind} ${id}, which is not mapped into nook's user namespace${available}`, {
      hint: moreIdsForFiles(this.ids, { kind, id }),
    });
  }

  /** chown failed with EINVAL: the kernel says one of the ids is not mapped, whatever `ids` said. */
  refused(shown: string, uid: number, gid: number): NookError {
    return new NookError(
      `${this.layer}: ${shown} is owned by uid ${uid} and gid ${gid}, and the kernel refused them: one is not mapped into nook's user namespace`,
      { hint: moreIdsForFiles(this.ids) },
    );
  }

  /** The one warning per layer about squashed owners, if any. */
  warning(): string | undefined {
    if (this.squashed === 0) return undefined;
    const files = this.squashed === 1 ? '1 file' : `${this.squashed} files`;
    return `${this.layer}: ${files} owned by ids that are not mapped into nook's user namespace now belong to root (--squash-ids), e.g. ${this.example}`;
  }
}
