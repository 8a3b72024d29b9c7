/**
 * The one catalogue of errors kvs reports to clients. Each code has exactly one
 * HTTP status; `http/plugins/errors.ts` is the only place that turns a KvError
 * into a response. A KvError is an operating error (bad input, a failed
 * precondition), never a bug: bugs are plain Errors and become a logged 500.
 */
export const ERROR_CATALOGUE = {
  invalid_key: { status: 400, title: 'Invalid Key' },
  invalid_request: { status: 400, title: 'Invalid Request' },
  invalid_json: { status: 400, title: 'Invalid JSON' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  protected_mode: { status: 403, title: 'Protected Mode' },
  key_not_found: { status: 404, title: 'Key Not Found' },
  not_found: { status: 404, title: 'Not Found' },
  method_not_allowed: { status: 405, title: 'Method Not Allowed' },
  txn_conflict: { status: 409, title: 'Transaction Conflict' },
  not_a_counter: { status: 409, title: 'Not A Counter' },
  counter_overflow: { status: 409, title: 'Counter Overflow' },
  history_compacted: { status: 410, title: 'History Compacted' },
  precondition_failed: { status: 412, title: 'Precondition Failed' },
  value_too_large: { status: 413, title: 'Value Too Large' },
  request_too_large: { status: 413, title: 'Request Too Large' },
  unsupported_media_type: { status: 415, title: 'Unsupported Media Type' },
  header_too_large: { status: 431, title: 'Request Header Fields Too Large' },
  rate_limited: { status: 429, title: 'Too Many Requests' },
  unavailable: { status: 503, title: 'Service Unavailable' },
  storage_full: { status: 507, title: 'Insufficient Storage' },
  internal: { status: 500, title: 'Internal Server Error' },
} as const satisfies Record<string, { status: number; title: string }>;

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

export class KvError extends Error {
  readonly code: ErrorCode;
  readonly extras: ProblemExtras;

  constructor(code: ErrorCode, detail: string, extras: ProblemExtras = {}) {
    super(detail);
    this.name = 'KvError';
    this.code = code;
    this.extras = extras;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  get title(): string {
    return ERROR_CATALOGUE[this.code].title;
  }
}

export function isKvError(error: unknown): error is KvError {
  return error instanceof KvError;
}
