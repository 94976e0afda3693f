/**
 * stdin, stdout and stderr without a terminal: passed straight through,
 * stdin only with -i.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sandbox, sandboxSh, show } from '../helpers/nook';

describe('stdin', () => {
  it('without -i it is /dev/null, even when data is piped to nook', async () => {
    const r = await sandbox(['cat'], [], { input: 'this must not arrive\n' });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('');
    const link = await sandbox(['readlink', '/proc/self/fd/0'], [], { input: 'x' });
    expect(link.stdout).toBe('/dev/null\n');
  });

  it('-i passes 1 MiB of binary data through unchanged', async () => {
    const data = randomBytes(1 << 20);
    for (const flag of ['-i', '--interactive']) {
      const r = await sandbox(['cat'], [flag], { input: data });
      expect(r.code, show(r)).toBe(0);
      expect(r.stdoutBytes.length).toBe(data.length);
      expect(r.stdoutBytes.equals(data)).toBe(true);
    }
  });

  it('-i: the command sees EOF when nook\'s stdin ends', async () => {
    const r = await sandbox(['wc', '-c'], ['-i'], { input: Buffer.alloc(12345, 'a') });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe('12345');
  });

  it('-i with nothing to read: the command gets EOF at once', async () => {
    const r = await sandbox(['cat'], ['-i']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('stdout and stderr', () => {
  it('stay separate', async () => {
    const r = await sandboxSh('echo to-out; echo to-err >&2; echo more-out');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('to-out\nmore-out\n');
    expect(r.stderr).toBe('to-err\n');
  });

  it('carry large output completely', async () => {
    const r = await sandboxSh('head -c 4194304 /dev/zero; head -c 1048576 /dev/zero >&2');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdoutBytes.length).toBe(4194304);
    expect(r.stderr.length).toBe(1048576);
  });

  it('the command gets only fds 0, 1 and 2: nothing of nook\'s leaks in', async () => {
    // `; true`: the shell (pid 1) stays, and ls, its child, lists the shell's fds rather than its own.
    for (const flags of [[], ['-i']]) {
      const r = await sandboxSh('ls /proc/$$/fd; true', flags, { input: '' });
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout.trim().split(/\s+/), flags.join(' ')).toEqual(['0', '1', '2']);
    }
  });
});
