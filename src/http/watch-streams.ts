import type { ServerResponse } from 'node:http';
import { isKvError } from '../core/errors.js';
import { WATCH_REPLAY_PAGE_REVISIONS } from '../core/limits.js';
import type { ChangeEvent, Revision } from '../core/types.js';
import type { StorageEngine } from '../engine/engine.js';
import type { WatchFilter, WatchHub, WatchSink } from '../watch/hub.js';
import { changeMessage, errorMessage, progressMessage } from '../watch/messages.js';

/** How long an evicted slow consumer has to read its error message before its socket is destroyed. */
const SLOW_CONSUMER_GRACE_MS = 2000;

export interface WatchStreamOptions {
  filter: WatchFilter;
  withValues: boolean;
  /** Deliver every matching revision after this one. */
  resumeAfter: Revision;
}

/**
 * Every open `GET /v1/watch` stream: starts them (history first, then live),
 * sends `progress` to quiet ones, and ends them all on shutdown.
 */
export class WatchStreams {
  private readonly streams = new Set<WatchStream>();
  private readonly ticker: NodeJS.Timeout;
  /** Streams and long-polls open now, against maxWatchers. */
  private admitted = 0;
  /** Long-polls waiting now, to be let go on shutdown. */
  private readonly longPolls = new Set<AbortController>();

  constructor(
    private readonly engine: StorageEngine,
    private readonly hub: WatchHub,
    private readonly bufferBytesMax: number,
    private readonly progressIntervalMs: number,
    private readonly maxWatchers: number,
  ) {
    // One timer for all streams: a stream quiet for a whole interval gets a progress message.
    this.ticker = setInterval(() => this.sendProgress(), Math.max(10, Math.floor(progressIntervalMs / 4)));
    this.ticker.unref();
  }

  /** Open watch streams. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Takes a place among the maxWatchers a server holds open (a stream or a
   * long-poll). Returns the function that gives it back, or null when full.
   */
  admit(): (() => void) | null {
    if (this.admitted >= this.maxWatchers) return null;
    this.admitted++;
    let released = false;
    return () => {
      if (!released) this.admitted--;
      released = true;
    };
  }

  /** Takes over `response` (already hijacked from Fastify) and streams the watch into it; `release` is called when it ends. */
  open(response: ServerResponse, options: WatchStreamOptions, release: () => void): void {
    const stream = new WatchStream(response, this.engine, this.hub, options, this.bufferBytesMax, () => {
      this.streams.delete(stream);
      release();
    });
    this.streams.add(stream);
    void stream.start();
  }

  /**
   * Registers a waiting long-poll; `closeAll` aborts it. Returns the function
   * to call when it is done.
   */
  trackLongPoll(controller: AbortController): () => void {
    this.longPolls.add(controller);
    return () => this.longPolls.delete(controller);
  }

  /** Ends every stream and lets every long-poll answer now (server shutdown): clients reconnect with Last-Event-ID. */
  closeAll(): void {
    clearInterval(this.ticker);
    for (const stream of this.streams) stream.close();
    for (const controller of this.longPolls) controller.abort();
  }

  private sendProgress(): void {
    const now = Date.now();
    for (const stream of this.streams) {
      if (stream.isLive && now - stream.lastMessageAtMs >= this.progressIntervalMs) stream.progress(this.hub.currentRevision);
    }
  }
}

/** One SSE response. A WatchSink once it has caught up with history. */
class WatchStream implements WatchSink {
  lastMessageAtMs = Date.now();
  isLive = false;
  private closed = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly response: ServerResponse,
    private readonly engine: StorageEngine,
    private readonly hub: WatchHub,
    private readonly options: WatchStreamOptions,
    private readonly bufferBytesMax: number,
    private readonly onClosed: () => void,
  ) {
    response.on('close', () => this.close());
  }

  /**
   * Replays history after the resume point page by page (waiting for the
   * client to drain each), and subscribes to live changes at the exact
   * revision history ended, in the same synchronous step: no revision is
   * missed or sent twice.
   */
  async start(): Promise<void> {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // Proxies (nginx) must not buffer an event stream.
      'x-accel-buffering': 'no',
    });
    this.response.write(': kvs watch\n\n');
    let cursor = this.options.resumeAfter;
    try {
      while (!this.closed) {
        const head = this.hub.currentRevision;
        if (cursor >= head) {
          this.unsubscribe = this.hub.subscribe(this.options.filter, this.options.withValues, this, cursor);
          this.isLive = true;
          return;
        }
        const page = await this.engine.changesSince(cursor, head, WATCH_REPLAY_PAGE_REVISIONS);
        for (const changes of page) {
          const events = changes.events.filter((event) => matches(this.options.filter, event));
          if (events.length > 0) this.write(changeMessage(changes.revision, events, this.options.withValues));
          cursor = changes.revision;
        }
        // Revisions are dense, so an empty page means history ends before `head`: nothing more to replay.
        if (page.length === 0) cursor = head;
        if (this.response.writableNeedDrain) await this.drained();
      }
    } catch (error) {
      if (this.closed) return;
      const extra = isKvError(error) && error.extras.compactRevision !== undefined ? { compactRevision: error.extras.compactRevision } : {};
      this.response.write(errorMessage(isKvError(error) ? error.code : 'internal', extra));
      this.close();
    }
  }

  deliver(_revision: Revision, message: string, _events: readonly ChangeEvent[]): boolean {
    if (this.closed) return true;
    // Judged on what is still unsent from earlier messages, so that one message
    // larger than the bound does not make a consumer that keeps up look slow.
    if (this.response.writableLength > this.bufferBytesMax) return false;
    this.write(message);
    return true;
  }

  evict(): void {
    this.unsubscribe = null; // the hub dropped us already
    if (this.closed) return;
    this.response.write(errorMessage('slow_consumer'));
    this.close();
    // A consumer that does not read would keep the socket (and its buffer) until
    // it did: give it a moment to receive the error, then let go.
    setTimeout(() => this.response.destroy(), SLOW_CONSUMER_GRACE_MS).unref();
  }

  progress(revision: Revision): void {
    if (!this.closed) this.write(progressMessage(revision));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.isLive = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.response.end();
    this.onClosed();
  }

  private write(message: string): void {
    this.lastMessageAtMs = Date.now();
    this.response.write(message);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.once('drain', done);
      this.response.once('close', done);
    });
  }
}

export function matches(filter: WatchFilter, event: ChangeEvent): boolean {
  return 'key' in filter ? event.key === filter.key : event.key.startsWith(filter.prefix);
}
