/**
 * The SDK's errors. A problem the server answered (API.md §8) is a `KvsError`
 * carrying the problem's `status`, `code`, `detail` and extra members, as an
 * instance of the subclass for its code, so callers branch with `instanceof`.
 * A request that got no answer at all is a `KvsNetworkError` naming the URL.
 */

/** A problem+json document as kvs sends it. */
export interface Problem {
  status: number;
  title?: string;
  code?: string;
  detail?: string;
  instance?: string;
  [member: string]: unknown;
}

export class KvsError extends Error {
  override name = 'KvsError';
  /** The HTTP status. */
  readonly status: number;
  /** The problem's `code` (API.md §8), e.g. `precondition_failed`; `http_<status>` when the answer was not a problem document. */
  readonly code: string;
  /** The server's explanation, in words. */
  readonly detail: string;
  /** The whole problem document, extra members included. */
  readonly problem: Problem;

  constructor(problem: Problem) {
    const code = typeof problem.code === 'string' ? problem.code : `http_${problem.status}`;
    const detail = typeof problem.detail === 'string' ? problem.detail : (problem.title ?? `HTTP ${problem.status}`);
    super(detail);
    this.status = problem.status;
    this.code = code;
    this.detail = detail;
    this.problem = problem;
  }
}

/** 400: `invalid_key`, `invalid_request`, `invalid_json` (the code says which). */
export class InvalidRequestError extends KvsError {
  override name = 'InvalidRequestError';
}

/** 401: no token, or a token the server does not know. */
export class UnauthorizedError extends KvsError {
  override name = 'UnauthorizedError';
}

/** 403: the token lacks the grant (`forbidden`), or the server serves only loopback clients (`protected_mode`). */
export class ForbiddenError extends KvsError {
  override name = 'ForbiddenError';
}

/**
 * 404 that is not a missing key (reads return null and deletes false for those): `not_found` from kvs (no such
 * route: a wrong base URL), or `http_404` from something that is not kvs.
 */
export class NotFoundError extends KvsError {
  override name = 'NotFoundError';
}

/** 412: `ifRevision` or `ifAbsent` did not hold. `currentRevision` is the key's revision now (null: absent). */
export class PreconditionFailedError extends KvsError {
  override name = 'PreconditionFailedError';
  get currentRevision(): number | null {
    return typeof this.problem.currentRevision === 'number' ? this.problem.currentRevision : null;
  }
}

/** 409 `txn_conflict`: a transaction's checks failed and nothing applied. `failedChecks` are their indices. */
export class TxnConflictError extends KvsError {
  override name = 'TxnConflictError';
  get failedChecks(): number[] {
    return Array.isArray(this.problem.failedChecks) ? (this.problem.failedChecks as number[]) : [];
  }
}

/** 409 `not_a_counter`: `add` on a value that is not a JSON integer. */
export class NotACounterError extends KvsError {
  override name = 'NotACounterError';
}

/** 409 `counter_overflow`: the result would leave ±(2^53−1). */
export class CounterOverflowError extends KvsError {
  override name = 'CounterOverflowError';
}

/** 410 `history_compacted`: the revisions asked for are gone. Read the current state, then watch from `compactRevision`. */
export class HistoryCompactedError extends KvsError {
  override name = 'HistoryCompactedError';
  get compactRevision(): number {
    return typeof this.problem.compactRevision === 'number' ? this.problem.compactRevision : 0;
  }
}

/** 413 `value_too_large` / `request_too_large`; `limit` is the limit in bytes. */
export class TooLargeError extends KvsError {
  override name = 'TooLargeError';
  get limit(): number | null {
    return typeof this.problem.limit === 'number' ? this.problem.limit : null;
  }
}

/** 429 `rate_limited`: `retryAfter` is how many seconds to wait. */
export class RateLimitedError extends KvsError {
  override name = 'RateLimitedError';
  /** Seconds, from the `Retry-After` header; null when the server sent none. */
  readonly retryAfter: number | null;
  constructor(problem: Problem, retryAfter: number | null) {
    super(problem);
    this.retryAfter = retryAfter;
  }
}

/** 503 `unavailable`: overloaded, shutting down, or (on etcd) the cluster is. `retryAfter` in seconds. */
export class UnavailableError extends KvsError {
  override name = 'UnavailableError';
  readonly retryAfter: number | null;
  constructor(problem: Problem, retryAfter: number | null) {
    super(problem);
    this.retryAfter = retryAfter;
  }
}

/** 507 `storage_full`: the store is at its size cap; deletes still work. */
export class StorageFullError extends KvsError {
  override name = 'StorageFullError';
}

/** The server was not reached, the connection broke, or it did not answer within the timeout. */
export class KvsNetworkError extends Error {
  override name = 'KvsNetworkError';
  /** The URL that could not be reached. */
  readonly url: string;
  constructor(url: string, message: string, options?: { cause?: unknown }) {
    super(`${message}: ${url}`, options);
    this.url = url;
  }
}

/** No answer within `timeoutMs`. */
export class KvsTimeoutError extends KvsNetworkError {
  override name = 'KvsTimeoutError';
  /**
   * True when the request was a write (PUT, POST, DELETE): the server may have applied it all the same,
   * having been too slow to answer, not to act. Read before sending it again.
   */
  readonly mayHaveApplied: boolean;
  constructor(url: string, message: string, options?: { cause?: unknown; mayHaveApplied?: boolean }) {
    super(url, message, options);
    this.mayHaveApplied = options?.mayHaveApplied ?? false;
  }
}

const ERROR_CLASSES: Record<string, new (problem: Problem) => KvsError> = {
  invalid_key: InvalidRequestError,
  invalid_request: InvalidRequestError,
  invalid_json: InvalidRequestError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  protected_mode: ForbiddenError,
  key_not_found: NotFoundError,
  not_found: NotFoundError,
  precondition_failed: PreconditionFailedError,
  txn_conflict: TxnConflictError,
  not_a_counter: NotACounterError,
  counter_overflow: CounterOverflowError,
  history_compacted: HistoryCompactedError,
  value_too_large: TooLargeError,
  request_too_large: TooLargeError,
  storage_full: StorageFullError,
};

/** The error for a problem the server answered, as the subclass of its code. */
export function errorFromProblem(problem: Problem, retryAfter: number | null = null): KvsError {
  if (problem.code === 'rate_limited' || (problem.code === undefined && problem.status === 429)) return new RateLimitedError(problem, retryAfter);
  if (problem.code === 'unavailable' || (problem.code === undefined && problem.status === 503)) return new UnavailableError(problem, retryAfter);
  const byCode = problem.code === undefined ? undefined : ERROR_CLASSES[problem.code];
  if (byCode !== undefined) return new byCode(problem);
  if (problem.status === 401) return new UnauthorizedError(problem);
  if (problem.status === 403) return new ForbiddenError(problem);
  if (problem.status === 404) return new NotFoundError(problem);
  if (problem.status === 400) return new InvalidRequestError(problem);
  return new KvsError(problem);
}
