import { ForbiddenError, HistoryCompactedError, KvsNetworkError, UnauthorizedError, type KvsClient, type WatchMessage } from '../client/index.js';
import { plainKey } from './key-display.js';

/**
 * The change feed, for the tree, the list, the open value and the status bar:
 * one `client.watch` (which resumes by itself after a dropped connection,
 * from the last revision it delivered, so nothing is missed or repeated).
 *
 * The SDK does not say when its stream is up or down, so the console gives
 * the SDK a fetch that watches the /v1/watch exchanges go by: a stream that
 * answered is "live", one that ended, broke or could not connect is
 * "reconnecting" until the SDK's next attempt answers.
 */

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'off';

type StateListener = (state: ConnectionState) => void;

/** A fetch for the SDK that reports the state of /v1/watch streams to `listener`. */
export function monitoredFetch(listener: StateListener): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!new URL(url, location.href).pathname.endsWith('/v1/watch')) return fetch(input, init);
    const aborted = () => init?.signal?.aborted === true;
    let response: Response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      if (!aborted()) listener('reconnecting');
      throw error;
    }
    if (!response.ok || response.body === null) {
      if (response.status >= 500) listener('reconnecting');
      return response;
    }
    listener('live');
    const reader = response.body.getReader();
    const ended = () => {
      if (!aborted()) listener('reconnecting');
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            ended();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          ended();
          controller.error(error);
        }
      },
      cancel(reason) {
        ended();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

export interface LiveHandlers {
  message(message: WatchMessage): void;
  /** History was compacted past the resume point: everything shown must be read again. */
  reset(): void;
  /** The watch cannot go on with this token (401): ask for another. */
  unauthorized(error: UnauthorizedError): void;
  /** Why there are no live updates (e.g. the token may not watch), or null when there are. */
  limited(reason: string | null): void;
}

/**
 * Watches every key (prefix ''); a token that may not watch them all is
 * refused, and then the feed follows the narrower scope the page gives it
 * (the Filter), when there is one.
 */
export class Live {
  private controller: AbortController | null = null;
  private scope = '';
  private fallback: string | null = null;
  /** The Filter, as last given. */
  private filter = '';
  /** What to watch without a Filter when every key may not be watched: the token's one watchable prefix, if it has one. */
  private defaultScope: string | null = null;
  private everything = true;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly client: KvsClient,
    private readonly handlers: LiveHandlers,
    private readonly setState: StateListener,
  ) {}

  start(): void {
    this.everything = true;
    this.open('');
  }

  stop(): void {
    this.controller?.abort();
    this.controller = null;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** The prefix to watch when the token may not watch every key (the Filter): '' for none. */
  narrowTo(prefix: string): void {
    this.filter = prefix;
    this.fallback = prefix === '' ? this.defaultScope : prefix;
    if (this.everything) return;
    if (this.fallback === null) {
      this.stop();
      this.setState('off');
      this.handlers.limited('Live updates are off: your token may not watch every key. Type a prefix it may watch into Filter to follow those keys.');
      return;
    }
    if (this.fallback !== this.scope || this.controller === null) this.open(this.fallback);
    this.handlers.limited(
      prefix === ''
        ? `Live updates follow only the keys under “${plainKey(this.fallback)}”: the one prefix your token may watch.`
        : 'Live updates follow only the keys under the Filter: your token may not watch every key.',
    );
  }

  /** Without a Filter, watch `prefix` when every key may not be watched (the token's one watchable prefix). */
  setDefaultScope(prefix: string): void {
    this.defaultScope = prefix;
    this.narrowTo(this.filter);
  }

  private open(prefix: string): void {
    this.stop();
    this.scope = prefix;
    const controller = new AbortController();
    this.controller = controller;
    this.setState('connecting');
    void this.run(prefix, controller);
  }

  private async run(prefix: string, controller: AbortController): Promise<void> {
    try {
      for await (const message of this.client.watch({ prefix, values: false, signal: controller.signal, reconnectDelayMaxMs: 3000 })) {
        this.handlers.message(message);
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof HistoryCompactedError) {
        // The gap cannot be replayed: read everything again, and watch from now.
        this.handlers.reset();
        this.open(prefix);
        return;
      }
      if (error instanceof UnauthorizedError) {
        this.setState('off');
        this.handlers.unauthorized(error);
        return;
      }
      if (error instanceof ForbiddenError && prefix === '' && error.code === 'forbidden') {
        this.everything = false;
        this.controller = null;
        this.narrowTo(this.filter);
        return;
      }
      if (error instanceof ForbiddenError) {
        this.setState('off');
        this.handlers.limited(`Live updates are off: ${error.detail}.`);
        return;
      }
      if (error instanceof KvsNetworkError) {
        // The server was not there at the first attempt: try again, as the SDK does once it has connected.
        this.setState('reconnecting');
        this.retryTimer = setTimeout(() => this.open(prefix), 2000);
        return;
      }
      this.setState('off');
      this.handlers.limited(`Live updates stopped: ${(error as Error).message}`);
      return;
    }
  }
}
