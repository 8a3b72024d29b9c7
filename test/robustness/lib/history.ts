import type { HistoryEntry, Outcome, RegisterOp } from './linearizability.js';

/**
 * Records a history of register operations against a kvs server, for the
 * linearizability checker (./linearizability.ts).
 *
 * `record(client, op, perform)` stamps the invocation and the return with
 * performance.now() (one clock: every client runs in this process) and turns
 * what the HTTP request gave into an outcome:
 *
 * - 2xx → ok (a read carries the value as text);
 * - a read answered 404 → ok with value null (the key is absent);
 * - a delete answered 404 → ok: it took effect at a moment when the key was
 *   absent, which for a register is the same as writing "absent" over
 *   "absent" (and tells the checker the key was absent then);
 * - 412 or 409 on a cas → fail (the precondition did not hold; nothing applied);
 * - any other 4xx → fail (refused; nothing applied);
 * - a network error, a reset socket, a 5xx or the timeout → unknown: the
 *   operation may or may not have taken effect, at any moment from its
 *   invocation on, so it is recorded with returnedAt = Infinity.
 *
 * A client whose operation ended unknown must not be given another operation
 * under the same client id: it still has one pending (forever, as far as the
 * history knows), and a history where one client has two operations pending at
 * once is not well formed. Callers take a fresh client id after an unknown
 * outcome (Knossos does the same with a crashed process); `ClientIds` helps.
 *
 * Values must be unique per write (`uniqueValue`), so that a read identifies
 * the write it saw.
 *
 * CAS. The HTTP API compares revisions, not values: a client reads the key
 * (GET gives the value and `ETag: "<revision>"`), then writes with
 * `If-Match: "<that revision>"`; that pair is recorded as a read followed by
 * `{kind: 'cas', expected: <value read>, value: <new value>}`. The two are the
 * same test because every write stores a value never written before: each
 * revision at which the key was written holds exactly one value and each
 * value was written at exactly one revision (a delete removes the key, so its
 * revision is never current for a value). So "the key's current revision is
 * R" holds exactly when "the key's current value is the value written at R".
 * Create-only (`If-None-Match: *`) is a cas with expected = null.
 */

/** What a `perform` function reports back: the status and, for reads, the body and ETag. */
export interface HttpResult {
  status: number;
  /** The body as text (reads). */
  body?: string;
  /** The ETag header, when there was one. */
  etag?: string | null;
}

export type Perform = (signal: AbortSignal) => Promise<HttpResult>;

export interface RecordedResult {
  entry: HistoryEntry;
  /** The HTTP result, when there was one (not on network errors or the timeout). */
  http: HttpResult | null;
  /** The network error or the timeout, when there was one. */
  error: unknown;
}

export class HistoryRecorder {
  private readonly list: HistoryEntry[] = [];
  private nextId = 0;
  /** Statuses that were not expected for their operation (5xx, odd 4xx), for the report. */
  readonly unexpected: string[] = [];

  constructor(private readonly options: { timeoutMs?: number } = {}) {}

  get entries(): readonly HistoryEntry[] {
    return this.list;
  }

  get unknownCount(): number {
    return this.list.filter((entry) => entry.outcome.status === 'unknown').length;
  }

  /** Runs `perform`, records the operation with its outcome, and returns both. */
  async record(client: number, op: RegisterOp, perform: Perform): Promise<RecordedResult> {
    const id = this.nextId++;
    const signal = AbortSignal.timeout(this.options.timeoutMs ?? 5_000);
    const invokedAt = performance.now();
    let http: HttpResult | null = null;
    let error: unknown = null;
    try {
      http = await perform(signal);
    } catch (caught) {
      error = caught;
    }
    const returnedAt = performance.now();
    const outcome = http === null ? ({ status: 'unknown' } as const) : outcomeOf(op, http);
    if (http !== null && !expectedStatus(op, http.status)) this.unexpected.push(`${op.kind} ${op.key}: ${http.status} ${http.body?.slice(0, 200) ?? ''}`);
    const entry: HistoryEntry = { id, client, op, invokedAt, returnedAt: outcome.status === 'unknown' ? Infinity : returnedAt, outcome };
    this.list.push(entry);
    return { entry, http, error };
  }
}

/** Maps an HTTP answer to an operation's outcome (see the header comment). */
export function outcomeOf(op: RegisterOp, http: HttpResult): Outcome {
  const { status } = http;
  if (status >= 500) return { status: 'unknown' };
  if (status >= 200 && status < 300) return op.kind === 'read' ? { status: 'ok', value: http.body ?? '' } : { status: 'ok' };
  if (status === 404 && op.kind === 'read') return { status: 'ok', value: null };
  if (status === 404 && op.kind === 'delete') return { status: 'ok' };
  if (status >= 400) return { status: 'fail' };
  // 1xx/3xx: nothing here sends a request that could get one; treat as not known.
  return { status: 'unknown' };
}

function expectedStatus(op: RegisterOp, status: number): boolean {
  if (status >= 200 && status < 300) return true;
  if (status === 404) return op.kind === 'read' || op.kind === 'delete';
  if (status === 412 || status === 409) return op.kind === 'cas';
  return false;
}

/** Hands out client ids; a client whose operation ended unknown takes a new one. */
export class ClientIds {
  private next = 0;
  take(): number {
    return this.next++;
  }
  get used(): number {
    return this.next;
  }
}

/** A value never written before: `c<client>-<n>` with n counting per recorder-wide client id. */
export function uniqueValue(client: number, n: number): string {
  return `c${client}-${n}`;
}

/** The HTTP calls behind each register operation, on `/v1/kv/{key}` of `baseUrl`. */
export const kvCalls = {
  async read(baseUrl: string, key: string, signal: AbortSignal): Promise<HttpResult> {
    const response = await fetch(`${baseUrl}/v1/kv/${encodeURIComponent(key)}`, { signal });
    const body = await response.text();
    return { status: response.status, body, etag: response.headers.get('etag') };
  },
  async write(
    baseUrl: string,
    key: string,
    value: string,
    signal: AbortSignal,
    conditions: { ifMatch?: string; ifNoneMatch?: string } = {},
  ): Promise<HttpResult> {
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (conditions.ifMatch !== undefined) headers['if-match'] = conditions.ifMatch;
    if (conditions.ifNoneMatch !== undefined) headers['if-none-match'] = conditions.ifNoneMatch;
    const response = await fetch(`${baseUrl}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: value, headers, signal });
    const body = await response.text();
    return { status: response.status, body, etag: response.headers.get('etag') };
  },
  async delete(baseUrl: string, key: string, signal: AbortSignal): Promise<HttpResult> {
    const response = await fetch(`${baseUrl}/v1/kv/${encodeURIComponent(key)}`, { method: 'DELETE', signal });
    const body = await response.text();
    return { status: response.status, body };
  },
};
