/**
 * The error type of registry operations. It is a NookError (message + hint,
 * exit 125) that also says whether trying again may help, which is what the
 * retry loop needs to know: a 503 or a reset connection may, a 404 or a
 * refused password will not.
 */
import { NookError } from '../../errors';

export class RegistryError extends NookError {
  /** Worth another attempt (5xx, 429, reset or timed-out connections). */
  readonly retryable: boolean;
  /** How long the registry asked us to wait (Retry-After), in ms. */
  readonly retryAfterMs?: number;
  /** The HTTP status, when the registry answered. */
  readonly status?: number;

  constructor(message: string, opts: { hint?: string; retryable?: boolean; retryAfterMs?: number; status?: number } = {}) {
    super(message, { hint: opts.hint });
    this.name = 'RegistryError';
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
  }
}
