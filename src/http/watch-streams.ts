import type { ServerResponse } from 'node:http';
import type { Revision } from '../core/types.js';
import type { StorageEngine } from '../engine/engine.js';
import { CatchUp } from '../watch/catch-up.js';
import type { WatchFilter, WatchHub } from '../watch/hub.js';
import { WatchStream } from './watch-stream.js';

export interface WatchStreamOptions {
  filter: WatchFilter;
  withValues: boolean;
  /** Deliver every matching revision after this one. */
  resumeAfter: Revision;
}

export interface WatchStreamsOptions {
  bufferBytesMax: number;
  progressIntervalMs: number;
  watchersMax: number;
  /** How long a stream that was ended or evicted has to take its last bytes before its socket is destroyed. */
  closeGraceMs: number;
  /** Told about failures that are bugs (the client only sees an `error` event). */
  onError: (error: unknown) => void;
}

/**
 * Every open `GET /v1/watch` stream and waiting long-poll: admits them up to
 * maxWatchers, starts streams (history first, from the catch-up shared by all
 * streams, then live), sends `progress` to quiet ones, and ends them all on
 * shutdown.
 */
export class WatchStreams {
  private readonly streams = new Set<WatchStream>();
  private readonly longPolls = new Set<AbortController>();
  private readonly ticker: NodeJS.Timeout;
  /** Streams and long-polls open now, against watchersMax. */
  private admitted = 0;
  private closing = false;
  /** History for the streams that resume from the past, read once for many of them. */
  private readonly catchUp: CatchUp;

  constructor(
    engine: StorageEngine,
    private readonly hub: WatchHub,
    private readonly options: WatchStreamsOptions,
  ) {
    this.catchUp = new CatchUp(engine, hub);
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
    return this.catchUp.replayedEvents;
  }

  /**
   * Takes a place among the watchersMax a server holds open (a stream or a
   * long-poll). Returns the function that gives it back, or null when full or
   * shutting down.
   */
  admit(): (() => void) | null {
    if (this.closing || this.admitted >= this.options.watchersMax) return null;
    this.admitted++;
    let released = false;
    return () => {
      if (!released) this.admitted--;
      released = true;
    };
  }

  /** Takes over `response` (already hijacked from Fastify) and streams the watch into it; `release` is called when it ends. */
  open(response: ServerResponse, options: WatchStreamOptions, release: () => void): void {
    const stream = new WatchStream(response, options.resumeAfter, this.options, () => {
      this.streams.delete(stream);
      release();
    });
    this.streams.add(stream);
    if (this.closing || response.destroyed) {
      stream.close(); // the server began closing, or the client left, while this request was on its way here
      return;
    }
    stream.writeHead();
    // Live at once when it resumes from the hub's revision (or later); otherwise history first.
    stream.withdrawOnClose(this.catchUp.join(options.filter, options.withValues, options.resumeAfter, stream));
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
