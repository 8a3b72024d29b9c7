import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keyAccess } from '../../auth/access.js';
import { encodeValueForEnvelope, JSON_CONTENT_TYPE, stringifyJsonValue } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import { validateKey } from '../../core/keys.js';
import type { Limits } from '../../core/limits.js';
import type { Entry } from '../../core/types.js';
import type { TxnRequest, TxnResult } from '../../engine/engine.js';
import type { HttpDeps } from '../deps.js';
import { parseJson } from '../json-body.js';
import { acceptAnyBody, bodyBytes } from '../raw-body.js';
import { memoize } from '../memoize.js';
import { queryString, type Query } from '../query.js';
import { described, fields, json, keyGrant, keyString, operation, ref } from '../openapi/operation.js';

const SUCCESS = { status: 'success' } as const;

/**
 * The original server's routes, with its bodies and statuses (API.md §1).
 * Errors use the seed's `{"status":"error","message"}` body (see errors.ts).
 * The plain cases are also answered before Fastify (http/fast-paths.ts),
 * through the functions below, so both paths decide alike.
 */
export async function seedRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;
  const config = { errorFormat: 'seed' as const, bodyLimitBytes: limits.requestBytesMax };
  const queryKey = (request: FastifyRequest) => seedKey(queryString(request.query as Query, 'key'), limits);

  /** The key and value of a /put, parsed once per request (access control needs the key first). */
  const putOf = memoize((request: FastifyRequest) => parseSeedPut(bodyBytes(request.body), queryString(request.query as Query, 'key'), limits));

  // Existing scripts post JSON with whatever content type their HTTP client
  // picked (curl -d sends x-www-form-urlencoded): read every body as JSON.
  acceptAnyBody(app, limits.requestBytesMax);

  const schemas = seedSchemas(limits);
  app.post('/put', { schema: schemas.put, config: { ...config, access: (request) => keyAccess(putOf(request).key, 'write') } }, async (request) => {
    const { key, value } = putOf(request);
    assertSeedWritten(await engine.txn(seedPutTxn(key, value, limits)));
    return SUCCESS;
  });

  app.get('/get', { schema: schemas.get, config: { ...config, access: (request) => keyAccess(queryKey(request), 'read') } }, async (request) => {
    const { entry } = await engine.get(queryKey(request));
    return seedGetBody(entry);
  });

  app.delete('/del', { schema: schemas.del, config: { ...config, access: (request) => keyAccess(queryKey(request), 'write') } }, async (request) => {
    assertSeedDeleted(await engine.txn(seedDeleteTxn(queryKey(request))));
    return SUCCESS;
  });
}

/** The body of a successful /put or /del, as Fastify serialises SUCCESS. */
export const SEED_SUCCESS_BODY = JSON.stringify(SUCCESS);

export function seedKey(key: unknown, limits: Limits): string {
  if (key === undefined || key === null) throw new KvError('invalid_request', 'Missing key');
  if (typeof key !== 'string') throw new KvError('invalid_request', 'the key must be a string');
  return validateKey(key, limits.keyBytesMax);
}

