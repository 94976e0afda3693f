/**
 * Retries with exponential backoff for operations that fail transiently:
 * registries answer 5xx under load, 429 when rate-limiting, and long
 * downloads meet reset connections. Only RegistryErrors marked retryable are
 * tried again; everything else (404, bad credentials, corrupt content) fails
 * at once.
 */
import { RegistryError } from './errors';

export const DEFAULT_ATTEMPTS = 5;
const DEFAULT_BASE_MS = 500;
const MAX_DELAY_MS = 10_000;
/** A registry asking for a longer pause than this is rate-limiting us for real: say so instead of hanging. */
export const MAX_RETRY_AFTER_MS = 60_000;

export interface RetryOptions {
  attempts?: number;
  /** Called before each new attempt (attempt = the one about to start, from 2). */
  onRetry?: (what: string, attempt: number, err: Error) => void;
  /**
   * Whether the failed attempt moved forward (a download got some bytes
   * before its connection broke): then the count starts over, so that a
   * long download over a flaky link is not abandoned while it progresses.
   */
  progressed?: () => boolean;
  /** Cancels the retries: no attempt starts, and no backoff goes on, once it is aborted. */
  signal?: AbortSignal;
}

/** NOOK_RETRY_BASE_MS overrides the first delay, so that tests do not wait seconds. */
export function retryBaseMs(): number {
  const v = Number(process.env.NOOK_RETRY_BASE_MS);
  return Number.isFinite(v) && v >= 0 && process.env.NOOK_RETRY_BASE_MS !== '' ? v : DEFAULT_BASE_MS;
}

/** Retry-After as seconds or an HTTP date → ms (≥ 0), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function isRetryable(e: unknown): boolean {
  return e instanceof RegistryError && e.retryable;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it is aborted. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The delay before attempt `attempt` (2, 3, ...): the registry's Retry-After, else base·2^(n-2) with jitter. */
export function retryDelay(attempt: number, err: unknown, baseMs = retryBaseMs()): number {
  if (err instanceof RegistryError && err.retryAfterMs !== undefined) return err.retryAfterMs;
  const exp = Math.min(baseMs * 2 ** (attempt - 2), MAX_DELAY_MS);
  // Jitter, so that parallel layer downloads that failed together do not retry in lockstep.
  return exp * (0.75 + Math.random() * 0.5);
}

export async function withRetry<T>(what: string, fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? DEFAULT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (!isRetryable(e)) throw e;
      if (opts.progressed?.()) attempt = 1;
      if (attempt >= attempts) {
        const r = e as RegistryError;
        throw attempts > 1 ? new RegistryError(`${r.message} (gave up after ${attempts} attempts)`, { hint: r.hint, status: r.status }) : r;
      }
      opts.onRetry?.(what, attempt + 1, e as Error);
      await sleep(retryDelay(attempt + 1, e), opts.signal);
    }
  }
}
