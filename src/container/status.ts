/**
 * What a container's state really is right now. state.json says what its
 * keeper last wrote; the container's lock says whether a keeper is still
 * there. A "running" container whose lock nobody holds lost its supervisor
 * (SIGKILL, OOM, a reboot): its init died with it (PR_SET_PDEATHSIG), so
 * it is reported as exited, never as running.
 */
import { ago } from '../cli/images';
import type { ContainerDir, ContainerState } from './state';

export interface LiveState extends ContainerState {
  /** docker's State.Status: created, running, restarting, exited. */
  display: 'created' | 'running' | 'restarting' | 'exited';
}

export function liveState(dir: ContainerDir): LiveState {
  const s = dir.state();
  const held = dir.isHeld();
  if (s.status === 'running' || s.restarting) {
    if (held) return { ...s, display: s.restarting ? 'restarting' : 'running' };
    // The keeper is gone. Its exit record, if it got that far, is the truth; else init was killed with it.
    const last = dir.lastExit();
    const recorded = last && s.startedAt && last.finishedAt >= s.startedAt;
    return {
      ...s,
      status: 'exited',
      restarting: false,
      display: 'exited',
      exitCode: recorded ? last.code : 137,
      finishedAt: recorded ? last.finishedAt : s.finishedAt,
      note: recorded ? s.note : 'its supervisor was killed, and the container with it',
    };
  }
  return { ...s, display: s.status };
}

function duration(fromIso: string | undefined, now: number): string {
  const text = ago(fromIso, now);
  return text.replace(/ ago$/, '').replace(/^Less than a second$/, 'Less than a second');
}

/** docker ps's STATUS column: "Up 3 minutes", "Exited (0) 5 seconds ago", "Created", "Restarting (1) 2 seconds ago". */
export function statusText(s: LiveState, now = Date.now()): string {
  switch (s.display) {
    case 'running':
      return `Up ${duration(s.startedAt, now)}`;
    case 'restarting':
      return `Restarting (${s.exitCode ?? 0}) ${ago(s.finishedAt, now)}`;
    case 'exited':
      // A container that died with its supervisor has no recorded end time.
      return s.finishedAt ? `Exited (${s.exitCode ?? 0}) ${ago(s.finishedAt, now)}` : `Exited (${s.exitCode ?? 0})`;
    default:
      return 'Created';
  }
}
