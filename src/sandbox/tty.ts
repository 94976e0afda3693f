/**
 * `-t`: the command runs on a pseudo-terminal allocated inside the sandbox
 * (from its own devpts instance); nook holds the master end, copies between
 * it and the user's terminal, puts that terminal in raw mode, follows window
 * size changes, and restores the terminal on every way out.
 */
import fs = require('node:fs');
import tty = require('node:tty');
import type { Native } from '../../ffi/native';
import { noteStdoutStreamUsed } from '../util/stdout';
import { terminalSize } from './terminal-size';

const TIOCSWINSZ = 0x5414;
const TCSANOW = 0;
const TERMIOS_SIZE = 64; // sizeof(struct termios) is 60 on Linux
const ISIG = 0x1;
const VINTR = 0;
const VQUIT = 1;
const TERMIOS_LFLAG_OFFSET = 12;
const TERMIOS_CC_OFFSET = 17;

export interface TtySession {
  /** Resolves when the pseudo-terminal is closed (all output copied). */
  closed: Promise<void>;
  restore(): void;
}

function setWindowSize(n: Native, master: number): void {
  const size = terminalSize();
  if (!size) return;
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(size.rows, 0);
  ws.writeUInt16LE(size.cols, 2);
  n.ioctl(master, TIOCSWINSZ, ws);
}

/**
 * Which signal, if any, the bytes typed by the user make the pty's line
 * discipline send (Ctrl-C, Ctrl-\). The kernel drops those for an init
 * without a handler; the caller then stops the command as a terminal would.
 */
function typedSignal(n: Native, master: number, data: Buffer): 'SIGINT' | 'SIGQUIT' | null {
  const t = Buffer.alloc(TERMIOS_SIZE);
  if (n.tcgetattr(master, t) !== 0) return null;
  if (!(t.readUInt32LE(TERMIOS_LFLAG_OFFSET) & ISIG)) return null;
  if (data.includes(t[TERMIOS_CC_OFFSET + VINTR])) return 'SIGINT';
  if (data.includes(t[TERMIOS_CC_OFFSET + VQUIT])) return 'SIGQUIT';
  return null;
}

/**
 * Puts the user's terminal (fd 0) in raw mode as cfmakeraw() defines it, like
 * docker -t; Node's setRawMode keeps output newline translation, which the
 * pty inside already does, and would turn "\n" into "\r\r\n". Returns the
 * function that puts the saved settings back.
 */
function makeRaw(n: Native): () => void {
  const saved = Buffer.alloc(TERMIOS_SIZE);
  if (n.tcgetattr(0, saved) !== 0) return () => {};
  const raw = Buffer.from(saved);
  n.cfmakeraw(raw);
  n.tcsetattr(0, TCSANOW, raw);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    n.tcsetattr(0, TCSANOW, saved);
  };
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* nothing to act on */
  }
}

export function startTtySession(
  n: Native,
  master: number,
  opts: { interactive: boolean; onTypedSignal: (sig: 'SIGINT' | 'SIGQUIT') => void; output?: Promise<void> },
): TtySession {
  const stdin = process.stdin;
  noteStdoutStreamUsed();
  let restore = () => {};
  process.on('exit', () => restore());

  const onResize = () => setWindowSize(n, master);
  if (process.stdout.isTTY) process.stdout.on('resize', onResize);

  // libuv watches an fd once, so reading and writing get descriptors of their own.
  const ptyOut = opts.output ? undefined : new tty.ReadStream(master);
  const ptyIn = new tty.WriteStream(n.dup(master));
  const closed = new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (process.stdout.isTTY) process.stdout.removeListener('resize', onResize);
      stdin.pause();
      stdin.removeAllListeners('data');
      ptyIn.destroy();
      if (ptyOut) ptyOut.destroy();
      else closeQuietly(master);
      resolve();
    };
    // The output is copied by another (a logged run's copier): its end is the end.
    if (!ptyOut) {
      opts.output!.then(finish, finish);
      return;
    }
    ptyOut.on('data', (chunk: Buffer) => {
      if (!process.stdout.write(chunk)) {
        ptyOut.pause();
        process.stdout.once('drain', () => ptyOut.resume());
      }
    });
    // When the last slave fd closes, reading the master fails with EIO: that is the end.
    ptyOut.on('end', finish);
    ptyOut.on('error', finish);
    ptyOut.on('close', finish);
  });

  if (opts.interactive) {
    if (stdin.isTTY) restore = makeRaw(n);
    stdin.on('data', (chunk: Buffer) => {
      ptyIn.write(chunk);
      const sig = typedSignal(n, master, chunk);
      if (sig) opts.onTypedSignal(sig);
    });
    stdin.resume();
  }
  return { closed, restore: () => restore() };
}
