/**
 * The size of the user's terminal (stdout's, else stdin's), for the pty of
 * `-t`: once in the plan, so the command starts with it, and on each resize.
 */
export interface TerminalSize {
  rows: number;
  cols: number;
}

export function terminalSize(): TerminalSize | undefined {
  for (const stream of [process.stdout, process.stdin] as const) {
    if (!stream.isTTY) continue;
    const [cols, rows] = (stream as unknown as { getWindowSize?(): [number, number] }).getWindowSize?.() ?? [0, 0];
    if (rows && cols) return { rows, cols };
  }
  return undefined;
}
