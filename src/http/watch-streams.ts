import type { ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isKvError } from '../core/errors.js';
import { WATCH_REPLAY_PAGE_REVISIONS, WATCH_REPLAY_PAGE_VALUE_BYTES } from '../core/limits.js';
import type { Revision } from '../core/types.js';
import type { FeedGap, StorageEngine } from '../engine/engine.js';
import { matchesFilter, type WatchFilter, type WatchHub, type WatchSink } from '../watch/hub.js';
import { changeMessage, errorMessage, progressMessage } from '../watch/messages.js';


/** How long a replaying stream may take to drain one page before it counts as a slow consumer. */
const REPLAY_DRAIN_TIMEOUT_MS = 30_000;

export interface WatchStreamOptions {
  filter: WatchFilter;
  withValues: boolean;
  /** Deliver every matching revision after this one. */
  resumeAfter: Revision;
}

export interface WatchStreamsOptions {
  bufferBytesMax: number;
  progressIntervalMs: number;
  maxWatchers: number;
  /** How long a stream that was ended or evicted has to take its last bytes before its socket is destroyed. */
  closeGraceMs: number;
  /** Told about failures that are bugs (the client only sees an `error` event). */
  onError: (error: unknown) => void;
}

/**
 * Every open `GET /v1/watch` stream and waiting long-poll: admits them up to
 * maxWatchers, starts streams (history first, then live), sends `progress` to
 * quiet ones, and ends them all on shutdown.
 */
export class WatchStreams {
  private readonly streams = new Set<WatchStream>();
  private readonly longPolls = new Set<AbortController>();
  private readonly ticker: NodeJS.Timeout;
  /** Streams and long-polls open now, against maxWatchers. */
  private admitted = 0;
  private closing = false;
  /** Change events written while replaying history (live ones are the hub's to count). */
  private readonly replayed = { events: 0 };

  constructor(
    private readonly engine: StorageEngine,
    private readonly hub: WatchHub,
    private readonly options: WatchStreamsOptions,
  ) {
    // One timer for all streams: a stream quiet for a whole interval gets a progress message.
    this.ticker = setInterval(() => this.sendProgress(), Math.max(10, Math.floor(options.progressIntervalMs / 4)));
    this.ticker.unref();
  }

  /** Open watch streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Change events sent from history (the replay before a stream goes live) since start. */
  get replayedEvents(): number {
    return this.replayed.events;
  }

  /**
   * Takes a place among the maxWatchers a server holds open (a stream or a
   * long-poll). Returns the function that gives it back, or null when full or
   * shutting down.
   */
  admit(): (() => void) | null {
    if (this.closing || this.admitted >= this.options.maxWatchers) return null;
    this.admitted++;
    let released = false;
    return () => {
      if (!released) this.admitted--;
      released = true;
    };
  }

  /** Takes over `response` (already hijacked from Fastify) and streams the watch into it; `release` is called when it ends. */
  open(response: ServerResponse, options: WatchStreamOptions, release: () => void): void {
    const stream = new WatchStream(response, this.engine, this.hub, options, this.options, this.replayed, () => {
      this.streams.delete(stream);
      release();
    });
    this.streams.add(stream);
    if (this.closing || response.destroyed) {
      stream.close(); // the server began closing, or the client left, while this request was on its way here
      return;
    }
    void stream.start();
  }

  /** Registers a waiting long-poll for `closeAll` to abort. Returns the function to call when it is done. */
  trackLongPoll(controller: AbortController): () => void {
    if (this.closing) controller.abort();
    this.longPolls.add(controller);
    return () => this.longPolls.delete(controller);
  }

  /** Ends every stream and lets every long-poll answer now (server shutdown): clients reconnect with Last-Event-ID. */
  closeAll(): void {
    this.closing = true;
    clearInterval(this.ticker);
    for (const stream of this.streams) stream.close();
    for (const controller of this.longPolls) controller.abort();
  }

