/** What /proc/PID/stat says of a process. */
import fs = require('node:fs');

/** Field 22 of /proc/PID/stat: the process's start time (clock ticks since boot), which tells a reused pid from ours. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}
