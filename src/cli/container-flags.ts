/**
 * `nook run` flags that make a container that outlives the command line:
 * -d, --name, --rm, --restart, --stop-signal, --stop-timeout, --log-opt,
 * --log-driver, --label, --label-file, --cidfile, --replace.
 */
import fs = require('node:fs');
import os = require('node:os');
import { FlagError, UsageError } from '../errors';
import { checkName, type LogOptions, type RestartPolicy } from '../container/state';
import { stringList, type FlagSpec, type FlagValues } from './args';

export const CONTAINER_FLAGS: readonly FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'boolean', help: 'run in the background under a supervisor; print the container id' },
  { name: 'name', type: 'string', value: 'NAME', help: 'name the container (it is kept after exit until `nook rm`, unless --rm)' },
  { name: 'rm', type: 'boolean', help: 'remove the container when it exits (foreground runs without --name leave nothing anyway)' },
  { name: 'restart', type: 'string', value: 'POLICY', help: 'with -d: no (default), on-failure[:N] (restart on a non-zero exit, at most N times), always or unless-stopped (restart after any exit but a stop)' },
  { name: 'stop-signal', type: 'string', value: 'SIGNAL', help: 'signal that `nook stop` sends (default: the image\'s StopSignal, else SIGTERM)' },
  { name: 'stop-timeout', type: 'string', value: 'SECONDS', help: 'seconds `nook stop` waits before SIGKILL when not given -t (default 10)' },
  { name: 'log-opt', type: 'string', multiple: true, value: 'K=V', help: 'the log: max-size=SIZE (default 10m), max-file=N (default 2)' },
  { name: 'log-driver', type: 'string', value: 'DRIVER', help: 'k8s-file or json-file (the default: a log file for `nook logs`), or none (no log kept)' },
  { name: 'label', short: 'l', type: 'string', multiple: true, value: 'K=V', help: 'set a label on the container (inspect Config.Labels, ps {{.Labels}})' },
  { name: 'label-file', type: 'string', multiple: true, value: 'FILE', help: 'read labels from a file, one K=V per line' },
  { name: 'cidfile', type: 'string', value: 'FILE', help: 'write the container id to FILE (which must not exist)' },
  { name: 'replace', type: 'boolean', help: 'with --name: remove a container of that name first (podman)' },
  { name: 'attach', short: 'a', type: 'string', multiple: true, value: 'STREAM', help: 'attach only these of stdin, stdout, stderr (repeatable); the others go to the log only; neither stdout nor stderr: print the container id' },
];

export interface ContainerOptions {
  detach: boolean;
  name?: string;
  autoRemove: boolean;
  restart: RestartPolicy;
  stopSignal?: number;
  stopTimeout?: number;
  /** podman's --timeout (seconds), for a container under a supervisor (run-request.ts timeoutSeconds). */
  timeout?: number;
  log: LogOptions;
  /** `nook create`: make the container, do not start it. */
  createOnly?: boolean;
  labels?: Record<string, string>;
  cidfile?: string;
  replace: boolean;
  /** --conmon-pidfile with -d: where the supervisor's pid goes. */
  pidfile?: string;
  /** -a naming some of stdout and stderr: those come to the terminal, the container runs with a log as -d. */
  attach?: OutputStreams;
}

export type OutputStreams = { stdout: boolean; stderr: boolean };

/**
 * docker's -a/--attach: the output streams to attach, when some are left out
 * (undefined: both, a plain foreground run). stdin is attached with -i (then through the
 * supervisor's attach.sock, see attach.ts).
 */
