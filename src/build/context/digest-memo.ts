/**
 * The build context's file digests, remembered between builds (as BuildKit's
 * fsutil keeps a content hash per stat): a cached rebuild of a large context
 * reads each file's metadata, not its bytes. A digest is reused only while
 * the file has the same device, inode, size, mtime and ctime; any write,
 * also one that restores the mtime, changes the ctime.
 */
import fs = require('node:fs');
import { readJson, writeFileAtomic } from '../../util/atomic';
import { fileDigest } from './sources';

/** Entries kept at most: the newest ones (a context of more files re-reads the rest). */
const MAX_ENTRIES = 200_000;

interface MemoFile {
  version: 1;
  digests: Record<string, string>;
}

const keyOf = (st: fs.Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

export class DigestMemo {
  private readonly old: Map<string, string>;
  private readonly used = new Map<string, string>();

  constructor(private readonly file: string) {
    const doc = readJson<MemoFile | undefined>(file, undefined);
    this.old = new Map(doc?.version === 1 ? Object.entries(doc.digests) : []);
  }

  /** The sha256 (hex) of `file`'s content, from the memo when its stat is unchanged. */
  readonly digest = async (file: string, st: fs.Stats): Promise<string> => {
    const key = keyOf(st);
    const known = this.used.get(key) ?? this.old.get(key);
    const digest = known ?? (await fileDigest(file));
    this.used.set(key, digest);
    return digest;
  };

  /** Writes what this build used, then what earlier builds knew, up to the limit. */
  save(): void {
    if (!this.used.size) return;
    const digests: Record<string, string> = {};
    let n = 0;
    for (const [k, v] of [...this.used, ...this.old]) {
      if (n >= MAX_ENTRIES) break;
      if (digests[k] === undefined) {
        digests[k] = v;
        n++;
      }
    }
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: 1, digests } satisfies MemoFile));
    } catch {
      /* a memo that cannot be written only costs the next build some reading */
    }
  }
}