  private sendProgress(): void {
    const now = Date.now();
    for (const stream of this.streams) {
      if (stream.isLive && now - stream.lastMessageAtMs >= this.options.progressIntervalMs) stream.progress(this.hub.currentRevision);
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
    private readonly limits: WatchStreamsOptions,
    private readonly replayed: { events: number },
    private readonly onClosed: () => void,
  ) {
    response.on('close', () => this.close());
  }

  /**
   * Replays history after the resume point page by page (yielding to other
   * work between pages and waiting for the client to drain each), then
   * subscribes to live changes at the exact revision history ended, in the same
   * synchronous step: no revision is missed or sent twice.
   */
  async start(): Promise<void> {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // Proxies (nginx) must not buffer an event stream.
      'x-accel-buffering': 'no',
      // The revision the stream starts after: a client whose connection drops before any message resumes from it.
      'kv-revision': String(this.options.resumeAfter),
    });
    this.response.write(': kvs watch\n\n');
    let cursor = this.options.resumeAfter;
    try {
      while (!this.closed) {
        const head = this.hub.currentRevision;
        if (cursor >= head) {
          // The feed lost changes after this stream's cursor while it replayed (a gap): it cannot go live.
          if (cursor < this.hub.lostUpTo) return this.evict({ compactRevision: this.hub.lostUpTo });
          this.unsubscribe = this.hub.subscribe(this.options.filter, this.options.withValues, this, cursor);
          this.isLive = true;
          return;
        }
        const page = await this.engine.changesSince(cursor, head, WATCH_REPLAY_PAGE_REVISIONS, WATCH_REPLAY_PAGE_VALUE_BYTES);
        if (page.length === 0) cursor = head; // no key changed in (cursor, head]
        for (const changes of page) {
          const events = changes.events.filter((event) => matchesFilter(this.options.filter, event.key));
          if (events.length > 0) {
            this.write(changeMessage(changes.revision, events, this.options.withValues));
            this.replayed.events += events.length;
          }
          cursor = changes.revision;
        }
        if (this.response.writableNeedDrain && !(await this.drained(REPLAY_DRAIN_TIMEOUT_MS))) {
          this.evict();
          return;
        }
        await nextTurn(); // a long replay must not keep the server from other requests
      }
    } catch (error) {
      if (this.closed) return;
      if (isKvError(error)) {
        this.response.write(errorMessage(error.code, error.extras.compactRevision === undefined ? {} : { compactRevision: error.extras.compactRevision }));
      } else {
        this.limits.onError(error);
        this.response.write(errorMessage('internal'));
      }
      this.close();
    }
  }

  deliver(message: Buffer): boolean {
    if (this.closed) return true;
    // Judged on what is still unsent from earlier messages, so that one message
    // larger than the bound does not make a consumer that keeps up look slow.
    if (this.response.writableLength > this.limits.bufferBytesMax) return false;
    this.write(message);
    return true;
  }

  evict(gap?: FeedGap): void {
    this.unsubscribe = null; // the hub dropped it already (or it never subscribed)
    if (this.closed) return;
    this.response.write(gap === undefined ? errorMessage('slow_consumer') : errorMessage('history_compacted', { compactRevision: gap.compactRevision }));
    this.close();
  }

  /** A progress message; its id never goes below the resume point the client asked for. */
  progress(revision: Revision): void {
    if (!this.closed) this.write(progressMessage(Math.max(revision, this.options.resumeAfter)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.isLive = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.response.end();
    // A client that does not read would keep the socket (and its buffer) open,
    // and a graceful shutdown waiting: give it a moment for the last bytes, then let go.
    if (!this.response.destroyed) setTimeout(() => this.response.destroy(), this.limits.closeGraceMs).unref();
    this.onClosed();
  }

  private write(message: string | Buffer): void {
    this.lastMessageAtMs = Date.now();
    this.response.write(message);
  }

  /** Resolves true once the response drained, false after `timeoutMs` (or if it closed). */
  private drained(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.response.off('drain', onDrain);
        this.response.off('close', onClose);
        resolve(drained);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.response.once('drain', onDrain);
      this.response.once('close', onClose);
    });
  }
}
