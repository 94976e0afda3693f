/**
 * A kept container's record holds the request it was composed from, and
 * `nook start` composes the container again from it (on the host as it is
 * then); a record without one (an older nook's) runs its stored spec.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { env, ok, runDetached } from '../helpers/containers';
import { show } from '../helpers/nook';

function recordFile(e: ReturnType<typeof env>, id: string): string {
  return path.join(e.state, 'containers', id, 'config.json');
}

function editRecord(file: string, edit: (config: Record<string, any>) => void): void {
  const st = fs.statSync(file);
  const config = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(config);
  fs.writeFileSync(file, JSON.stringify(config));
  fs.chownSync(file, st.uid, st.gid);
}

describe('the stored request', () => {
  it('is kept in the record, and nook start composes the container from it', async () => {
    const e = env();
    const id = await runDetached(e, ['--name', 'req', '-e', 'A=1', '--hostname', 'kept'], ['sh', '-c', 'echo "A=$A B=$B $(hostname)"']);
    expect((await ok(e, ['wait', 'req'])).trim()).toBe('0');
    const file = recordFile(e, id);
    const record = JSON.parse(fs.readFileSync(file, 'utf8')).spec;
    expect(record.request.request.process).toMatchObject({ args: ['sh', '-c', 'echo "A=$A B=$B $(hostname)"'], env: ['A=1'] });
    expect(record.request.root.rootfs).toBe(record.spec.rootfs);

    // What start runs comes from the request: a change there shows.
    editRecord(file, (c) => c.spec.request.request.process.env.push('B=2'));
    await ok(e, ['start', 'req']);
    expect((await ok(e, ['wait', 'req'])).trim()).toBe('0');
    const logs = (await ok(e, ['logs', 'req'])).trim().split('\n');
    expect(logs).toEqual(['A=1 B= kept', 'A=1 B=2 kept']);

    // A record without a request (an older nook's) runs the spec it holds.
    editRecord(file, (c) => delete c.spec.request);
    await ok(e, ['start', 'req']);
    expect((await ok(e, ['wait', 'req'])).trim()).toBe('0');
    expect((await ok(e, ['logs', 'req'])).trim().split('\n').at(-1)).toBe('A=1 B= kept');
    const rm = await e.nook(['rm', 'req']);
    expect(rm.code, show(rm)).toBe(0);
  });
});
