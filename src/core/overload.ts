import { KvError } from './errors.js';

/**
 * A request refused because the server is at a bound it keeps to stay
 * responsive (KV_MAX_PENDING_WRITES writes waiting, KV_MAX_WATCHERS watches
 * open): 503 unavailable with Retry-After, like other 503s, but told apart
 * from a store that failed, so /metrics can count overload on its own.
 */
export class OverloadError extends KvError {
  constructor(detail: string) {
    super('unavailable', detail, { retryAfterSeconds: 1 });
  }
}

export function isOverload(error: unknown): error is OverloadError {
  return error instanceof OverloadError;
}
