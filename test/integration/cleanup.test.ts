/**
 * Nothing outlives a sandbox: no process of the test user, no mount on the
 * host (all of the sandbox's mounts live in its own mount namespace).
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/files';
import { rootfs, runArgs, sandbox, sandboxSh, show, startNook } from '../helpers/nook';
import { hostMountinfo, runningProcessesOf, processesWithArgv } from '../helpers/procs';
import { isRoot, need, testUsers, type TestUser } from '../helpers/users';

function hostMountsOfRootfs(): string[] {
  return hostMountinfo()
    .split('\n')
    .filter((l) => l.includes(rootfs()));
}

describe('no mount on the host', () => {
  it('before, while and after a sandbox with binds and tmpfs mounts runs', async () => {
    expect(hostMountsOfRootfs()).toEqual([]);
    const dir = scratchDir(testUsers().any);
    const flags = ['-v', `${dir}:/mnt/data`, '-v', `${dir}:/mnt/ro:ro`, '--tmpfs', '/tmp', '--read-only'];
    const nook = startNook(runArgs(flags, ['sh', '-c', 'echo ready; exec sleep 1351']));
    await nook.waitForStdout('ready\n');
    // The sandbox is up, with all its mounts, and stays so until told otherwise.
    expect(hostMountsOfRootfs()).toEqual([]);
    nook.kill('SIGTERM');
    const r = await nook.exited;
    expect(r.code, show(r)).toBe(143);
    expect(hostMountsOfRootfs()).toEqual([]);
  });

  it('after a sandbox whose set-up failed half-way, or whose command was not found', async () => {
    if (isRoot) {
      // The first bind is in place when the second one's mount point cannot be made.
      const r = await sandbox(['true'], ['-v', `${scratchDir()}:/mnt/data`, '-v', `${scratchDir()}:/no/such/dir`]);
      expect(r.code, show(r)).toBe(125);
    }
    const r2 = await sandbox(['nosuchcmd'], ['-v', `${scratchDir()}:/mnt/data`]);
    expect(r2.code).toBe(127);
    expect(hostMountsOfRootfs()).toEqual([]);
  });
});

describe('no process left behind', () => {
  const kinds = ['sub', 'nosub'] as const;

  it.for(kinds)('background processes die with the command (user with%s subordinate ids)', async (kind, ctx) => {
    const user: TestUser = need(ctx, kind);
    const argv = ['sleep', `13${kind === 'sub' ? 1 : 2}1`];
    const r = await sandboxSh(`${argv.join(' ')} & echo started`, [], { user });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('started\n');
    expect(processesWithArgv(argv)).toEqual([]);
    expect(runningProcessesOf(user)).toEqual([]);
  });

  it('nor after a run as another uid inside (-u 1000)', async (ctx) => {
    const user = need(ctx, 'sub');
    const argv = ['sleep', '1341'];
    const r = await sandboxSh(`${argv.join(' ')} & echo started`, ['-u', '1000'], { user });
    expect(r.code, show(r)).toBe(0);
    expect(runningProcessesOf(user)).toEqual([]);
  });

  it('nor after failures: 125, 126, 127', async () => {
    const user = testUsers().any;
    const missing = path.join(scratchDir(), 'missing');
    expect((await sandbox(['true'], ['-v', `${missing}:/mnt/data`])).code).toBe(125);
    if (isRoot) expect((await sandbox(['true'], ['-v', `${scratchDir()}:/no/such/dir`])).code).toBe(125);
    expect((await sandbox(['/etc/passwd'])).code).toBe(126);
    expect((await sandbox(['nosuchcmd'])).code).toBe(127);
    expect(runningProcessesOf(user)).toEqual([]);
  });
});
