import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { keyAccess, type Access } from '../../auth/access.js';
import { DEFAULT_CONTENT_TYPE } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import type { Revision } from '../../core/types.js';
import type { Compare, ReadResult, TxnOp, TxnOpResult } from '../../engine/engine.js';
import { etag, ifNoneMatchHits, writeConditions } from '../conditions.js';
import type { HttpDeps } from '../deps.js';
import { waitForChange } from '../../watch/long-poll.js';
import { keyFromUrl, readHeaders } from '../key-path.js';
import { tooManyWatchers } from './watch.js';
import { acceptAnyBody, bodyBytes } from '../raw-body.js';
import { writeResultJson } from '../presenters.js';
import { queryInteger, queryString, queryTtlMs, staleParameter, type Query } from '../query.js';
import { COUNTER_ABS_MAX } from '../../core/limits.js';

/** Single keys: `/v1/kv/{key}` (API.md §3). */
export async function kvRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;

  // Values are raw bytes of any content type.
  acceptAnyBody(app, limits.maxValueBytes);

  const keyOf = (request: FastifyRequest): string => keyFromUrl(request.raw.url ?? request.url, limits.maxKeyBytes);

  const read = async (request: FastifyRequest, reply: FastifyReply, withBody: boolean) => {
    const key = keyOf(request);
    const ifNoneMatch = request.headers['if-none-match'];
    const prefer = request.headers.prefer;
    const waitSeconds = ifNoneMatch === undefined ? null : preferredWaitSeconds(Array.isArray(prefer) ? prefer.join(',') : prefer, limits.maxWaitSeconds);
    const stale = staleParameter(request.query as Query);
    let { entry, revision, stalenessMs } = await engine.get(key, stale ? { stale } : undefined);
    if (entry !== null && waitSeconds !== null && ifNoneMatchHits(ifNoneMatch, entry.revision)) {
      // The long-poll: the client has this revision; answer when the key changes, or 304 at the deadline.
      ({ entry, revision, stalenessMs } = await waitForKeyChange(deps, key, entry.revision, revision, waitSeconds, reply));
    }
    reply.header('kv-revision', String(revision));
    if (stalenessMs !== undefined) reply.header('kv-staleness-ms', String(stalenessMs));
    if (entry === null) throw new KvError('key_not_found', `no key ${JSON.stringify(key)}`);
    reply.headers(readHeaders(entry, revision));
    if (ifNoneMatchHits(ifNoneMatch, entry.revision)) return reply.code(304).send();
    reply.header('content-type', entry.contentType);
    storedContentTypes.set(reply, entry.contentType);
    if (!withBody) return reply.header('content-length', String(entry.value.length)).send();
    return reply.send(entry.value);
  };

  // Reading needs `read`; a long-poll (If-None-Match with Prefer: wait) also `watch`.
  const readAccess = (request: FastifyRequest): Access =>
    request.headers.prefer !== undefined && request.headers['if-none-match'] !== undefined ? keyAccess(keyOf(request), 'read', 'watch') : keyAccess(keyOf(request), 'read');
  const writeAccess = (request: FastifyRequest): Access => keyAccess(keyOf(request), 'write');

  app.get('/v1/kv/*', { exposeHeadRoute: false, config: { access: readAccess }, onSend: keepStoredContentType }, (request, reply) => read(request, reply, true));
  app.head('/v1/kv/*', { config: { access: readAccess }, onSend: keepStoredContentType }, (request, reply) => read(request, reply, false));

  const valueRoute = { config: { access: writeAccess, bodyTooLargeCode: 'value_too_large' as const, bodyLimitBytes: limits.maxValueBytes } };

  app.put('/v1/kv/*', valueRoute, async (request, reply) => {
    const key = keyOf(request);
    const sent = request.sentContentType?.trim();
    const contentType = sent === undefined || sent === '' ? DEFAULT_CONTENT_TYPE : sent;
    if (contentType.length > limits.maxContentTypeChars) {
      throw new KvError('invalid_request', `the content type is longer than ${limits.maxContentTypeChars} characters`);
    }
    const value = bodyBytes(request.body);
    const ttlMs = queryTtlMs(request.query as Query, limits.maxTtlSeconds);
    const result = await runConditional(deps, conditionsOf(request, key), { op: 'put', key, value, contentType, ttlMs });
    if (result.op !== 'put') throw new Error('a put returned another op');
    return reply
      .code(result.created ? 201 : 200)
      .headers({ etag: etag(result.entry.revision), 'kv-revision': String(result.entry.revision) })
      .send(writeResultJson(result.entry));
  });

  app.delete('/v1/kv/*', { config: { access: writeAccess } }, async (request, reply) => {
    const key = keyOf(request);
    const { result, revision } = await runConditionalWithRevision(deps, conditionsOf(request, key), { op: 'delete', key });
    if (result.op !== 'delete') throw new Error('a delete returned another op');
    reply.header('kv-revision', String(revision));
    if (!result.deleted) throw new KvError('key_not_found', `no key ${JSON.stringify(key)}`);
    return reply.code(204).send();
  });

  app.post('/v1/kv/*', valueRoute, async (request, reply) => {
    const key = keyOf(request);
    const query = request.query as Query;
    const op = queryString(query, 'op');
    if (op !== 'add') {
      throw new KvError('invalid_request', `POST on a key needs ?op=add (got ${op === undefined ? 'no op' : JSON.stringify(op)})`);
    }
    const by = queryInteger(query, 'by', { min: -COUNTER_ABS_MAX, max: COUNTER_ABS_MAX, fallback: 1 });
    const result = await runConditional(deps, conditionsOf(request, key), { op: 'add', key, by });
    if (result.op !== 'add') throw new Error('an add returned another op');
    return reply
      .headers({ etag: etag(result.entry.revision), 'kv-revision': String(result.entry.revision) })
      .send({ key, value: result.value, revision: result.entry.revision, version: result.entry.version });
  });
}

