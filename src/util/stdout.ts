/**
 * Whether nook wrote to process.stdout as a stream (the -t session does).
 * Merely reading process.stdout creates the stream, which loads Node's tty
 * or net modules (~2 ms), so the exit path asks this instead of looking.
 */
let used = false;

export function noteStdoutStreamUsed(): void {
  used = true;
}

export function stdoutStreamUsed(): boolean {
  return used;
}
