import { STATUS_CODES } from 'node:http';

/**
 * The one catalogue of errors kvs reports to clients. Each code has exactly one
 * HTTP status (and the status's reason phrase as its title); `http/plugins/errors.ts` is the only place that turns a KvError
 * into a response. A KvError is an operating error (bad input, a failed
 * precondition), never a bug: bugs are plain Errors and become a logged 500.
 */
export const ERROR_CATALOGUE = {
  invalid_key: { status: 400 },
  invalid_request: { status: 400 },
  invalid_json: { status: 400 },
  unauthorized: { status: 401 },
  forbidden: { status: 403 },
  protected_mode: { status: 403 },
  key_not_found: { status: 404 },
  not_found: { status: 404 },
  method_not_allowed: { status: 405 },
  txn_conflict: { status: 409 },
  not_a_counter: { status: 409 },
  counter_overflow: { status: 409 },
  history_compacted: { status: 410 },
  precondition_failed: { status: 412 },
  value_too_large: { status: 413 },
  request_too_large: { status: 413 },
  unsupported_media_type: { status: 415 },
  expectation_failed: { status: 417 },
  header_too_large: { status: 431 },
  request_timeout: { status: 408 },
  rate_limited: { status: 429 },
  unavailable: { status: 503 },
  storage_full: { status: 507 },
  internal: { status: 500 },
  /** The route exists but this engine cannot serve it (a backup on etcd): the detail says what to use instead. */
  not_implemented: { status: 501 },
} as const satisfies Record<string, { status: number }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Extra members of a problem document, named in API.md §8. */
export interface ProblemExtras {
  currentRevision?: number | null;
  failedChecks?: number[];
  compactRevision?: number;
  limit?: number;
  allow?: string[];
  retryAfterSeconds?: number;
}

/** What an error answer is made of: a KvError, or the same facts without an Error's stack (the fast paths' 404s). */
export interface ErrorFacts {
  readonly code: ErrorCode;
  readonly message: string;
  readonly extras: ProblemExtras;
}

/** The HTTP status of an error code. */
export function errorStatus(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/** The HTTP reason phrase of an error code's status: with `type: about:blank`, RFC 9457 wants the title to be it. */
export function errorTitle(code: ErrorCode): string {
  return STATUS_CODES[errorStatus(code)] ?? 'Error';
}

export class KvError extends Error implements ErrorFacts {
  readonly code: ErrorCode;
  readonly extras: ProblemExtras;

  constructor(code: ErrorCode, detail: string, extras: ProblemExtras = {}) {
    super(detail);
    this.name = 'KvError';
    this.code = code;
    this.extras = extras;
  }

  get status(): number {
    return errorStatus(this.code);
  }

  /** The HTTP reason phrase: with `type: about:blank`, RFC 9457 wants the title to be it. */
  get title(): string {
    return errorTitle(this.code);
  }
}

export function isKvError(error: unknown): error is KvError {
  return error instanceof KvError;
}
