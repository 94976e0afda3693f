/**
 * Push progress, as docker shows it: one line per blob (Waiting, Pushing
 * with a bar, Pushed, Layer already exists, Mounted from REPO), redrawn in
 * place on a terminal; otherwise one plain line per blob when it is done.
 */
import fs = require('node:fs');
import type { BlobPushState, PushBlob, PushEvents } from '../image/push';
import { formatBytes } from './format';
import { progressBar, type ProgressMode } from './progress';

interface BlobLine {
  id: string;
  state: BlobPushState;
  done: number;
  total: number;
  mountFrom?: string;
  started?: number;
}

export class PushProgress implements PushEvents {
  private blobs = new Map<string, BlobLine>();
  private drawn = 0;
  private lastDraw = 0;

  constructor(
    private fd: number,
    private mode: ProgressMode,
  ) {}

  private write(text: string): void {
    try {
      fs.writeSync(this.fd, text);
    } catch {
      /* output closed: progress is not worth failing for */
    }
  }

  say(line: string): void {
    if (this.mode === 'quiet') return;
    this.clear();
    this.write(`${line}\n`);
    this.draw(true);
  }

  resolved(dest: string, blobs: PushBlob[]): void {
    const repo = dest.replace(/[:@][^/]*$/, '');
    this.say(`The push refers to repository [${repo}]`);
    for (const b of blobs) this.blobs.set(b.digest, { id: b.digest.slice(7, 19), state: 'waiting', done: 0, total: b.size, mountFrom: b.mountFrom });
  }

  private label(l: BlobLine): string {
    switch (l.state) {
      case 'waiting':
        return 'Waiting';
      case 'pushing':
        return `Pushing        ${progressBar(l.done, l.total, l.started)}`;
      case 'pushed':
        return `Pushed (${formatBytes(l.total)})`;
      case 'exists':
        return 'Layer already exists';
      case 'mounted':
        return `Mounted from ${l.mountFrom}`;
    }
  }

  blob(digest: string, state: BlobPushState, done = 0, total = 0): void {
    const line = this.blobs.get(digest);
    if (!line) return;
    const changed = line.state !== state;
    if (state === 'pushing' && !line.started) line.started = Date.now();
    line.state = state;
    line.done = done;
    line.total = total || line.total;
    if (this.mode === 'plain' && changed && state !== 'waiting' && state !== 'pushing') this.write(`${line.id}: ${this.label(line)}\n`);
    if (this.mode === 'tty') this.draw(changed);
  }

  note(message: string): void {
    this.say(`nook: note: ${message}`);
  }

  retry(what: string, attempt: number, err: Error): void {
    this.say(`nook: ${what}: ${err.message}; retrying (attempt ${attempt})`);
  }

  private clear(): void {
    if (this.mode !== 'tty' || !this.drawn) return;
    this.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  /** Redraws all blob lines in place; at most ten times a second unless something changed state. */
  draw(force: boolean): void {
    if (this.mode !== 'tty') return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const lines = [...this.blobs.values()].map((l) => `\x1b[2K${l.id}: ${this.label(l)}\n`);
    this.write(`${this.drawn ? `\x1b[${this.drawn}A` : ''}${lines.join('')}`);
    this.drawn = lines.length;
  }
}