/** The OpenAPI description of the seed's routes: errors in the seed's body, not problem+json. */
function seedSchemas(limits: Limits) {
  const requiredKey = fields({ key: described('The key.', keyString(limits)) }, ['key']);
  const missing = { invalid_key: 'The key is not valid.', invalid_request: 'No `key`.', key_not_found: 'No such key (`"message": "Key not found"`).' };
  return {
    put: operation(
      {
        operationId: 'seedPut',
        tag: 'Seed compatibility',
        summary: "Create or replace (the original server's route)",
        description:
          'The value is stored as `application/json`. The body is read as JSON whatever its content type (as `curl -d` sends `x-www-form-urlencoded`).',
        access: keyGrant('write'),
        engine: true,
        writes: 'adds',
        seedErrors: true,
        querystring: fields({ key: described('The key, when the body has none.', keyString(limits)) }),
        body: { content: { 'application/json': { schema: ref('SeedPut') } }, limitBytes: limits.requestBytesMax, tooLarge: 'request_too_large' },
        responses: { 200: json(ref('SeedSuccess'), 'Stored.') },
        failures: {
          invalid_key: 'The key is not valid.',
          invalid_request: 'No key or value, a key that is not a string, or a body that is not a JSON object.',
          invalid_json: 'The body is empty or not JSON.',
          value_too_large: `The value, as JSON, is larger than ${limits.valueBytesMax} bytes.`,
        },
      },
      limits,
    ),
    get: operation(
      {
        operationId: 'seedGet',
        tag: 'Seed compatibility',
        summary: "Read (the original server's route)",
        description: 'A value that is not JSON is returned as a JSON string (UTF-8 text), or, when binary, in base64 with `"encoding": "base64"`.',
        access: keyGrant('read'),
        engine: true,
        seedErrors: true,
        querystring: requiredKey,
        responses: { 200: json(ref('SeedValue'), 'The value.') },
        failures: missing,
      },
      limits,
    ),
    del: operation(
      {
        operationId: 'seedDel',
        tag: 'Seed compatibility',
        summary: "Delete (the original server's route)",
        access: keyGrant('write'),
        engine: true,
        writes: 'removes',
        seedErrors: true,
        querystring: requiredKey,
        responses: { 200: json(ref('SeedSuccess'), 'Deleted.') },
        failures: missing,
      },
      limits,
    ),
  };
}

/** The key and value of a /put body (`queryKey` when the body names none). */
export function parseSeedPut(body: Buffer, queryKey: unknown, limits: Limits): { key: string; value: unknown } {
  const document = parseJson(body);
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new KvError('invalid_request', 'the body must be a JSON object {"key": ..., "value": ...}');
  }
  const { key: bodyKey, value } = document as Record<string, unknown>;
  return { key: seedKey(bodyKey ?? queryKey, limits), value };
}

/** The write of a /put: its value as JSON bytes. */
export function seedPutTxn(key: string, value: unknown, limits: Limits): TxnRequest {
  if (value === undefined || value === null) throw new KvError('invalid_request', 'Missing value');
  const bytes = Buffer.from(stringifyJsonValue(value, 'the value'), 'utf8');
  if (bytes.length > limits.valueBytesMax) {
    throw new KvError('value_too_large', `the value is ${bytes.length} bytes; the limit is ${limits.valueBytesMax}`, { limit: limits.valueBytesMax });
  }
  return { compares: [], ops: [{ op: 'put', key, value: bytes, contentType: JSON_CONTENT_TYPE, ttlMs: null }] };
}

export function seedDeleteTxn(key: string): TxnRequest {
  return { compares: [], ops: [{ op: 'delete', key }] };
}

/** A /put's result: an unconditional put always succeeds. */
export function assertSeedWritten(outcome: TxnResult): void {
  if (!outcome.succeeded) throw new Error('an unconditional put failed its compares');
}

/** A /del's result: 404 when there was nothing to delete. */
export function assertSeedDeleted(outcome: TxnResult): void {
  const result = outcome.succeeded ? outcome.results[0] : undefined;
  if (result?.op !== 'delete' || !result.deleted) throw new KvError('key_not_found', 'Key not found');
}

/** The body of a /get; 404 when the key is missing. */
export function seedGetBody(entry: Entry | null): Record<string, unknown> {
  if (entry === null) throw new KvError('key_not_found', 'Key not found');
  const { value, encoding } = encodeValueForEnvelope(entry.value, entry.contentType);
  // Non-JSON text is returned as a JSON string; only binary needs to say its encoding.
  // (Object literals: a spread of SUCCESS made serialising them several times slower.)
  return encoding === 'base64' ? { status: 'success', value, encoding } : { status: 'success', value };
}
