import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Access } from '../../auth/access.js';
import { decodeCursor, encodeCursor } from '../../core/cursor.js';
import { KvError } from '../../core/errors.js';
import { keyBytes, prefixEnd } from '../../core/keys.js';
import { LIST_PAGE_VALUE_BYTES_MAX, type Limits } from '../../core/limits.js';
import { listPage } from '../../engine/listing.js';
import type { HttpDeps } from '../deps.js';
import { rangeItemJson } from '../presenters.js';
import { queryBoolean, queryInteger, queryString, staleParameter, type Query } from '../query.js';
import { described, fields, headers, json, operation, rangeBound, ref, staleParameterSchema } from '../openapi/operation.js';

/** Ranges and prefix deletes: `/v1/kv` (API.md §4). */
export async function rangeRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;

  /** The range a listing asks for, from its prefix, start and end (a cursor only narrows it). */
  const requestedRange = (query: Query) => {
    const prefix = boundParameter(query, 'prefix', limits) ?? '';
    return { prefix, ...rangeBounds(prefix, boundParameter(query, 'start', limits), boundParameter(query, 'end', limits)) };
  };
  const listAccess = (request: FastifyRequest): Access => {
    const { lower, upper } = requestedRange(request.query as Query);
    return { kind: 'range', action: 'read', start: lower, end: upper };
  };

  app.get('/v1/kv', { schema: listSchema(limits), config: { access: listAccess } }, async (request, reply) => {
    const query = request.query as Query;
    const reverse = queryBoolean(query, 'reverse', false);
    const { prefix, lower, upper } = requestedRange(query);
    const bounds = { lower, upper };
    const cursorText = queryString(query, 'cursor');
    if (cursorText !== undefined && cursorText !== '') {
      const cursor = decodeCursor(cursorText, reverse);
      if ('from' in cursor && Buffer.compare(cursor.from, bounds.lower) > 0) bounds.lower = cursor.from;
      if ('to' in cursor && (bounds.upper === null || Buffer.compare(cursor.to, bounds.upper) < 0)) bounds.upper = cursor.to;
    }
    const delimiter = queryString(query, 'delimiter');
    if (delimiter === '') throw new KvError('invalid_request', 'the query parameter "delimiter" must not be empty');
    const page = await listPage(engine, {
      ...bounds,
      limit: queryInteger(query, 'limit', { min: 1, max: limits.listLimitMax, fallback: limits.listLimitDefault }),
      reverse,
      withValues: queryBoolean(query, 'values', false),
      delimiter: delimiter ?? null,
      prefix,
      valueBytesMax: LIST_PAGE_VALUE_BYTES_MAX,
      stale: staleParameter(query),
    });
    if (page.stalenessMs !== undefined) reply.header('kv-staleness-ms', String(page.stalenessMs));
    const body: Record<string, unknown> = { items: page.items.map(rangeItemJson) };
    if (delimiter !== undefined) body.prefixes = page.prefixes;
    body.cursor = page.next === null ? null : encodeCursor(page.next);
    body.revision = page.revision;
    return body;
  });

  const deletedPrefix = (query: Query): string => {
    const prefix = boundParameter(query, 'prefix', limits);
    if (prefix === undefined || prefix === '') {
      throw new KvError('invalid_request', 'a prefix delete needs a non-empty "prefix" (to delete one key, use DELETE /v1/kv/{key})');
    }
    return prefix;
  };
  const deleteAccess = (request: FastifyRequest): Access => {
    const { lower, upper } = rangeBounds(deletedPrefix(request.query as Query), undefined, undefined);
    return { kind: 'range', action: 'write', start: lower, end: upper };
  };

  app.delete('/v1/kv', { schema: deletePrefixSchema(limits), config: { access: deleteAccess } }, async (request) => {
    const query = request.query as Query;
    const { lower, upper } = rangeBounds(deletedPrefix(query), undefined, undefined);
    if (queryBoolean(query, 'dry_run', false)) return { matched: await engine.count(lower, upper) };
    return engine.deleteRange(lower, upper);
  });
}

