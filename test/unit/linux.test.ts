/**
 * ffi/linux.ts against the C headers: a small program built here prints
 * each constant as the headers define it. Skipped without a C compiler.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AT, CLONE, ERRNO, MNT, MOUNT_ATTR, MS, O, PR, SIGNAL, SOCKET } from '../../ffi/linux';

const haveCc = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;

/** Every constant of ffi/linux.ts with the C expression that must equal it. */
const pairs: [string, number][] = [
  ...Object.entries(CLONE).map(([k, v]): [string, number] => [`CLONE_${k}`, v]),
  ...Object.entries(MS).map(([k, v]): [string, number] => [`MS_${k}`, v]),
  ...Object.entries(PR).map(([k, v]): [string, number] => [k === 'CAP_AMBIENT_CLEAR_ALL' ? 'PR_CAP_AMBIENT_CLEAR_ALL' : `PR_${k}`, v]),
  ...Object.entries(SIGNAL).map(([k, v]): [string, number] => [k, v]),
  ...Object.entries(O).map(([k, v]): [string, number] => [`O_${k}`, v]),
  ...Object.entries(SOCKET).map(([k, v]): [string, number] => [k, v]),
  ...Object.entries(ERRNO).map(([k, v]): [string, number] => [k, v]),
  ...Object.entries(MNT).map(([k, v]): [string, number] => [`MNT_${k}`, v]),
  ...Object.entries(MOUNT_ATTR).map(([k, v]): [string, number] => [`MOUNT_ATTR_${k}`, v]),
  ...Object.entries(AT).map(([k, v]): [string, number] => [`AT_${k}`, v]),
];

describe.skipIf(!haveCc)('ffi/linux.ts', () => {
  it('matches the C headers, constant by constant', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nook-linux-'));
    try {
      const src = path.join(dir, 'c.c');
      fs.writeFileSync(
        src,
        [
          '#define _GNU_SOURCE',
          ...['errno.h', 'fcntl.h', 'sched.h', 'signal.h', 'stdio.h', 'sys/mount.h', 'sys/prctl.h', 'sys/socket.h'].map((h) => `#include <${h}>`),
          'int main(void) {',
          ...pairs.map(([name]) => `  printf("%s %ld\\n", "${name}", (long)(${name}));`),
          '  return 0;',
          '}',
        ].join('\n'),
      );
      const bin = path.join(dir, 'c');
      const cc = spawnSync('cc', ['-o', bin, src], { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const fromC = Object.fromEntries(spawnSync(bin, { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
      expect(fromC).toEqual(Object.fromEntries(pairs));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
