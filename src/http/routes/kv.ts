import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { keyAccess, type Access } from '../../auth/access.js';
import { DEFAULT_CONTENT_TYPE } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import type { Revision } from '../../core/types.js';
import type { Compare, TxnOp, TxnOpResult } from '../../engine/engine.js';
import { etag, ifNoneMatchHits, writeConditions } from '../conditions.js';
import type { HttpDeps } from '../deps.js';
import { keyFromUrl, readHeaders } from '../key-path.js';
import { preferredWaitSeconds, waitForKeyChange } from '../long-poll.js';
import { acceptAnyBody, bodyBytes } from '../raw-body.js';
import { writeResultJson } from '../presenters.js';
import { queryInteger, queryString, queryTtlMs, staleParameter, type Query } from '../query.js';
import { COUNTER_ABS_MAX, type Limits } from '../../core/limits.js';
import {
  described,
  fields,
  headerRef,
  headers,
  json,
  keyGrant,
  keyString,
  keyText,
  operation,
  ref,
  staleParameterSchema,
  type Schema,
} from '../openapi/operation.js';

/** Single keys: `/v1/kv/{key}` (API.md §3). */
export async function kvRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;
  const schemas = kvSchemas(limits);

  // Values are raw bytes of any content type.
  acceptAnyBody(app, limits.valueBytesMax);

  const keyOf = (request: FastifyRequest): string => keyFromUrl(request.raw.url ?? request.url, limits.keyBytesMax);

  const read = async (request: FastifyRequest, reply: FastifyReply, withBody: boolean) => {
    const key = keyOf(request);
    const ifNoneMatch = request.headers['if-none-match'];
    const prefer = request.headers.prefer;
    const waitSeconds = ifNoneMatch === undefined ? null : preferredWaitSeconds(Array.isArray(prefer) ? prefer.join(',') : prefer, limits.waitSecondsMax);
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
    request.headers.prefer !== undefined && request.headers['if-none-match'] !== undefined
      ? keyAccess(keyOf(request), 'read', 'watch')
      : keyAccess(keyOf(request), 'read');
  const writeAccess = (request: FastifyRequest): Access => keyAccess(keyOf(request), 'write');

  app.get('/v1/kv/*', { schema: schemas.get, exposeHeadRoute: false, config: { access: readAccess }, onSend: keepStoredContentType }, (request, reply) =>
    read(request, reply, true),
  );
  // HEAD is an operation of its own in the document (@fastify/swagger leaves HEAD routes out unless told).
  app.head(
    '/v1/kv/*',
    { schema: schemas.head, config: { access: readAccess, swagger: { exposeHeadRoute: true } }, onSend: keepStoredContentType },
    (request, reply) => read(request, reply, false),
  );

  const valueRoute = { config: { access: writeAccess, bodyTooLargeCode: 'value_too_large' as const, bodyLimitBytes: limits.valueBytesMax } };

  app.put('/v1/kv/*', { ...valueRoute, schema: schemas.put }, async (request, reply) => {
    const key = keyOf(request);
    const sent = request.sentContentType?.trim();
    const contentType = sent === undefined || sent === '' ? DEFAULT_CONTENT_TYPE : sent;
    if (contentType.length > limits.contentTypeCharsMax) {
      throw new KvError('invalid_request', `the content type is longer than ${limits.contentTypeCharsMax} characters`);
    }
    const value = bodyBytes(request.body);
    const ttlMs = queryTtlMs(request.query as Query, limits.ttlSecondsMax);
    const result = await runConditional(deps, conditionsOf(request, key), { op: 'put', key, value, contentType, ttlMs });
    if (result.op !== 'put') throw new Error('a put returned another op');
    return reply
      .code(result.created ? 201 : 200)
      .headers({ etag: etag(result.entry.revision), 'kv-revision': String(result.entry.revision) })
      .send(writeResultJson(result.entry));
  });

  app.delete('/v1/kv/*', { schema: schemas.delete, config: { access: writeAccess } }, async (request, reply) => {
    const key = keyOf(request);
    const { result, revision } = await runConditionalWithRevision(deps, conditionsOf(request, key), { op: 'delete', key });
    if (result.op !== 'delete') throw new Error('a delete returned another op');
    reply.header('kv-revision', String(revision));
    if (!result.deleted) throw new KvError('key_not_found', `no key ${JSON.stringify(key)}`);
    return reply.code(204).send();
  });

  app.post('/v1/kv/*', { ...valueRoute, schema: schemas.post }, async (request, reply) => {
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
    throw new KvError(
      'precondition_failed',
      `the precondition on ${JSON.stringify(op.key)} failed: its revision is ${current === 0 ? 'none (absent)' : current}`,
      {
        currentRevision: current === 0 ? null : current,
      },
    );
  }
  return { result: outcome.results[0]!, revision: outcome.revision };
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

/** The OpenAPI description of each `/v1/kv/{key}` operation, with the limits in force. */
function kvSchemas(limits: Limits) {
  const key = fields(
    {
      key: {
        ...keyString(limits),
        description: `The key (${keyText(limits)}), percent-encoded; \`/\` may appear unescaped.`,
        'x-max-bytes': limits.keyBytesMax,
      },
    },
    ['key'],
  );
  const conditional = {
    'If-Match': described(
      'Apply only if the key exists at one of these revisions: `"<revision>"`, a comma list of them, or `*` (the key must exist). Strong comparison.',
    ),
    'If-None-Match': described('Apply only if the key is not at any of these revisions: `*` (the key must not exist) or a `"<revision>"` list.'),
  };
  const preconditionFailed = { precondition_failed: "`If-Match` or `If-None-Match` failed; `currentRevision` is the key's revision (`null`: absent)." };
  const badConditional = 'Or a malformed `If-Match` / `If-None-Match`.';
  const readHeaders = {
    ...headers('ETag', 'KV-Revision', 'KV-Create-Revision', 'KV-Version', 'KV-Expires-At', 'KV-Staleness-Ms', 'Cache-Control', 'X-Content-Type-Options'),
    'Content-Security-Policy': headerRef('ValueContentSecurityPolicy'),
  };
  // Any bytes with any content type (`*/*`); the other types are there for "Try it out" (text and JSON get a text box).
  const anyBytes: Schema = { type: 'string', format: 'binary' };
  const valueContent = {
    'text/plain': { schema: { type: 'string' } },
    'application/json': { schema: {} },
    'application/octet-stream': { schema: anyBytes },
    '*/*': { schema: anyBytes },
  };
  const waitSeconds = Math.min(30, limits.waitSecondsMax);

  return {
    get: operation(
      {
        operationId: 'getKey',
        tag: 'Keys',
        summary: 'Read a value',
        description: `The stored bytes, with the content type they were stored with. With \`If-None-Match\` and \`Prefer: wait=N\` the request is a long-poll: it is held until the key changes (200, or 404 if it is deleted) or N seconds pass (304).`,
        access: keyGrant('read'),
        engine: true,
        params: key,
        querystring: fields({ stale: staleParameterSchema }),
        headers: fields({
          'If-None-Match': described('`"<revision>"` (or a list): answer 304 while the key is at that revision. Weak comparison.'),
          Prefer: described(
            `\`wait=N\`, N from 1 to ${limits.waitSecondsMax} seconds, with \`If-None-Match\`: a long-poll (needs \`watch\` as well as \`read\`).`,
            {
              type: 'string',
              examples: [`wait=${waitSeconds}`],
            },
          ),
        }),
        responses: {
          200: {
            description: 'The value. `Preference-Applied: wait=N` when it answers a long-poll.',
            headers: { ...readHeaders, ...headers('Preference-Applied') },
            content: { '*/*': { schema: anyBytes } },
          },
          304: {
            description: 'The key is still at the revision of `If-None-Match` (a long-poll: still, after N seconds).',
            headers: { ...readHeaders, ...headers('Preference-Applied') },
          },
        },
        failures: {
          invalid_key: 'The key is not valid, or not validly percent-encoded.',
          invalid_request: `\`Prefer: wait\` outside 1..${limits.waitSecondsMax}, or a malformed \`If-None-Match\`.`,
          key_not_found: 'No such key (or its TTL passed).',
          unavailable: `A long-poll while ${limits.watchersMax} watches and long-polls are open.`,
        },
        problemHeaders: { 404: headers('KV-Revision') },
      },
      limits,
    ),
    head: operation(
      {
        operationId: 'headKey',
        tag: 'Keys',
        summary: 'Read the headers of a value',
        access: keyGrant('read'),
        engine: true,
        params: key,
        querystring: fields({ stale: staleParameterSchema }),
        headers: fields({ 'If-None-Match': described('`"<revision>"` (or a list): answer 304 while the key is at that revision.') }),
        responses: {
          200: { description: "As GET, without the body; `Content-Length` is the value's size.", headers: { ...readHeaders, ...headers('Content-Length') } },
          304: { description: 'Not modified.', headers: readHeaders },
        },
        failures: { invalid_key: 'The key is not valid.', invalid_request: 'A malformed `If-None-Match`.', key_not_found: 'No such key.' },
        problemHeaders: { 404: headers('KV-Revision') },
      },
      limits,
    ),
    put: operation(
      {
        operationId: 'putKey',
        tag: 'Keys',
        summary: 'Create or replace a value',
        description:
          'The body is the value, any bytes; its `Content-Type` is stored with it (`application/octet-stream` when none is sent) and answered on reads.',
        access: keyGrant('write'),
        engine: true,
        writes: 'adds',
        body: { content: valueContent, limitBytes: limits.valueBytesMax, tooLarge: 'value_too_large', optional: true },
        params: key,
        querystring: fields({
          ttl: described(
            `Seconds until the key expires: more than 0, at most ${limits.ttlSecondsMax}, with at most 3 decimals. Without it, a TTL the key had is cleared.`,
            {
              type: 'number',
              exclusiveMinimum: 0,
              maximum: limits.ttlSecondsMax,
            },
          ),
        }),
        headers: fields(conditional),
        responses: {
          200: json(ref('WriteResult'), 'Replaced.', headers('ETag', 'KV-Revision')),
          201: json(ref('WriteResult'), 'Created.', headers('ETag', 'KV-Revision')),
        },
        failures: {
          invalid_key: 'The key is not valid.',
          invalid_request: `A bad \`ttl\`, or a content type longer than ${limits.contentTypeCharsMax} characters. ${badConditional}`,
          ...preconditionFailed,
        },
      },
      limits,
    ),
    delete: operation(
      {
        operationId: 'deleteKey',
        tag: 'Keys',
        summary: 'Delete a key',
        access: keyGrant('write'),
        engine: true,
        writes: 'removes',
        params: key,
        headers: fields(conditional),
        responses: { 204: { description: 'Deleted.', headers: headers('KV-Revision') } },
        failures: {
          invalid_key: 'The key is not valid.',
          invalid_request: 'A malformed `If-Match` / `If-None-Match`.',
          key_not_found: 'No such key.',
          ...preconditionFailed,
        },
        problemHeaders: { 404: headers('KV-Revision') },
      },
      limits,
    ),
    post: operation(
      {
        operationId: 'addToCounter',
        tag: 'Keys',
        summary: 'Atomic counter (op=add)',
        description: 'Adds `by` to the JSON integer stored at the key (a missing key counts as 0) and stores the result as JSON. A TTL the key has is kept.',
        access: keyGrant('write'),
        engine: true,
        writes: 'adds',
        params: key,
        querystring: fields(
          {
            op: described('Must be `add`.', { type: 'string', enum: ['add'] }),
            by: described('The integer to add (default 1; may be negative).', {
              type: 'integer',
              minimum: -COUNTER_ABS_MAX,
              maximum: COUNTER_ABS_MAX,
              default: 1,
            }),
          },
          ['op'],
        ),
        headers: fields(conditional),
        responses: { 200: json(ref('CounterResult'), 'The new value.', headers('ETag', 'KV-Revision')) },
        failures: {
          invalid_key: 'The key is not valid.',
          invalid_request: `No \`op=add\`, or \`by\` is not an integer within ±${COUNTER_ABS_MAX}. ${badConditional}`,
          not_a_counter: 'The stored value is not a JSON integer.',
          counter_overflow: `The result would be beyond ±${COUNTER_ABS_MAX}.`,
          ...preconditionFailed,
        },
        // The route reads (and ignores) a body of at most one value.
        body: { limitBytes: limits.valueBytesMax, tooLarge: 'value_too_large' },
      },
      limits,
    ),
  };
}
