import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keyAccess, type Access } from '../../auth/access.js';
import { rangeBounds } from './range.js';
import { KvError } from '../../core/errors.js';
import { OverloadError } from '../../core/overload.js';
import { validateKey } from '../../core/keys.js';
import type { Revision } from '../../core/types.js';
import type { WatchFilter } from '../../watch/hub.js';
import type { HttpDeps } from '../deps.js';
import { queryBoolean, queryString, type Query } from '../query.js';
import type { Limits } from '../../core/limits.js';
import { described, fields, headers, keyString, keyText, operation, revision } from '../openapi/operation.js';

/** The change feed: `GET /v1/watch` as Server-Sent Events (API.md §6). */
export async function watchRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits, hub, watchStreams } = deps;

  const access = (request: FastifyRequest): Access => {
    const filter = watchFilter(request.query as Query, limits.keyBytesMax);
    // A watch reveals keys, revisions and (by default) values, history included: it needs read as well as watch.
    if ('key' in filter) return keyAccess(filter.key, 'read', 'watch');
    const { lower, upper } = rangeBounds(filter.prefix, undefined, undefined);
    return {
      kind: 'all',
      of: [
        { kind: 'range', action: 'read', start: lower, end: upper },
        { kind: 'range', action: 'watch', start: lower, end: upper },
      ],
    };
  };

  // No HEAD: a watch is a stream that never ends, and its headers say nothing a GET's would not.
  app.get('/v1/watch', { schema: watchSchema(limits), exposeHeadRoute: false, config: { access } }, async (request, reply) => {
    const query = request.query as Query;
    const filter = watchFilter(query, limits.keyBytesMax);
    const withValues = queryBoolean(query, 'values', true);
    const since = revisionParameter(queryString(query, 'since'), '"since"');
    const lastEventId = revisionParameter(headerValue(request.headers['last-event-id']), 'Last-Event-ID');
    // Before the stream starts, so the client gets a plain 410 it can act on.
    const { compactRevision, revision } = await engine.status();
    // Without a resume point, from now: the store's revision, which the change feed may not have reached yet (etcd).
    const resumeAfter = since === null && lastEventId === null ? Math.max(hub.currentRevision, revision) : Math.max(since ?? 0, lastEventId ?? 0);

    if (resumeAfter < compactRevision) {
      throw new KvError(
        'history_compacted',
        `history before revision ${compactRevision + 1} is compacted; watch from ${compactRevision} or later, or read the current state first`,
        {
          compactRevision,
        },
      );
    }
    const release = watchStreams.admit();
    if (release === null) throw tooManyWatchers(limits.watchersMax);
    // A hijacked response skips Fastify's onResponse hook: count it here.
    deps.metrics.requests.inc(['GET', '/v1/watch', '200']);
    reply.hijack();
    watchStreams.open(reply.raw, { filter, withValues, resumeAfter }, release);
  });
}

export function tooManyWatchers(watchersMax: number): KvError {
  return new OverloadError(`${watchersMax} watches and long-polls are open, the most this server holds; retry shortly`);
}

/** `key=K` (one key) or `prefix=P` (every key under P; empty = all keys), not both. */
function watchFilter(query: Query, keyBytesMax: number): WatchFilter {
  const key = queryString(query, 'key');
  const prefix = queryString(query, 'prefix');
  if (key !== undefined && prefix !== undefined) throw new KvError('invalid_request', 'give either "key" or "prefix", not both');
  if (key !== undefined) return { key: validateKey(key, keyBytesMax) };
  if (prefix !== undefined) {
    if (!prefix.isWellFormed() || Buffer.byteLength(prefix) > keyBytesMax)
      throw new KvError('invalid_request', '"prefix" must be valid Unicode no longer than a key');
    return { prefix };
  }
  throw new KvError('invalid_request', 'give "key" (one key) or "prefix" (every key under it; "prefix=" for all keys)');
}

function revisionParameter(value: string | undefined, name: string): Revision | null {
  if (value === undefined || value === '') return null;
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new KvError('invalid_request', `${name} must be a revision (an integer >= 0)`);
  return Number(value);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const watchSchema = (limits: Limits) =>
  operation(
    {
      operationId: 'watch',
      tag: 'Watch',
      summary: 'Change feed as Server-Sent Events',
      description: `Every change after the resume point (the later of \`since\` and \`Last-Event-ID\`; without one, from now) that matches, in revision order, one message per revision: \`event: change\` with \`id\` = revision and \`data\` = \`{"revision", "events": [...]}\`. After ${Math.round(limits.watchProgressIntervalMs / 1000)} s without one, \`event: progress\` with \`data: {"revision"}\`. A consumer too slow to keep up gets \`event: error\` with \`data: {"code": "slow_consumer"}\` and is closed. History keeps at least the last ${limits.historyRetentionRevisions} revisions.`,
      access: { grant: '`read` and `watch` over the key or prefix' },
      engine: true,
      querystring: fields({
        key: described(`Watch one key (${keyText(limits)}).`, keyString(limits)),
        prefix: described('Watch every key under this prefix (empty: all keys). Give `key` or `prefix`, not both.', {
          type: 'string',
          maxLength: limits.keyBytesMax,
        }),
        since: described('Deliver every change after this revision.', revision),
        values: described('Include values.', { type: 'boolean', default: true }),
      }),
      headers: fields({
        'Last-Event-ID': described('Resume after this revision (what an EventSource sends when it reconnects).', { type: 'string', pattern: '^[0-9]*$' }),
      }),
      responses: {
        200: {
          description: 'The event stream. It never ends by itself; reconnect with `Last-Event-ID` (or `since`) to resume without loss.',
          headers: headers('KV-Revision', 'Cache-Control'),
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
      },
      failures: {
        invalid_key: 'The `key` is not valid.',
        invalid_request: 'Neither or both of `key` and `prefix`, or an invalid revision.',
        history_compacted: 'The resume point is older than the retained history; `compactRevision` says from where a watch can resume.',
        unavailable: `${limits.watchersMax} watches and long-polls are open already.`,
      },
    },
    limits,
  );
