/**
 * Reading a detached container's log (written by ffi/supervisor-log.c, CRI
 * format: `TIMESTAMP STREAM F|P CONTENT`, one record per line; P records are
 * parts of a line that the following records of the same stream complete).
 * Rotated files are container.log.N (oldest) … container.log.1, then the
 * current container.log. Following watches the directory (inotify) and
 * reads on from where it was, through rotations.
 */
import fs = require('node:fs');
import path = require('node:path');

export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  content: Buffer;
}

/** A whole line of one stream: its parts joined, stamped with the time of its first part. */
export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  content: Buffer;
  /** False for the last, unfinished line of a stream when the log ends without its newline. */
  complete: boolean;
}

const NL = 0x0a;
const SP = 0x20;

/** Parses one record line (without its newline); undefined for a line that is not a record. */
export function parseRecord(line: Buffer): LogRecord | undefined {
  const a = line.indexOf(SP);
  const b = a < 0 ? -1 : line.indexOf(SP, a + 1);
  if (b < 0 || line.length < b + 2) return undefined;
  const stream = line.toString('latin1', a + 1, b);
  const tag = line[b + 1];
  if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 0x46 /* F */ && tag !== 0x50 /* P */)) return undefined;
  // "F" alone (an empty line) has no space after the tag.
  return { time: line.toString('latin1', 0, a), stream, partial: tag === 0x50, content: line.subarray(Math.min(line.length, b + 3)) };
}

/** Joins records into lines, keeping what is unfinished per stream across calls. */
export class LineJoiner {
  private pending: Record<'stdout' | 'stderr', { time: string; parts: Buffer[] } | undefined> = { stdout: undefined, stderr: undefined };

  push(r: LogRecord): LogLine | undefined {
    const p = this.pending[r.stream];
    if (r.partial) {
      if (p) p.parts.push(r.content);
      else this.pending[r.stream] = { time: r.time, parts: [r.content] };
      return undefined;
    }
    this.pending[r.stream] = undefined;
    return { time: p?.time ?? r.time, stream: r.stream, content: p ? Buffer.concat([...p.parts, r.content]) : r.content, complete: true };
  }

  /** The unfinished lines, at the end of a log that will not grow. */
  flush(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const p = this.pending[stream];
      if (p) out.push({ time: p.time, stream, content: Buffer.concat(p.parts), complete: false });
      this.pending[stream] = undefined;
    }
    return out;
  }
}

/** The log's files, oldest first. */
/**
 * Whether the container keeps a log (not --log-driver none): a detached one, or a foreground run that logged
 * (a kept container's, not --rm; older nooks logged none).
 */
export function keepsLog(dir: { dir: string; config(): { detached?: boolean; log?: { none?: boolean } } }): boolean {
  const config = dir.config();
  return !config.log?.none && (Boolean(config.detached) || logFiles(dir.dir).length > 0);
}

export function logFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((n) => /^container\.log\.(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((x, y) => Number(y[1]) - Number(x[1]))
    .map((m) => path.join(dir, m[0]));
  return names.includes('container.log') ? [...rotated, path.join(dir, 'container.log')] : rotated;
}

/** Splits complete record lines off `buf`; returns them and the incomplete rest. */
function splitRecords(buf: Buffer): { records: LogRecord[]; rest: Buffer } {
  const records: LogRecord[] = [];
  let start = 0;
  for (let nl = buf.indexOf(NL); nl >= 0; nl = buf.indexOf(NL, start)) {
    const r = parseRecord(buf.subarray(start, nl));
    if (r) records.push(r);
    start = nl + 1;
  }
  return { records, rest: buf.subarray(start) };
}

/** Every line in the log now (the unfinished ones last), oldest first. */
export function readLogLines(dir: string): LogLine[] {
  const joiner = new LineJoiner();
  const lines: LogLine[] = [];
  for (const file of logFiles(dir)) {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      continue; // rotated away meanwhile
    }
    for (const r of splitRecords(data).records) {
      const l = joiner.push(r);
      if (l) lines.push(l);
    }
  }
  return [...lines, ...joiner.flush()];
}

export interface PrintOptions {
  /** Only the last N lines. */
  tail?: number;
  /** Only lines written at or after this time, and at or before `untilTime` (ms since the epoch). */
  since?: number;
  untilTime?: number;
  /** Put before every line (podman's `ID ` when several containers are shown). */
  prefix?: string;
  timestamps: boolean;
  follow: boolean;
  /** Resolves once the container has exited; following stops after printing everything written before. */
  until: Promise<void>;
  /** Only these streams (run -a); default both. */
  streams?: { stdout: boolean; stderr: boolean };
}

class OutputClosed extends Error {}

function writeFd(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') throw new OutputClosed();
      throw e;
    }
  }
}

