/**
 * Pull progress. On a terminal: one line per layer, redrawn in place (state,
 * a bar, bytes and speed). Otherwise: one plain line per layer when it is
 * done, for logs. Quiet: nothing. Written with writeSync to a file
 * descriptor (stdout for `pull`, stderr for `run`), so it interleaves
 * correctly with nook's other messages.
 */
import fs = require('node:fs');
import tty = require('node:tty');
import type { LayerState, PullEvents } from '../image/pull';
import type { LayerRecord } from '../image/store/store';
import { formatBytes } from './format';

export type ProgressMode = 'tty' | 'plain' | 'quiet';

interface LayerLine {
  id: string;
  state: LayerState;
  done: number;
  total: number;
  started?: number;
}

export function progressMode(fd: number, quiet: boolean): ProgressMode {
  if (quiet) return 'quiet';
  return tty.isatty(fd) && process.env.TERM !== 'dumb' ? 'tty' : 'plain';
}

const LABEL: Record<LayerState, string> = {
  waiting: 'Waiting',
  downloading: 'Downloading',
  verifying: 'Verifying',
  extracting: 'Extracting',
  done: 'Pull complete',
  exists: 'Already exists',
};

/** "[=====>     ] 3.1MB/10MB  1.2MB/s": a bar, the bytes, and the speed since `started` (when given). */
export function progressBar(done: number, total: number, started?: number): string {
  const frac = total ? Math.min(1, done / total) : 0;
  const width = 30;
  const fill = Math.round(frac * width);
  const bar = `[${'='.repeat(Math.max(0, fill - 1))}${fill ? '>' : ''}${' '.repeat(width - fill)}]`;
  const secs = started ? (Date.now() - started) / 1000 : 0;
  const speed = secs > 0.2 ? `  ${formatBytes(Math.round(done / secs))}/s` : '';
  return `${bar} ${formatBytes(done)}/${formatBytes(total)}${speed}`;
}

/**
 * Status lines (one per layer or blob) redrawn in place on a terminal, at
 * most ten times a second unless something changed state, with messages
 * printed above them; nothing is drawn in plain or quiet mode.
 */
export class LiveLines {
  private drawn = 0;
  private lastDraw = 0;

  constructor(
    private readonly fd: number,
    readonly mode: ProgressMode,
    private readonly lines: () => string[],
  ) {}

  write(text: string): void {
    try {
      fs.writeSync(this.fd, text);
    } catch {
      /* output closed: progress is not worth failing for */
    }
  }

  /** A line above the status lines (not in quiet mode). */
  message(line: string): void {
    if (this.mode === 'quiet') return;
    this.clear();
    this.write(`${line}\n`);
    this.draw(true);
  }

  private clear(): void {
    if (this.mode !== 'tty' || !this.drawn) return;
    this.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  draw(force: boolean): void {
    if (this.mode !== 'tty') return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const lines = this.lines().map((l) => `\x1b[2K${l}\n`);
    this.write(`${this.drawn ? `\x1b[${this.drawn}A` : ''}${lines.join('')}`);
    this.drawn = lines.length;
  }
}

export class PullProgress implements PullEvents {
  private layers = new Map<string, LayerLine>();
  private readonly board: LiveLines;
  private readonly mode: ProgressMode;

  constructor(fd: number, mode: ProgressMode) {
    this.mode = mode;
    this.board = new LiveLines(fd, mode, () => [...this.layers.values()].map((l) => this.render(l)));
  }

  private write(text: string): void {
    this.board.write(text);
  }

  /** A line of its own ("Pulling …", "Digest: …"), not in quiet mode. */
  say(line: string): void {
    if (this.mode !== 'quiet') this.write(`${line}\n`);
  }

  resolved(ref: string, digest: string, layers: LayerRecord[]): void {
    this.say(`Pulling ${ref} (${digest})`);
    for (const l of layers)
      if (!this.layers.has(l.diffId)) this.layers.set(l.diffId, { id: l.digest.slice(7, 19), state: 'waiting', done: 0, total: l.size });
  }

  layer(diffId: string, state: LayerState, done = 0, total = 0): void {
    const line = this.layers.get(diffId);
    if (!line) return;
    const changed = line.state !== state;
    if (state === 'downloading' && !line.started) line.started = Date.now();
    line.state = state;
    line.done = done;
    line.total = total || line.total;
    if (this.mode === 'plain' && changed && (state === 'done' || state === 'exists'))
      this.write(`${line.id}: ${LABEL[state]}${state === 'done' ? ` (${formatBytes(line.total)})` : ''}\n`);
    if (this.mode === 'tty') this.draw(changed);
  }

  warning(message: string): void {
    this.board.message(`nook: warning: ${message}`);
  }

  retry(what: string, attempt: number, err: Error): void {
    this.board.message(`nook: ${what}: ${err.message}; retrying (attempt ${attempt + 1})`);
  }

  private render(l: LayerLine): string {
    const label = LABEL[l.state].padEnd(14);
    if (l.state !== 'downloading' && l.state !== 'extracting') return `${l.id}: ${label}`;
    return `${l.id}: ${label} ${progressBar(l.done, l.total, l.state === 'downloading' ? l.started : undefined)}`;
  }

  /** Redraws all layer lines in place (see LiveLines). */
  draw(force: boolean): void {
    this.board.draw(force);
  }
}
