/**
 * OCI hooks that nook runs itself (createRuntime from `create`; prestart and
 * poststart from `start`, as runtime-spec 1.0.2 times prestart; poststop from `delete`): the program with its args
 * and env, the container's state as JSON on stdin, killed at its timeout.
 * The hooks that run in the container's namespaces (createContainer,
 * startContainer) are plan steps the executor runs (ffi/executor.c RUN_HOOK).
 */
import { NookError } from '../errors';
import type { HookKind, OciHook } from './config';

export function runHooks(kind: HookKind, hooks: readonly OciHook[] | undefined, state: object): void {
  const input = JSON.stringify(state);
  (hooks ?? []).forEach((h, i) => runHook(kind, h, i, input));
}

/** For poststart and poststop, whose failures the spec turns into warnings: the messages of the failed ones. */
export function runHooksWarning(kind: HookKind, hooks: readonly OciHook[] | undefined, state: object): string[] {
  const input = JSON.stringify(state);
  const failures: string[] = [];
  (hooks ?? []).forEach((h, i) => {
    try {
      runHook(kind, h, i, input);
    } catch (e) {
      failures.push((e as Error).message);
    }
  });
  return failures;
}

function runHook(kind: HookKind, h: OciHook, index: number, input: string): void {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const env: Record<string, string> = {};
  for (const e of h.env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const args = h.args?.length ? h.args : [h.path];
  const r = spawnSync(h.path, args.slice(1), {
    argv0: args[0],
    input,
    env,
    timeout: h.timeout ? h.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}`.trim();
  const what = `the ${kind} hook ${index} (${h.path})`;
  const detail = output ? `: ${output.split('\n').slice(-3).join(' / ')}` : '';
  // A hook that exits without reading its stdin leaves nook an EPIPE: its exit status is what counts (as in runc).
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') throw new NookError(`${what} timed out after ${h.timeout} s${detail}`, { hint: 'raise its "timeout" in config.json, or fix the hook', exitCode: 1 });
    throw new NookError(`${what} could not be run: ${code ?? r.error.message}`, { hint: 'check the hook\'s path and that it is executable', exitCode: 1 });
  }
  if (r.signal) throw new NookError(`${what} was killed by ${r.signal}${detail}`, { hint: 'fix the hook, or remove it from config.json', exitCode: 1 });
  if (r.status !== 0) throw new NookError(`${what} failed with exit status ${r.status}${detail}`, { hint: 'fix the hook, or remove it from config.json', exitCode: 1 });
}
