/**
 * `nook run` flags that make a container that outlives the command line:
 * -d, --name, --rm, --restart, --stop-signal, --log-opt.
 */
import os = require('node:os');
import { UsageError } from '../errors';
import { parseSize } from '../sandbox/cgroups/flags';
import { checkName, type LogOptions, type RestartPolicy } from '../container/state';
import { stringList, type FlagSpec, type FlagValues } from './args';

export const CONTAINER_FLAGS: readonly FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'boolean', help: 'run in the background under a supervisor; print the container id' },
  { name: 'name', type: 'string', value: 'NAME', help: 'name the container (it is kept after exit until `nook rm`, unless --rm)' },
  { name: 'rm', type: 'boolean', help: 'remove the container when it exits (foreground runs without --name leave nothing anyway)' },
  { name: 'restart', type: 'string', value: 'POLICY', help: 'with -d: no (default), or on-failure[:N] (restart on a non-zero exit, at most N times)' },
  { name: 'stop-signal', type: 'string', value: 'SIGNAL', help: 'signal that `nook stop` sends (default: the image\'s StopSignal, else SIGTERM)' },
  { name: 'log-opt', type: 'string', multiple: true, value: 'K=V', help: 'detached log: max-size=SIZE (default 10m), max-file=N (default 2)' },
];

export interface ContainerOptions {
  detach: boolean;
  name?: string;
  autoRemove: boolean;
  restart: RestartPolicy;
  stopSignal?: number;
  log: LogOptions;
  /** `nook create`: make the container, do not start it. */
  createOnly?: boolean;
}

/** Whether this run makes a container with state (listed by `nook ps -a`). */
export function wantsContainer(flags: FlagValues): boolean {
  // --restart alone too: containerOptions then says that it needs -d.
  return Boolean(flags.detach) || flags.name !== undefined || flags.restart !== undefined;
}

export function parseSignal(text: string, flag: string): number {
  const t = text.toUpperCase();
  const n = /^\d+$/.test(t) ? Number(t) : os.constants.signals[(t.startsWith('SIG') ? t : `SIG${t}`) as keyof typeof os.constants.signals];
  if (!n || n < 1 || n > 64) throw new UsageError(`invalid signal "${text}" for ${flag}`, 'e.g. SIGTERM, TERM, 15, SIGINT or SIGKILL');
  return n;
}

function restartPolicy(v: string | undefined): RestartPolicy {
  if (v === undefined || v === 'no') return { name: 'no' };
  const m = /^on-failure(?::(\d+))?$/.exec(v);
  if (m) return { name: 'on-failure', maxRetries: m[1] === undefined ? 0 : Number(m[1]) };
  throw new UsageError(`unsupported --restart policy "${v}"`, 'use --restart no or --restart on-failure[:MAX_RETRIES]');
}

function logOptions(values: string[]): LogOptions {
  const log: LogOptions = { maxSize: 10 * 1024 * 1024, maxFiles: 2 };
  for (const v of values) {
    const [k, val] = [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)];
    if (k === 'max-size') log.maxSize = parseSize(val, '--log-opt max-size');
    else if (k === 'max-file' && /^[1-9]\d*$/.test(val)) log.maxFiles = Number(val);
    else throw new UsageError(`unsupported --log-opt "${v}"`, 'use --log-opt max-size=SIZE (e.g. 10m) or --log-opt max-file=N (N ≥ 1)');
  }
  if (log.maxSize < 4096) throw new UsageError('--log-opt max-size must be at least 4k');
  return log;
}

export function containerOptions(flags: FlagValues): ContainerOptions {
  const detach = Boolean(flags.detach);
  const name = flags.name as string | undefined;
  if (name !== undefined) checkName(name);
  const restart = restartPolicy(flags.restart as string | undefined);
  if (restart.name !== 'no' && !detach) throw new UsageError('--restart needs -d', 'restart policies apply to detached containers: add -d');
  if (restart.name !== 'no' && flags.rm) throw new UsageError('conflicting options: --restart and --rm', 'choose one: a container that is removed at exit is not restarted');
  return {
    detach,
    name,
    autoRemove: Boolean(flags.rm),
    restart,
    stopSignal: flags['stop-signal'] === undefined ? undefined : parseSignal(flags['stop-signal'] as string, '--stop-signal'),
    log: logOptions(stringList(flags['log-opt'])),
  };
}