function conditionsOf(request: FastifyRequest, key: string): Compare[] {
  return writeConditions(key, request.headers['if-match'], request.headers['if-none-match']);
}

async function runConditional(deps: HttpDeps, compares: Compare[], op: TxnOp): Promise<TxnOpResult> {
  return (await runConditionalWithRevision(deps, compares, op)).result;
}

/** Runs one op under the request's preconditions; a failed precondition is 412 with the key's current revision. */
async function runConditionalWithRevision(deps: HttpDeps, compares: Compare[], op: TxnOp): Promise<{ result: TxnOpResult; revision: Revision }> {
  const outcome = await deps.engine.txn({ compares, ops: [op] });
  if (!outcome.succeeded) {
    const current = outcome.currentRevisions[0] ?? 0;
    throw new KvError('precondition_failed', `the precondition on ${JSON.stringify(op.key)} failed: its revision is ${current === 0 ? 'none (absent)' : current}`, {
      currentRevision: current === 0 ? null : current,
    });
  }
  return { result: outcome.results[0]!, revision: outcome.revision };
}

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
async function waitForKeyChange(deps: HttpDeps, key: string, after: Revision, readAt: Revision, waitSeconds: number, reply: FastifyReply): Promise<ReadResult> {
  const release = deps.watchStreams.admit();
  if (release === null) throw tooManyWatchers(deps.limits.maxWatchers);
  reply.header('preference-applied', `wait=${waitSeconds}`);
  const stop = new AbortController();
  const onClose = () => stop.abort();
  reply.raw.once('close', onClose);
  if (reply.raw.destroyed) stop.abort(); // the client left while the key was being read
  const untrack = deps.watchStreams.trackLongPoll(stop);
  const deadline = Date.now() + waitSeconds * 1000;
  try {
    let read: ReadResult = { entry: null, revision: readAt };
    for (let seenAt = readAt; ; ) {
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

/**
 * A value is answered with the content type it was stored with, whatever it
 * is. Fastify replaces a Content-Type it cannot parse (`foo`, `;`) with
 * application/octet-stream as it sends a Buffer; this hook, which runs after
 * that, puts the stored one back.
 */
const storedContentTypes = new WeakMap<FastifyReply, string>();
function keepStoredContentType(_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void): void {
  const stored = storedContentTypes.get(reply);
  if (stored !== undefined) reply.header('content-type', stored);
  done(null, payload);
}
