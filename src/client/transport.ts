import { errorFromProblem, InvalidRequestError, KvsNetworkError, KvsTimeoutError, type Problem } from './errors.js';

export interface TransportOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Bearer token, sent on every request. */
  token?: string | undefined;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch | undefined;
  /**
   * How long a request may take to be answered, in ms (default 30 000). Streams count until their headers arrive.
   * An import and a backup wait an hour at least (the server does all their work before it answers).
   */
  timeoutMs?: number | undefined;
  /** How many times a request that may be repeated is retried (see Call.retry; default 2). */
  maxRetries?: number | undefined;
}

export interface Call {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /**
   * Told how many bytes of `body` (a Uint8Array) were handed to the connection so far: the body is then
   * streamed. Node only (browsers stream request bodies over HTTP/2 alone).
   */
  onUploadProgress?: (sentBytes: number, totalBytes: number) => void;
  /**
   * What may be sent again after a failure, without the caller knowing:
   * - `read`: a GET or HEAD, after a network error (not a timeout: a server that did not answer in time
   *   is not asked again, so a timeout means what it says) or a 503 with Retry-After;
   * - `unsent`: a plain PUT or DELETE, only when it provably never reached the server (connection
   *   refused, no such host), since a repeated write that had applied would report the wrong
   *   result (a delete "not found", a create "replaced");
   * - `never`: an add, a txn, a conditional write, an import, a backup (each attempt copies the store).
   */
  retry: 'read' | 'unsent' | 'never';
  /** Statuses the caller handles itself rather than as errors (e.g. 404 for a read). */
  expected?: readonly number[];
  /** How long to wait for the answer's headers, instead of the client's timeout (a long-poll, a backup wait longer). */
  timeoutMs?: number;
  /**
   * The response body is a stream the caller reads: the timeout counts until the headers arrive, then
   * the client's timeout between chunks (a stalled export fails rather than hangs), unless `streamIdle`
   * is false (a watch, silent between changes, which watches its own progress messages). A stream that
   * breaks mid-way fails with KvsNetworkError.
   */
  stream?: boolean;
  streamIdle?: boolean;
  signal?: AbortSignal | undefined;
}

const RETRY_AFTER_SECONDS_MAX = 5;

/** One HTTP exchange with kvs: URL, token, timeout, bounded retries of idempotent requests, problems turned into errors. */
export class Transport {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  readonly timeoutMs: number;
  private readonly maxRetries: number;

  constructor(options: TransportOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.token = options.token;
    // Called as a plain function, never as this object's method: a browser's fetch (the global one, or one
    // passed in as `fetch: window.fetch`) refuses to be called on anything but the global object.
    const given = options.fetch;
    this.fetchImpl = given === undefined ? (input, init) => globalThis.fetch(input, init) : (input, init) => given(input, init);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 2;
  }

  url(path: string, query: Call['query'] = {}): string {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined) continue;
      // URLSearchParams would send a lone surrogate as U+FFFD: another prefix or key than the one asked for.
      if (typeof value === 'string' && !isWellFormed(value)) {
        throw new InvalidRequestError({
          status: 400,
          code: 'invalid_request',
          detail: `"${name}" ${JSON.stringify(value)} is not valid Unicode (it has a lone surrogate)`,
        });
      }
      search.set(name, String(value));
    }
    const text = search.toString();
    return `${this.baseUrl}${path}${text === '' ? '' : `?${text}`}`;
  }

  /** Sends `call`; resolves with a 2xx response or one of `call.expected`, rejects with a KvsError or a KvsNetworkError. */
  async send(call: Call): Promise<Response> {
    for (let attempt = 0; ; attempt += 1) {
      const retriesLeft = call.retry !== 'never' && attempt < this.maxRetries;
      let response: Response;
      try {
        response = await this.once(call);
      } catch (error) {
        const again = call.retry === 'read' ? !(error instanceof KvsTimeoutError) : neverSent(error);
        if (!(error instanceof KvsNetworkError) || !again || !retriesLeft || call.signal?.aborted) throw error;
        await sleep(100 * 2 ** attempt, call.signal);
        continue;
      }
      if (response.ok || call.expected?.includes(response.status)) return response;
      const retryAfter = retryAfterSeconds(response.headers.get('retry-after'));
      if (response.status === 503 && retryAfter !== null && retriesLeft && call.retry === 'read') {
        await response.body?.cancel();
        await sleep(Math.min(retryAfter, RETRY_AFTER_SECONDS_MAX) * 1000, call.signal);
        continue;
      }
      throw errorFromProblem(await problemOf(response), retryAfter);
    }
  }

  private async once(call: Call): Promise<Response> {
    const url = this.url(call.path, call.query);
    const timeout = new AbortController();
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    // The caller's signal ends the request too (by hand: AbortSignal.any needs Node 20.3 and Safari 17.4).
    const onCallerAbort = () => timeout.abort(call.signal?.reason);
    if (call.signal?.aborted) onCallerAbort();
    call.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const signal = timeout.signal;
    const headers: Record<string, string> = { ...call.headers };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    try {
      const response = await this.fetchImpl(url, { method: call.method, headers, ...bodyInit(call, headers), signal });
      if (call.stream === true && response.ok) {
        const idleMs = call.streamIdle === false ? null : this.timeoutMs;
        const detach = () => call.signal?.removeEventListener('abort', onCallerAbort);
        return guardedStream(response, idleMs, timeout, url, detach);
      }
      // The whole body within the timeout, so that a stalled answer is a timeout too.
      const body = call.method === 'HEAD' ? null : await response.arrayBuffer();
      // A 204 or 304 may have no body at all (the Response constructor refuses even an empty one).
      return new Response(noBody(response.status) ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } catch (error) {
      call.signal?.removeEventListener('abort', onCallerAbort);
      if (call.signal?.aborted) throw call.signal.reason;
      if (timeout.signal.aborted) {
        const mayHaveApplied = call.method !== 'GET' && call.method !== 'HEAD';
        throw new KvsTimeoutError(url, `no answer within ${timeoutMs} ms${mayHaveApplied ? ' (the write may have been applied)' : ''}`, {
          cause: error,
          mayHaveApplied,
        });
      }
      throw new KvsNetworkError(url, networkMessage(error), { cause: error });
    } finally {
      clearTimeout(timer);
      if (call.stream !== true) call.signal?.removeEventListener('abort', onCallerAbort);
    }
  }
}

