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

const SUCCESS = { status: 'success' } as const;

/**
 * The original server's routes, with its bodies and statuses (API.md §1).
 * Errors use the seed's `{"status":"error","message"}` body (see errors.ts).
 * The plain cases are also answered before Fastify (http/fast-paths.ts),
 * through the functions below, so both paths decide alike.
 */
export async function seedRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;
  const config = { errorFormat: 'seed' as const, bodyLimitBytes: limits.maxRequestBytes };
  const queryKey = (request: FastifyRequest) => seedKey(queryString(request.query as Query, 'key'), limits);

  /** The key and value of a /put, parsed once per request (access control needs the key first). */
  const putOf = memoize((request: FastifyRequest) => parseSeedPut(bodyBytes(request.body), queryString(request.query as Query, 'key'), limits));

  // Existing scripts post JSON with whatever content type their HTTP client
  // picked (curl -d sends x-www-form-urlencoded): read every body as JSON.
  acceptAnyBody(app, limits.maxRequestBytes);

  app.post('/put', { config: { ...config, access: (request) => keyAccess(putOf(request).key, 'write') } }, async (request) => {
    const { key, value } = putOf(request);
    assertSeedWritten(await engine.txn(seedPutTxn(key, value, limits)));
    return SUCCESS;
  });

  app.get('/get', { config: { ...config, access: (request) => keyAccess(queryKey(request), 'read') } }, async (request) => {
    const { entry } = await engine.get(queryKey(request));
    return seedGetBody(entry);
  });

  app.delete('/del', { config: { ...config, access: (request) => keyAccess(queryKey(request), 'write') } }, async (request) => {
    assertSeedDeleted(await engine.txn(seedDeleteTxn(queryKey(request))));
    return SUCCESS;
  });
}

/** The body of a successful /put or /del, as Fastify serialises SUCCESS. */
export const SEED_SUCCESS_BODY = JSON.stringify(SUCCESS);

export function seedKey(key: unknown, limits: Limits): string {
  if (key === undefined || key === null) throw new KvError('invalid_request', 'Missing key');
  if (typeof key !== 'string') throw new KvError('invalid_request', 'the key must be a string');
  return validateKey(key, limits.maxKeyBytes);
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
  if (bytes.length > limits.maxValueBytes) {
    throw new KvError('value_too_large', `the value is ${bytes.length} bytes; the limit is ${limits.maxValueBytes}`, { limit: limits.maxValueBytes });
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
