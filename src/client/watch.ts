import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { HistoryCompactedError, KvsError, KvsNetworkError, RateLimitedError, UnavailableError } from './errors.js';
import { sleep, type Transport } from './transport.js';
import type { WatchMessage, WatchOptions } from './types.js';
import { watchEventFrom } from './wire.js';

/**
 * The change feed (`GET /v1/watch`, Server-Sent Events) as an async iterable
 * of revisions. Read through fetch, not EventSource: a browser's EventSource
 * cannot send an Authorization header.
 *
 * A dropped connection (network error, server restart, eviction as a slow
 * consumer) is reopened with `Last-Event-ID` = the last revision delivered or
 * the last progress revision, so no revision is missed or repeated; the server
 * replays what happened meanwhile from history. Errors that retrying cannot
 * mend end the iteration by throwing: `HistoryCompactedError` when the resume
 * point is gone, 4xx problems (bad query, token refused; not a 429, waited
 * out like a 503), and a `KvsNetworkError` when the very first connection
 * finds no server.
 */
export async function* watchChanges(transport: Transport, options: WatchOptions): AsyncGenerator<WatchMessage> {
  const query: Record<string, string | undefined> = {
    key: options.key,
    prefix: options.key === undefined ? (options.prefix ?? '') : options.prefix,
    values: options.values === false ? 'false' : undefined,
  };
  let resumeAfter: number | null = options.since ?? null;
  const delayMaxMs = options.reconnectDelayMaxMs ?? 5_000;
  let failures = 0;
  let connected = false;
  while (options.signal?.aborted !== true) {
    let response: Response;
    try {
      response = await transport.send({
        method: 'GET',
        path: '/v1/watch',
        query: { ...query, since: options.since },
        // The resume point: the server takes the later of since and Last-Event-ID.
        headers: { accept: 'text/event-stream', ...(resumeAfter === null ? {} : { 'last-event-id': String(resumeAfter) }) },
        retry: 'never',
        stream: true,
        streamIdle: false,
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) return;
      // A server never reached (a wrong URL, nothing listening) fails the watch at once, like any other call;
      // once a stream has been open, the watch outlives the server's restarts and keeps trying.
      if (!retriable(error) || (!connected && error instanceof KvsNetworkError)) throw error;
      await backOff(failures++, delayMaxMs, error, options.signal);
      continue;
    }
    connected = true;
    // Without `since` the watch starts "now": the server says which revision that is. A connection that breaks
    // before its first message then resumes from it, rather than from a later "now" that would skip changes.
    const startedAfter = response.headers.get('kv-revision');
    if (resumeAfter === null && startedAfter !== null && /^\d+$/.test(startedAfter)) resumeAfter = Number(startedAfter);
    try {
      for await (const message of messagesOf(response.body!, options.signal, options.idleTimeoutMs ?? IDLE_TIMEOUT_MS)) {
        // Back-off restarts only once a stream delivers: a server that accepts and at once ends streams is not hammered.
        failures = 0;
        if (message.event === 'change') {
          const data = JSON.parse(message.data) as { revision: number; events: Array<Record<string, unknown>> };
          resumeAfter = data.revision;
          yield { revision: data.revision, events: data.events.map(watchEventFrom) };
        } else if (message.event === 'progress') {
          // A progress id is a safe resume point: nothing matching happened up to it.
          resumeAfter = Math.max(resumeAfter ?? 0, Number(message.id ?? (JSON.parse(message.data) as { revision: number }).revision));
        } else if (message.event === 'error') {
          const data = JSON.parse(message.data) as { code: string; compactRevision?: number; detail?: string };
          if (data.code === 'history_compacted') {
            throw new HistoryCompactedError({
              status: 410,
              code: data.code,
              detail: data.detail ?? 'the history to resume from is compacted',
              compactRevision: data.compactRevision ?? 0,
            });
          }
          // slow_consumer, shutting down: the server ends the stream; reconnect and resume from history.
        }
      }
    } catch (error) {
      if (options.signal?.aborted) return;
      if (error instanceof KvsError) throw error;
      // The connection broke mid-stream: resume.
    }
    if (options.signal?.aborted) return;
    await backOff(failures++, delayMaxMs, null, options.signal);
  }
}

/**
 * Worth another try: no answer, a 503 (overload, shutdown, etcd failing over), or a 429 (the client's rate
 * limit, spent by its other requests or by reconnections): both say when to come back.
 */
function retriable(error: unknown): boolean {
  return error instanceof KvsNetworkError || error instanceof UnavailableError || error instanceof RateLimitedError;
}

/** Waits before the next attempt: longer after each failure, and at least as long as the server's Retry-After. */
async function backOff(failures: number, delayMaxMs: number, error: unknown, signal: AbortSignal | undefined): Promise<void> {
  const retryAfter = error instanceof UnavailableError || error instanceof RateLimitedError ? error.retryAfter : null;
  const retryAfterMs = retryAfter === null ? 0 : retryAfter * 1000;
  const delayMs = Math.max(retryAfterMs, Math.min(delayMaxMs, 50 * 2 ** failures));
  await sleep(delayMs, signal).catch(() => {});
}

/**
 * How long a stream may stay silent before it is taken for dead and reopened. The server sends a progress
 * message after 10 s without changes (KV_WATCH_PROGRESS_MS), so silence far beyond that means a half-open
 * connection (a NAT or proxy that dropped it without a reset), which would otherwise hang the watch forever.
 */
const IDLE_TIMEOUT_MS = 45_000;

/** SSE messages of a response body, as they arrive; ends when the body does, or after `idleMs` without a byte. */
async function* messagesOf(body: ReadableStream<Uint8Array>, signal: AbortSignal | undefined, idleMs: number): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => queue.push(message) });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', cancel, { once: true });
  let idle = setTimeout(cancel, idleMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      clearTimeout(idle);
      idle = setTimeout(cancel, idleMs);
      parser.feed(decoder.decode(value, { stream: true }));
      while (queue.length > 0) yield queue.shift()!;
    }
  } finally {
    clearTimeout(idle);
    signal?.removeEventListener('abort', cancel);
    await reader.cancel().catch(() => {});
  }
}
