/**
 * `nook top CONTAINER [ps OPTIONS]`, as docker's: the host's `ps` (default
 * -ef) filtered to the container's processes, with host pids, laid out as
 * docker lays it out (columns at least 20 wide). Arguments that are all
 * podman's format descriptors (pid, user, huser, args, ...) make podman's
 * table instead (src/container/ps-descriptors.ts).
 */
import { spawnSync } from 'node:child_process';
import { NookError } from '../errors';
import { containerPids } from '../container/processes';
import { liveState } from '../container/status';
import { ContainerStore } from '../container/state';
import { asStatusOne } from './container-refs';
import { table, writeOut } from './format';

/** docker's parsePSOutput: the title line, then the rows whose PID column is one of `pids` (the last column keeps its spaces). */
export function filterPsOutput(text: string, pids: Set<number>): string[][] {
  const lines = text.split('\n');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const at = titles.indexOf('PID');
  if (at < 0) throw new NookError("couldn't find PID field in ps output", { exitCode: 1, hint: 'give ps options whose output has a PID column, e.g. -ef or aux' });
  const rows = [titles];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!line.trim() || !pids.has(Number(fields[at]))) continue;
    rows.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return rows;
}

export async function topCommand(argv: string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') {
    writeOut("Usage: nook top CONTAINER [ps OPTIONS]\n\nShows a running container's processes, as the host's ps (default: ps -ef) sees them.\nArguments that are all podman's format descriptors (args, comm, etime, group, hgroup,\nhpid, huser, nice, pcpu, pgid, pid, ppid, rgroup, ruser, state, time, tty, user, vsz;\ncomma- or space-separated) print those columns instead, read from /proc.\n");
    return 0;
  }
  const [ref, ...psArgs] = argv;
  if (!ref) throw new NookError('nook top needs a container', { exitCode: 1, hint: 'e.g. nook top web, or nook top web aux' });
  let pids: number[] | undefined;
  try {
    const dir = ContainerStore.open().resolve(ref);
    const s = liveState(dir);
    pids = s.display === 'running' ? containerPids(s) : undefined;
  } catch (e) {
    throw e instanceof NookError ? asStatusOne(e) : e;
  }
  if (!pids) throw new NookError(`container ${ref} is not running`, { exitCode: 1, hint: `start it: nook start ${ref}` });
  // podman's format descriptors (pid,user,huser,args...), read from /proc; anything else is options for the host's ps, as docker.
  const { parseDescriptors, descriptorTable } = await import('../container/ps-descriptors');
  const descriptors = parseDescriptors(psArgs);
  if (descriptors) {
    writeOut(table(descriptorTable(pids, descriptors), { minWidth: 0, padding: 3 }));
    return 0;
  }
  const r = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new NookError(`cannot run ps: ${r.error.message}`, { exitCode: 1, hint: 'nook top needs the host\'s ps (procps)' });
  if (r.status !== 0) throw new NookError(`ps ${psArgs.join(' ')} failed (exit status ${r.status}): ${r.stderr.trim()}`, { exitCode: 1 });
  writeOut(table(filterPsOutput(r.stdout, new Set(pids)), { minWidth: 20, padding: 3 }));
  return 0;
}