export function attachedStreams(flags: FlagValues): OutputStreams | undefined {
  const given = stringList(flags.attach);
  if (!given.length) return undefined;
  const names = given.map((v) => v.toLowerCase());
  const bad = names.find((n) => n !== 'stdin' && n !== 'stdout' && n !== 'stderr');
  if (bad !== undefined) throw new UsageError(`invalid argument "${given[names.indexOf(bad)]}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (flags.detach) throw new UsageError('conflicting options: -a and -d', 'a detached container attaches nothing: leave out one of them');
  const s = { stdout: names.includes('stdout'), stderr: names.includes('stderr') };
  if (s.stdout && s.stderr) return undefined;
  return s;
}

/** Whether this run makes a container with state (listed by `nook ps -a`). */
export function wantsContainer(flags: FlagValues): boolean {
  // --restart alone too: containerOptions then says that it needs -d. A label, a cidfile or a stop
  // timeout describe a container: docker keeps one for them.
  return (
    Boolean(flags.detach) ||
    flags.name !== undefined ||
    flags.restart !== undefined ||
    flags.label !== undefined ||
    flags['label-file'] !== undefined ||
    flags.cidfile !== undefined ||
    flags['stop-timeout'] !== undefined ||
    flags['log-driver'] !== undefined ||
    flags.replace === true ||
    attachedStreams(flags) !== undefined
  );
}

/**
 * A signal as docker's and podman's CLIs take it: a name with or without SIG
 * (any case), RTMIN+N / RTMAX-N, or a number 1..64; one leading dash is
 * dropped (podman's `kill -s -HUP`). Errors are podman's words, exit 125.
 * `what`: the flag (or the image's StopSignal), named when it is no flag.
 */
export function parseSignal(text: string, what: string): number {
  const raw = text.startsWith('-') ? text.slice(1) : text;
  const where = what.startsWith('-') ? '' : ` (${what})`;
  const invalid = () => new FlagError(`invalid signal: ${raw}${where}`);
  let n: number | undefined;
  if (/^\d+$/.test(raw)) {
    n = Number(raw);
    if (n === 0) throw invalid();
  } else {
    const t = raw.toUpperCase().replace(/^SIG/, '');
    const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(t);
    const signals = os.constants.signals as Record<string, number>;
    if (rt) n = (rt[1] === 'MIN' ? 34 : 64) + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    else if (t && Object.prototype.hasOwnProperty.call(signals, `SIG${t}`)) n = signals[`SIG${t}`];
    if (n === undefined) throw invalid();
  }
  if (n < 1 || n > 64) throw new FlagError(`valid signals are 1 through 64${where}`);
  return n;
}

function restartPolicy(v: string | undefined): RestartPolicy {
  if (v === undefined || v === 'no') return { name: 'no' };
  if (v === 'always' || v === 'unless-stopped') return { name: v };
  const m = /^on-failure(?::(\d+))?$/.exec(v);
  if (m) return { name: 'on-failure', maxRetries: m[1] === undefined ? 0 : Number(m[1]) };
  throw new UsageError(`unsupported --restart policy "${v}"`, 'use --restart no, always, unless-stopped or on-failure[:MAX_RETRIES]');
}

function logOptions(values: string[], driver: string | undefined): LogOptions {
  const log: LogOptions = { maxSize: 10_000_000, maxFiles: 2 };
  if (driver !== undefined && !['k8s-file', 'json-file', 'none'].includes(driver))
    throw new UsageError(`unsupported --log-driver "${driver}"`, 'use k8s-file or json-file (a log file, the default), or none');
  if (driver === 'none') log.none = true;
  if (driver !== undefined) log.driver = driver;
  for (const v of values) {
    const [k, val] = [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)];
    if (k === 'max-size') log.maxSize = logSize(val);
    else if (k === 'max-file' && /^[1-9]\d*$/.test(val)) log.maxFiles = Number(val);
    else throw new UsageError(`unsupported --log-opt "${v}"`, 'use --log-opt max-size=SIZE (e.g. 10m) or --log-opt max-file=N (N ≥ 1)');
  }
  if (log.maxSize < 4000) throw new UsageError('--log-opt max-size must be at least 4k');
  return log;
}

/** docker's and podman's max-size: go-units' FromHumanSize, decimal units ("10m" is 10,000,000 bytes). */
function logSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`invalid --log-opt max-size "${text}"`, 'give bytes or a number with a unit, e.g. max-size=10m');
  return Math.floor(Number(m[1]) * 1000 ** ' kmgtp'.indexOf((m[2] ?? ' ').toLowerCase()));
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
    stopTimeout: flags['stop-timeout'] === undefined ? undefined : wholeSeconds(flags['stop-timeout'] as string, '--stop-timeout'),
    log: logOptions(stringList(flags['log-opt']), flags['log-driver'] as string | undefined),
    labels: flags.label === undefined && flags['label-file'] === undefined ? undefined : labelsFromFlags(flags),
    cidfile: cidfile(flags.cidfile as string | undefined),
    replace: replace(flags, name),
    attach: attachedStreams(flags),
  };
}

export function wholeSeconds(v: string, flag: string): number {
  if (!/^\d{1,9}$/.test(v)) throw new UsageError(`invalid ${flag} "${v}"`, `give whole seconds, e.g. ${flag} 5`);
  return Number(v);
}

/** docker's order: the files first, then each --label, later ones winning. */
function labelsFromFlags(flags: FlagValues): Record<string, string> {
  const entries = [...stringList(flags['label-file']).flatMap(readLabelFile), ...stringList(flags.label)];
  const labels: Record<string, string> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    // docker: "K" alone is the label K with an empty value.
    const [k, v] = i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
    if (!k) throw new UsageError(`invalid label "${e}"`, 'use --label KEY=VALUE');
    labels[k] = v;
  }
  return labels;
}

function readLabelFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`reading label file ${file}: ${(e as Error).message}`, 'give a file with one KEY=VALUE per line');
  }
  return text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() && !l.trimStart().startsWith('#'));
}

/** docker refuses a cidfile that exists (another container's, maybe still running), with this message. */
function cidfile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  if (fs.existsSync(file)) throw new UsageError(`Container ID file found, make sure the other container isn't running or delete ${file}`, 'remove the file, or give --cidfile another one');
  return file;
}

function replace(flags: FlagValues, name: string | undefined): boolean {
  if (flags.replace && name === undefined) throw new UsageError('--replace needs --name', 'it replaces the container of that name');
  return Boolean(flags.replace);
}
