/**
 * -t: the command runs on a pseudo-terminal of its own, with nook at a real
 * terminal (a pty made by test/helpers/pty_run.py) copying between the two.
 */
import { describe, expect, it } from 'vitest';
import { runArgs, sandbox, show } from '../helpers/nook';
import { processesWithArgv } from '../helpers/procs';
import { runOnPty, type PtyResult } from '../helpers/pty';
import { need } from '../helpers/users';

function explain(r: PtyResult): string {
  return `status ${r.status}${r.timedOut ? ' (timed out)' : ''}, waiting for ${JSON.stringify(r.pendingExpect)}\n--- terminal\n${r.output}`;
}

describe('-t', () => {
  it('the command\'s stdio is /dev/pts/0, a terminal, with TERM=xterm', async () => {
    const r = await runOnPty(runArgs(['-t'], ['sh', '-c', 'tty; test -t 0 && test -t 1 && test -t 2 && echo all-tty; echo TERM=$TERM']));
    expect(r.status, explain(r)).toBe(0);
    expect(r.output).toBe('/dev/pts/0\nall-tty\nTERM=xterm\n');
    expect(r.restored).toBe(true);
  });

  it('the command gets only fds 0, 1 and 2, all on the pty', async () => {
    const r = await runOnPty(runArgs(['-t'], ['sh', '-c', 'ls /proc/$$/fd; readlink /proc/$$/fd/0; readlink /proc/$$/fd/2']));
    expect(r.status, explain(r)).toBe(0);
    expect(r.output.trim().split(/\s+/)).toEqual(['0', '1', '2', '/dev/pts/0', '/dev/pts/0']);
  });

  it('the terminal belongs to the command\'s user (-u 1000), who can write to it', async (ctx) => {
    const user = need(ctx, 'sub');
    const r = await runOnPty(runArgs(['-t', '-u', '1000'], ['sh', '-c', 'id -u; stat -c %u $(tty); echo written > $(tty)']), { user });
    expect(r.status, explain(r)).toBe(0);
    expect(r.output).toBe('1000\n1000\nwritten\n');
  });

  it('works for a user without subordinate ids', async (ctx) => {
    const user = need(ctx, 'nosub');
    const r = await runOnPty(runArgs(['-t'], ['sh', '-c', 'tty; echo written > $(tty)']), { user });
    expect(r.status, explain(r)).toBe(0);
    expect(r.output).toBe('/dev/pts/0\nwritten\n');
  });

  it('the command\'s exit status comes through', async () => {
    const r = await runOnPty(runArgs(['--tty'], ['sh', '-c', 'exit 3']));
    expect(r.status, explain(r)).toBe(3);
  });

  it('the command sees the terminal\'s size from its first instruction', async () => {
    // Several runs: the size must be there before the command starts, not soon after.
    for (let i = 0; i < 5; i++) {
      const r = await runOnPty(runArgs(['-t'], ['stty', 'size']), { size: [40, 100] });
      expect(r.status, explain(r)).toBe(0);
      expect(r.output, `run ${i}`).toBe('40 100\n');
    }
  });

  it('a resize of the terminal reaches the command (SIGWINCH, new size)', async () => {
    const script = 'trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.1; done';
    const r = await runOnPty(runArgs(['-t'], ['sh', '-c', script]), { size: [40, 100], steps: [{ expect: 'ready', resize: [50, 120] }] });
    expect(r.status, explain(r)).toBe(0);
    expect(r.output).toBe('ready\n50 120\n');
  });

  it('works when nook\'s own stdio is not a terminal', async () => {
    const r = await sandbox(['tty'], ['-t']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.replace(/\r\n/g, '\n')).toBe('/dev/pts/0\n');
  });
});

describe('-it', () => {
  it('what is typed reaches the command', async () => {
    const r = await runOnPty(runArgs(['-it'], ['sh', '-c', 'echo ready; read line; echo got:$line']), {
      steps: [{ expect: 'ready', send: 'typed words\\r' }],
    });
    expect(r.status, explain(r)).toBe(0);
    expect(r.output).toContain('got:typed words\n');
    expect(r.restored).toBe(true);
  });

  it('Ctrl-C ends a command without a handler: exit 130, terminal restored, nothing left', async () => {
    const argv = ['sleep', '1201'];
    const r = await runOnPty(runArgs(['-it'], ['sh', '-c', `echo ready; exec ${argv.join(' ')}`]), {
      steps: [{ expect: 'ready', send: '\\x03' }],
    });
    expect(r.status, explain(r)).toBe(130);
    expect(r.restored).toBe(true);
    expect(processesWithArgv(argv)).toEqual([]);
  });

  it('Ctrl-\\ ends it with SIGQUIT: exit 131', async () => {
    const r = await runOnPty(runArgs(['-it'], ['sh', '-c', 'echo ready; exec sleep 1202']), {
      steps: [{ expect: 'ready', send: '\\x1c' }],
    });
    expect(r.status, explain(r)).toBe(131);
  });

  it('--init: the command has the pty\'s foreground, so Ctrl-C runs its handler once, and reads work', async () => {
    const script = 'trap "echo got INT; exit 5" INT; cat /proc/1/comm; echo ready; read line; echo "got $line"; while :; do sleep 0.1; done';
    const r = await runOnPty(runArgs(['-it', '--init'], ['sh', '-c', script]), {
      steps: [{ expect: 'ready', send: 'typed\\r' }, { expect: 'got typed', send: '\\x03' }],
    });
    expect(r.status, explain(r)).toBe(5);
    expect(r.output).toContain('nook-init\nready\n');
    expect(r.output.match(/got INT/g)).toEqual(['got INT']);
    expect(r.restored).toBe(true);
  });

  it('Ctrl-C runs a command\'s INT handler exactly once', async () => {
    const script = 'trap "echo got INT; exit 5" INT; echo ready; while :; do sleep 0.1; done';
    const r = await runOnPty(runArgs(['-it'], ['sh', '-c', script]), { steps: [{ expect: 'ready', send: '\\x03' }] });
    expect(r.status, explain(r)).toBe(5);
    expect(r.output.match(/got INT/g)).toEqual(['got INT']);
    expect(r.restored).toBe(true);
  });
});
