/**
 * The user's terminal and shell job, without -t: the command may read and
 * write the terminal it inherits (with -i), but never has it as its
 * controlling terminal, so it cannot type into it (TIOCSTI: keystrokes the
 * user's shell would run once nook exits) or take its foreground; and it is
 * never in nook's process group, so kill(0, ...) inside cannot reach the
 * host processes of the user's job.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { env, ok, runDetached } from '../helpers/containers';
import { rootfs, runArgs, show, startNook } from '../helpers/nook';
import { NOOK } from '../helpers/paths';
import { runOnPty, type PtyResult } from '../helpers/pty';

const MARK = 'nook-injected';

function explain(r: PtyResult): string {
  return `status ${r.status}${r.timedOut ? ' (timed out)' : ''}\n--- terminal\n${r.output}\n--- left in its input\n${r.input}`;
}

/** /bin/tiocsti (test/helpers/tiocsti.c) on the user's terminal: nothing typed, no foreground taken. */
function expectNoTerminalControl(r: PtyResult, stdinIsTerminal: boolean): void {
  expect(r.status, explain(r)).toBe(0);
  const lines = r.output.trim().split('\n');
  // fds 1 and 2 are the user's terminal, and 0 too with -i; without -i fd 0 is /dev/null.
  // EPERM: TIOCSTI wants the terminal to be the caller's controlling one. ENOTTY: so does tcsetpgrp.
  expect(lines, explain(r)).toEqual([
    stdinIsTerminal ? 'fd0 sti=EPERM fg=ENOTTY' : 'fd0 sti=ENOTTY fg=ENOTTY',
    'fd1 sti=EPERM fg=ENOTTY',
    'fd2 sti=EPERM fg=ENOTTY',
  ]);
  // Typed bytes would be echoed on the terminal and wait in its input for the user's shell.
  expect(r.output).not.toContain(MARK);
  expect(r.input).not.toContain(MARK);
}

describe("the user's terminal is never the command's controlling terminal", () => {
  it.for(['', '-i', '--init', '-i --init'])("run '%s': no TIOCSTI, no tcsetpgrp on fds 0-2", async (opts) => {
    const flags = opts.split(' ').filter(Boolean);
    const r = await runOnPty(runArgs(flags, ['/bin/tiocsti', `echo ${MARK}\n`]));
    expectNoTerminalControl(r, flags.includes('-i'));
  });

  it('exec and exec -i: no TIOCSTI, no tcsetpgrp on fds 0-2', async () => {
    const e = env();
    await runDetached(e, ['--name', 'sti'], ['sleep', '2401']);
    try {
      for (const flags of [[], ['-i']]) {
        const r = await runOnPty(['exec', ...flags, 'sti', '/bin/tiocsti', `echo ${MARK}\n`], { user: e.user, env: e.opts.env });
        expectNoTerminalControl(r, flags.includes('-i'));
      }
    } finally {
      await ok(e, ['rm', '-f', 'sti']);
    }
  });

  it('-i still reads the terminal, and typed Ctrl-C runs the command\'s trap once', async () => {
    const script = 'n=0; trap \'n=$((n+1)); echo got INT $n\' INT; echo ready; read line; echo "read $line"; ' +
      'echo waiting; while [ $n -lt 1 ]; do sleep 0.1; done; sleep 0.5; echo total $n';
    const r = await runOnPty(runArgs(['-i'], ['sh', '-c', script]), {
      steps: [{ expect: 'ready', send: 'typed words\\r' }, { expect: 'waiting', send: '\\x03' }],
    });
    expect(r.status, explain(r)).toBe(0);
    expect(r.output).toContain('read typed words\n');
    expect(r.output.match(/got INT \d/g)).toEqual(['got INT 1']);
    expect(r.output).toContain('total 1\n');
  });
});

/** The state letter and process group of a host process, or null when it is gone. */
function stateAndGroup(pid: number): { state: string; pgid: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, pgid: Number(f[2]) };
  } catch {
    return null;
  }
}

describe("the command is never in nook's process group", () => {
  it.for(['', '-i', '-i --init'])("run '%s': kill -9 0 inside spares a process beside nook in its job", async (flags) => {
    // A shell job: the sh below leads the group, starts a sibling in it, then becomes nook (exec).
    const inner = `${NOOK} run --rootfs ${rootfs()} ${flags} -- sh -c 'kill -9 0; echo after-kill'`;
    const job = startNook(['-c', `sleep 2402 </dev/null >/dev/null 2>&1 & echo sibling $!; exec ${inner}`], {
      bin: '/bin/sh',
      ownGroup: true,
      input: '',
    });
    await job.waitForStdout('sibling ');
    const r = await job.exited;
    const sibling = Number(/sibling (\d+)/.exec(r.stdout)![1]);
    try {
      const s = stateAndGroup(sibling);
      expect(s, `the sibling (pid ${sibling}) is gone\n${show(r)}`).not.toBeNull();
      expect(s!.pgid).toBe(job.pid); // it was in nook's group: the attack could have reached it
      expect(s!.state).not.toBe('Z');
      expect(r.signal, show(r)).toBeNull(); // nook itself was not killed either
    } finally {
      try {
        process.kill(sibling, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
});