function printLine(l: LogLine, timestamps: boolean, out: number, err: number, prefix = ''): void {
  const head = Buffer.from(timestamps ? `${prefix}${l.time} ` : prefix);
  writeFd(l.stream === 'stderr' ? err : out, Buffer.concat([head, l.content, Buffer.from(l.complete ? '\n' : '')]));
}

/** Reads the current file from an offset on, through rotations (the renamed file is finished first). */
class Follower {
  private fd = -1;
  private ino = -1;
  private pos = 0;
  private rest: Buffer = Buffer.alloc(0);

  constructor(
    private readonly file: string,
    private readonly joiner: LineJoiner,
    public emit: (l: LogLine) => void,
  ) {
    this.open();
  }

  /** The inode being read: a rotated file with this inode is the one the follower reads. */
  get inode(): number {
    return this.ino;
  }

  private open(): void {
    try {
      this.fd = fs.openSync(this.file, 'r');
      this.ino = fs.fstatSync(this.fd).ino;
    } catch {
      this.fd = -1;
      this.ino = -1;
    }
    this.pos = 0;
    this.rest = Buffer.alloc(0);
  }

  private readToEnd(): void {
    if (this.fd < 0) return;
    const chunk = Buffer.alloc(65536);
    for (;;) {
      const n = fs.readSync(this.fd, chunk, 0, chunk.length, this.pos);
      if (n <= 0) break;
      this.pos += n;
      const { records, rest } = splitRecords(Buffer.concat([this.rest, chunk.subarray(0, n)]));
      this.rest = Buffer.from(rest); // a record still being written: completed by the next read
      for (const r of records) {
        const l = this.joiner.push(r);
        if (l) this.emit(l);
      }
    }
  }

  /** Prints what was appended; on rotation, finishes the old file and goes on with the new one from its start. */
  poll(): void {
    for (;;) {
      this.readToEnd();
      let ino = -1;
      try {
        ino = fs.statSync(this.file).ino;
      } catch {
        /* not created yet, or between the rename and the new file */
      }
      if (ino === this.ino || ino < 0) return;
      if (this.fd >= 0) fs.closeSync(this.fd);
      this.open();
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** `nook logs`: prints the log (the last `tail` lines), then, with `follow`, what comes until the container has exited. */
export async function printLogs(dir: string, opts: PrintOptions, out = 1, err = 2): Promise<void> {
  const inTime = (l: LogLine) => {
    if (opts.since === undefined && opts.untilTime === undefined) return true;
    const t = Date.parse(l.time);
    return !(t < (opts.since ?? -Infinity) || t > (opts.untilTime ?? Infinity));
  };
  const emit = (l: LogLine) => {
    if (inTime(l) && (!opts.streams || opts.streams[l.stream])) printLine(l, opts.timestamps, out, err, opts.prefix);
  };
  const tail = (lines: LogLine[]) => {
    const shown = lines.filter(inTime);
    return opts.tail === undefined ? shown : shown.slice(Math.max(0, shown.length - opts.tail));
  };
  try {
    if (!opts.follow) return void tail(readLogLines(dir)).forEach(emit);
    await follow(dir, opts, emit, tail);
  } catch (e) {
    if (!(e instanceof OutputClosed)) throw e;
  }
}

async function follow(dir: string, opts: PrintOptions, emit: (l: LogLine) => void, tail: (lines: LogLine[]) => LogLine[]): Promise<void> {
  let wake: () => void = () => {};
  let dirty = false; // something changed since the last poll
  let watcher: fs.FSWatcher | undefined;
  try {
    // The watcher first, so that nothing written between the first read and the watch goes unnoticed.
    watcher = fs.watch(dir, () => {
      dirty = true;
      wake();
    });
  } catch {
    /* no directory: nothing was ever logged, and the container is gone */
  }
  try {
    // The current file is opened before the rotated ones are listed: a rotation in between
    // shows up as a rotated file with the follower's inode, which is then left to the follower.
    const joiner = new LineJoiner();
    const backlog: LogLine[] = [];
    const follower = new Follower(path.join(dir, 'container.log'), joiner, (l) => backlog.push(l));
    for (const file of logFiles(dir).filter((f) => path.basename(f) !== 'container.log')) {
      try {
        if (fs.statSync(file).ino === follower.inode) continue;
        for (const r of splitRecords(fs.readFileSync(file)).records) {
          const l = joiner.push(r);
          if (l) backlog.push(l);
        }
      } catch {
        /* rotated away meanwhile */
      }
    }
    follower.poll();
    tail(backlog).forEach(emit);
    follower.emit = emit;

    let done = false;
    void opts.until.then(() => {
      done = true;
      wake();
    });
    while (!done) {
      // Woken by the watcher or by the container's end; a slow tick is the safety net for a missed event.
      if (!dirty)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      dirty = false;
      wake = () => {};
      follower.poll();
    }
    follower.poll(); // everything the container wrote before its end
    joiner.flush().forEach(emit);
    follower.close();
  } finally {
    watcher?.close();
  }
}
