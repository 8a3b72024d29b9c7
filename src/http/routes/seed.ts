import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keyAccess } from '../../auth/access.js';
import { encodeValueForEnvelope, JSON_CONTENT_TYPE, stringifyJsonValue } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import { validateKey } from '../../core/keys.js';
import type { Limits } from '../../core/limits.js';
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
 */
export async function seedRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;
  const config = { errorFormat: 'seed' as const, bodyLimitBytes: limits.requestBytesMax };
  const queryKey = (request: FastifyRequest) => seedKey(queryString(request.query as Query, 'key'), limits);

  /** The key and value of a /put, parsed once per request (access control needs the key first). */
  const putOf = memoize((request: FastifyRequest) => {
    const document = parseJson(bodyBytes(request.body));
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      throw new KvError('invalid_request', 'the body must be a JSON object {"key": ..., "value": ...}');
    }
    const { key: bodyKey, value } = document as Record<string, unknown>;
    return { key: seedKey(bodyKey ?? queryString(request.query as Query, 'key'), limits), value };
  });

  // Existing scripts post JSON with whatever content type their HTTP client
  // picked (curl -d sends x-www-form-urlencoded): read every body as JSON.
  acceptAnyBody(app, limits.requestBytesMax);

  const schemas = seedSchemas(limits);
  app.post('/put', { schema: schemas.put, config: { ...config, access: (request) => keyAccess(putOf(request).key, 'write') } }, async (request) => {
    const { key, value } = putOf(request);
    if (value === undefined || value === null) throw new KvError('invalid_request', 'Missing value');
    const bytes = Buffer.from(stringifyJsonValue(value, 'the value'), 'utf8');
    if (bytes.length > limits.valueBytesMax) {
      throw new KvError('value_too_large', `the value is ${bytes.length} bytes; the limit is ${limits.valueBytesMax}`, { limit: limits.valueBytesMax });
    }
    await engine.txn({ compares: [], ops: [{ op: 'put', key, value: bytes, contentType: JSON_CONTENT_TYPE, ttlMs: null }] });
    return SUCCESS;
  });

  app.get('/get', { schema: schemas.get, config: { ...config, access: (request) => keyAccess(queryKey(request), 'read') } }, async (request) => {
    const key = queryKey(request);
    const { entry } = await engine.get(key);
    if (entry === null) throw new KvError('key_not_found', 'Key not found');
    const { value, encoding } = encodeValueForEnvelope(entry.value, entry.contentType);
    // Non-JSON text is returned as a JSON string; only binary needs to say its encoding.
    return encoding === 'base64' ? { ...SUCCESS, value, encoding } : { ...SUCCESS, value };
  });

  app.delete('/del', { schema: schemas.del, config: { ...config, access: (request) => keyAccess(queryKey(request), 'write') } }, async (request) => {
    const key = queryKey(request);
    const outcome = await engine.txn({ compares: [], ops: [{ op: 'delete', key }] });
    const result = outcome.succeeded ? outcome.results[0] : undefined;
    if (result?.op !== 'delete' || !result.deleted) throw new KvError('key_not_found', 'Key not found');
    return SUCCESS;
  });
}

function seedKey(key: unknown, limits: Limits): string {
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
        summary: 'Create or replace (the original server\'s route)',
        description: 'The value is stored as `application/json`. The body is read as JSON whatever its content type (as `curl -d` sends `x-www-form-urlencoded`).',
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
        summary: 'Read (the original server\'s route)',
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
        summary: 'Delete (the original server\'s route)',
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