const UPLOAD_SLICE_BYTES = 64 * 1024;

/** The body part of fetch's init: as it is, or, with onUploadProgress, streamed in slices as the connection takes them. */
function bodyInit(call: Call, headers: Record<string, string>): RequestInit {
  const { body, onUploadProgress } = call;
  if (body === undefined) return {};
  if (onUploadProgress === undefined || typeof body === 'string') return { body: body as NonNullable<RequestInit['body']> };
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= body.length) return controller.close();
      const slice = body.subarray(sent, sent + UPLOAD_SLICE_BYTES);
      sent += slice.length;
      controller.enqueue(slice);
      onUploadProgress(sent, body.length);
    },
  });
  // The length up front, as for a plain body: the server refuses one over its limit before reading it.
  headers['content-length'] = String(body.length);
  // `duplex` is how fetch is told the body is a stream (not in every lib.dom.d.ts yet).
  return { body: stream, duplex: 'half' } as RequestInit;
}

/** True when a failed request provably never reached the server, so that sending it again cannot repeat it. */
function neverSent(error: unknown): boolean {
  const code = (error as { cause?: { cause?: { code?: string } } }).cause?.cause?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
}

/** False when `text` has a lone surrogate, which UTF-8 (and so a URL) cannot carry. */
export function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/**
 * `response` with a body that fails with KvsTimeoutError when no chunk comes for `idleMs` while it is read
 * (null: no limit), and with KvsNetworkError naming the URL when the connection breaks mid-way (fetch's
 * own error is a bare "terminated").
 */
function guardedStream(response: Response, idleMs: number | null, connection: AbortController, url: string, detach: () => void): Response {
  const reader = response.body!.getReader();
  let stalled = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Counted only while the reader waits: a slow consumer is not a stalled server.
      const timer =
        idleMs === null
          ? undefined
          : setTimeout(() => {
              stalled = true;
              connection.abort();
            }, idleMs);
      try {
        const { done, value } = await reader.read();
        if (done) {
          detach();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        detach();
        if (stalled) controller.error(new KvsTimeoutError(url, `the answer stalled: no data for ${idleMs} ms`, { cause: error }));
        else if (connection.signal.aborted) controller.error(connection.signal.reason ?? error);
        else controller.error(new KvsNetworkError(url, 'the connection broke before the answer was complete', { cause: error }));
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      detach();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

function noBody(status: number): boolean {
  return status === 204 || status === 304;
}

/** The problem document of an error response; a made-up one when the answer was not problem+json (a proxy's page). */
async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const problem = parsed as Record<string, unknown>;
      // The seed routes answer {"status":"error","message"}: keep the HTTP status.
      const detail = typeof problem.detail === 'string' ? problem.detail : typeof problem.message === 'string' ? problem.message : undefined;
      return { ...problem, status: response.status, ...(detail === undefined ? {} : { detail }) };
    }
  } catch {
    // not JSON
  }
  return {
    status: response.status,
    title: response.statusText,
    detail: `HTTP ${response.status} ${response.statusText}${text === '' ? '' : `: ${text.slice(0, 200)}`}`,
  };
}

function retryAfterSeconds(header: string | null): number | null {
  if (header === null || !/^\d+$/.test(header.trim())) return null;
  return Number(header.trim());
}

/** What went wrong, in words: fetch's own message is only "fetch failed", its cause says why. */
function networkMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ECONNRESET' || cause?.code === 'UND_ERR_SOCKET') return 'the connection was closed before an answer';
  if (cause?.code === 'ENOTFOUND') return 'no such host';
  return cause?.message ?? (error as Error).message ?? 'the request failed';
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
