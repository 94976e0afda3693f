/**
 * What a container's state really is right now. state.json says what its
 * keeper last wrote; the container's lock says whether a keeper is still
 * there. A "running" container whose lock nobody holds lost its supervisor
 * (SIGKILL, OOM, a reboot): its init died with it (PR_SET_PDEATHSIG), so
 * it is reported as exited, never as running.
 */
import { isFrozen } from './own-cgroup';
import type { ContainerConfig, ContainerDir, ContainerState, ContainerStore } from './state';

export interface LiveState extends ContainerState {
  /** docker's State.Status: created, running, restarting, exited. */
  display: 'created' | 'running' | 'restarting' | 'exited';
  /** Running, with its cgroup frozen by `nook pause`: docker's State.Paused (its Status "paused"). */
  paused?: boolean;
}

export function liveState(dir: ContainerDir): LiveState {
  const s = dir.state();
  const held = dir.isHeld();
  if (s.status === 'running' || s.restarting) {
    if (held) return { ...s, display: s.restarting ? 'restarting' : 'running', paused: !s.restarting && isFrozen(s.cgroup) };
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

export interface Listed {
  dir: ContainerDir;
  config: ContainerConfig;
  state: LiveState;
}

/** Every container that exists (a directory with a config), oldest first. */
export function listContainers(store: ContainerStore): Listed[] {
  const out: Listed[] = [];
  for (const id of store.ids()) {
    const dir = store.dir(id);
    try {
      out.push({ dir, config: dir.config(), state: liveState(dir) });
    } catch {
      /* being created or removed right now */
    }
  }
  return out.sort((a, b) => a.config.created.localeCompare(b.config.created));
}
