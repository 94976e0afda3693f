/**
 * Push progress, as docker shows it: one line per blob (Waiting, Pushing
 * with a bar, Pushed, Layer already exists, Mounted from REPO), redrawn in
 * place on a terminal; otherwise one plain line per blob when it is done.
 */
import type { BlobPushState, PushBlob, PushEvents } from '../image/push';
import { formatBytes } from './format';
import { LiveLines, progressBar, type ProgressMode } from './progress';

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
  private readonly board: LiveLines;
  private readonly mode: ProgressMode;

  constructor(fd: number, mode: ProgressMode) {
    this.mode = mode;
    this.board = new LiveLines(fd, mode, () => [...this.blobs.values()].map((l) => `${l.id}: ${this.label(l)}`));
  }

  private write(text: string): void {
    this.board.write(text);
  }

  say(line: string): void {
    this.board.message(line);
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

  /** Redraws all blob lines in place (see LiveLines). */
  draw(force: boolean): void {
    this.board.draw(force);
  }
}
