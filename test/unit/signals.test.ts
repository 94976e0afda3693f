import { describe, expect, it } from 'vitest';
import { exitCodeFromWaitStatus, parseSignalMasks, signalForInit } from '../../src/sandbox/signals';

const bit = (sig: number) => 1n << BigInt(sig - 1);

describe('signals for a namespace init', () => {
  it('reads the caught and ignored masks from /proc/PID/status', () => {
    const m = parseSignalMasks('Name:\tsh\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000010002\n');
    expect(m.ignored).toBe(bit(3));
    expect(m.caught).toBe(bit(2) | bit(17));
  });

  it('delivers caught or ignored signals as they are', () => {
    expect(signalForInit(15, { caught: bit(15), ignored: 0n })).toBe(15);
    expect(signalForInit(2, { caught: 0n, ignored: bit(2) })).toBe(2);
  });

  it('turns a signal that would be dropped but should terminate into SIGKILL', () => {
    for (const sig of [1, 2, 3, 10, 12, 15]) expect(signalForInit(sig, { caught: 0n, ignored: 0n })).toBe(9);
  });

  it('leaves signals whose default is to be ignored alone', () => {
    expect(signalForInit(28, { caught: 0n, ignored: 0n })).toBe(28); // SIGWINCH
  });

  it('maps wait statuses to shell-style exit codes', () => {
    expect(exitCodeFromWaitStatus(42 << 8, null)).toBe(42);
    expect(exitCodeFromWaitStatus(15, null)).toBe(143);
    expect(exitCodeFromWaitStatus(9, 2)).toBe(130); // killed by nook for a SIGINT it had no handler for
    expect(exitCodeFromWaitStatus(9, null)).toBe(137);
  });
});
