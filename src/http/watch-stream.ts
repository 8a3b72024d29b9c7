import type { ServerResponse } from 'node:http';
import { isKvError } from '../core/errors.js';
import type { Revision } from '../core/types.js';
import type { FeedGap } from '../engine/engine.js';
import type { CatchUpSink } from '../watch/catch-up.js';
import { errorMessage, progressMessage } from '../watch/messages.js';

export interface WatchStreamLimits {
  bufferBytesMax: number;
  /** How long a stream that was ended or evicted has to take its last bytes before its socket is destroyed. */
  closeGraceMs: number;
  /** Told about failures that are bugs (the client only sees an `error` event). */
  onError: (error: unknown) => void;
}

/**
 * One `GET /v1/watch` response as Server-Sent Events: its headers, the
 * messages the catch-up (history) and then the hub (live) give it, progress,
 * errors and its end. What it is sent and when is watch/catch-up.ts's and
 * watch/hub.ts's business; this is only the HTTP side.
 */
export class WatchStream implements CatchUpSink {
  lastMessageAtMs = Date.now();
  isLive = false;
  private closed = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly response: ServerResponse,
    /** The resume point the client asked for: the stream starts after it. */
    private readonly resumeAfter: Revision,
    private readonly limits: WatchStreamLimits,
    private readonly onClosed: () => void,
  ) {
    response.on('close', () => this.close());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The status line and headers, and a comment, so that the client knows at once the stream is open. */
  writeHead(): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // Proxies (nginx) must not buffer an event stream.
      'x-accel-buffering': 'no',
      // The revision the stream starts after: a client whose connection drops before any message resumes from it.
      'kv-revision': String(this.resumeAfter),
    });
    this.response.write(': kvs watch\n\n');
  }

  /** What to call when it closes before it is live (it leaves the catch-up). */
  withdrawOnClose(withdraw: () => void): void {
    if (!this.isLive) this.unsubscribe = withdraw;
  }

  replay(message: Buffer): void {
    if (!this.closed) this.write(message);
  }

  backlogged(): boolean {
    return this.response.writableNeedDrain;
  }

  live(unsubscribe: () => void): void {
    this.unsubscribe = unsubscribe;
    this.isLive = true;
  }

  failed(error: unknown): void {
    if (this.closed) return;
    if (isKvError(error)) {
      this.response.write(errorMessage(error.code, error.extras.compactRevision === undefined ? {} : { compactRevision: error.extras.compactRevision }));
    } else {
      this.limits.onError(error);
      this.response.write(errorMessage('internal'));
    }
    this.close();
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
    this.unsubscribe = null; // the hub (or the catch-up) dropped it already
    if (this.closed) return;
    // A gap in the feed (etcd compacted history a node's feed had not read): the client must resume, and will get 410 if its point is gone.
    this.response.write(gap === undefined ? errorMessage('slow_consumer') : errorMessage('history_compacted', { compactRevision: gap.compactRevision }));
    this.close();
  }

  /** A progress message; its id never goes below the resume point the client asked for. */
  progress(revision: Revision): void {
    if (!this.closed) this.write(progressMessage(Math.max(revision, this.resumeAfter)));
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

  /** Resolves true once the response drained, false after `timeoutMs` (or if it closed). */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
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

  private write(message: string | Buffer): void {
    this.lastMessageAtMs = Date.now();
    this.response.write(message);
  }
}
