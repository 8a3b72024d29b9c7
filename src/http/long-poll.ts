import type { FastifyReply } from 'fastify';
import { KvError } from '../core/errors.js';
import type { Revision } from '../core/types.js';
import type { ReadResult } from '../engine/engine.js';
import { waitForChange } from '../watch/long-poll.js';
import type { HttpDeps } from './deps.js';
import { tooManyWatchers } from './routes/watch.js';

/*
 * The HTTP side of a long-poll (`GET /v1/kv/{key}` with `If-None-Match` and
 * `Prefer: wait=N`, API.md §3): the preference, a place among maxWatchers,
 * the client going away and the server closing. Waiting for the key itself is
 * watch/long-poll.ts's.
 */

/**
 * The `wait` preference of a `Prefer` header (RFC 7240), in seconds, or null
 * without one. Out of range is a 400 rather than silently shortened.
 */
export function preferredWaitSeconds(prefer: string | undefined, maxWaitSeconds: number): number | null {
  if (prefer === undefined) return null;
  const match = /(?:^|[,;\s])wait\s*=\s*"?([^",;\s]*)"?/i.exec(prefer);
  if (match === null) return null;
  const seconds = /^\d{1,6}$/.test(match[1]!) ? Number(match[1]) : Number.NaN;
  if (!(seconds >= 1 && seconds <= maxWaitSeconds)) {
    throw new KvError('invalid_request', `Prefer: wait must be a whole number of seconds from 1 to ${maxWaitSeconds} (got ${JSON.stringify(match[1])})`);
  }
  return seconds;
}

/**
 * Holds the request until `key` changes after revision `after`, the wait ends,
 * the client goes away, or the server shuts down; returns the key as it is then.
 */
export async function waitForKeyChange(
  deps: HttpDeps,
  key: string,
  after: Revision,
  readAt: Revision,
  waitSeconds: number,
  reply: FastifyReply,
): Promise<ReadResult> {
  const release = deps.watchStreams.admit();
  if (release === null) throw tooManyWatchers(deps.limits.watchersMax);
  reply.header('preference-applied', `wait=${waitSeconds}`);
  const stop = new AbortController();
  const onClose = () => stop.abort();
  reply.raw.once('close', onClose);
  if (reply.raw.destroyed) stop.abort(); // the client left while the key was being read
  const untrack = deps.watchStreams.trackLongPoll(stop);
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    let read: ReadResult = { entry: null, revision: readAt };
    for (let seenAt = readAt; ;) {
      const changed = await waitForChange(deps.hub, key, after, seenAt, Math.max(0, deadline - Date.now()), stop.signal);
      read = await deps.engine.get(key);
      // The hub may have moved on for another key: wait out the rest of the time.
      if (!changed || read.entry?.revision !== after || Date.now() >= deadline || stop.signal.aborted) return read;
      seenAt = read.revision;
    }
  } finally {
    reply.raw.off('close', onClose);
    untrack();
    release();
  }
}