/** A range bound from the query: any string a key could start with. */
export function boundParameter(query: Query, name: string, limits: Limits): string | undefined {
  const value = queryString(query, name);
  if (value === undefined) return undefined;
  if (!value.isWellFormed() || value.includes('\u0000')) {
    throw new KvError('invalid_request', `the query parameter "${name}" must be valid Unicode without U+0000`);
  }
  if (Buffer.byteLength(value) > limits.keyBytesMax) {
    throw new KvError('invalid_request', `the query parameter "${name}" is longer than the longest key (${limits.keyBytesMax} bytes)`, {
      limit: limits.keyBytesMax,
    });
  }
  return value;
}

/** The intersection of `prefix`, `start` (inclusive) and `end` (exclusive), in bytes. */
export function rangeBounds(prefix: string, start: string | undefined, end: string | undefined): { lower: Buffer; upper: Buffer | null } {
  const prefixBytes = keyBytes(prefix);
  let lower = prefixBytes;
  let upper = prefix === '' ? null : prefixEnd(prefixBytes);
  if (start !== undefined && Buffer.compare(keyBytes(start), lower) > 0) lower = keyBytes(start);
  if (end !== undefined && end !== '' && (upper === null || Buffer.compare(keyBytes(end), upper) < 0)) upper = keyBytes(end);
  return { lower, upper };
}

const listSchema = (limits: Limits) =>
  operation(
    {
      operationId: 'listKeys',
      tag: 'Ranges',
      summary: 'List a range of keys',
      description:
        '`prefix`, `start` and `end` combine as an intersection; none lists every key. Pass `cursor` back, with the same other parameters, for the next page; `null` means done.',
      access: { grant: '`read` over the whole range' },
      engine: true,
      querystring: fields({
        prefix: rangeBound('Only keys starting with this.', limits),
        start: rangeBound('Inclusive lower bound.', limits),
        end: rangeBound('Exclusive upper bound (empty: none).', limits),
        limit: described(`Page size, 1 to ${limits.listLimitMax} (default ${limits.listLimitDefault}). Each rolled-up prefix counts.`, {
          type: 'integer',
          minimum: 1,
          maximum: limits.listLimitMax,
          default: limits.listLimitDefault,
        }),
        cursor: described('The `cursor` of the previous page (opaque).'),
        reverse: described('Walk descending.', { type: 'boolean', default: false }),
        values: described('Include `value` and `encoding` in each item.', { type: 'boolean', default: false }),
        delimiter: described('Roll keys up after the prefix to the first delimiter into `prefixes` (like S3 CommonPrefixes).', {
          type: 'string',
          minLength: 1,
        }),
        stale: staleParameterSchema,
      }),
      responses: { 200: json(ref('RangePage'), 'One page.', headers('KV-Staleness-Ms')) },
      failures: { invalid_request: 'An invalid parameter or cursor (a cursor of the other direction included).' },
    },
    limits,
  );

const deletePrefixSchema = (limits: Limits) =>
  operation(
    {
      operationId: 'deletePrefix',
      tag: 'Ranges',
      summary: 'Delete every key under a prefix, at one revision',
      access: { grant: '`write` over the whole prefix' },
      engine: true,
      writes: 'removes',
      querystring: fields(
        {
          prefix: described(`A non-empty prefix, at most ${limits.keyBytesMax} bytes.`, { type: 'string', minLength: 1, maxLength: limits.keyBytesMax }),
          dry_run: described('Only count the keys.', { type: 'boolean', default: false }),
        },
        ['prefix'],
      ),
      responses: { 200: json({ oneOf: [ref('PrefixDeleteResult'), ref('PrefixDeleteDryRun')] }, 'Deleted (or counted).') },
      failures: { invalid_request: 'No or an empty `prefix`, or an invalid `dry_run`.' },
    },
    limits,
  );
