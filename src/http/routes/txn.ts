import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Access } from '../../auth/access.js';
import { memoize } from '../memoize.js';
import { decodeValueFromEnvelope, encodeValueForEnvelope, parseValueEncoding, validateContentType } from '../../core/encoding.js';
import { KvError } from '../../core/errors.js';
import { validateKey } from '../../core/keys.js';
import { COUNTER_ABS_MAX, TXN_READ_VALUE_BYTES_MAX, type Limits } from '../../core/limits.js';
import type { Compare, TxnOp, TxnOpResult } from '../../engine/engine.js';
import type { HttpDeps } from '../deps.js';
import { acceptJsonBodies, expectObject, expectOnly } from '../json-body.js';
import { formatExpiry, writeResultJson } from '../presenters.js';
import { json, operation, ref } from '../openapi/operation.js';

/** Transactions: `POST /v1/txn` (API.md §5). */
export async function txnRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { engine, limits } = deps;
  acceptJsonBodies(app, limits.requestBytesMax);

  const txnOf = memoize((request: FastifyRequest) => parseTxn(request.body, limits));
  const access = (request: FastifyRequest): Access => {
    // Every key the txn names, with what it does to it: checks and gets read, the rest write.
    const { compares, ops } = txnOf(request);
    const needs = [
      ...compares.map((compare) => ({ key: compare.key, action: 'read' as const })),
      ...ops.map((op) => ({ key: op.key, action: op.op === 'get' ? ('read' as const) : ('write' as const) })),
    ];
    return { kind: 'keys', needs };
  };

  app.post('/v1/txn', { schema: txnSchema(limits), config: { access, bodyLimitBytes: limits.requestBytesMax } }, async (request) => {
    const { compares, ops } = txnOf(request);
    const outcome = await engine.txn({ compares, ops });
    if (!outcome.succeeded) {
      throw new KvError('txn_conflict', `checks ${outcome.failedCompares.join(', ')} failed; nothing was applied`, { failedChecks: outcome.failedCompares });
    }
    return { committed: true, revision: outcome.revision, results: outcome.results.map(resultJson) };
  });
}

/** Validates a txn body into engine compares and ops; every error names the offending member. */
export function parseTxn(body: unknown, limits: Limits): { compares: Compare[]; ops: TxnOp[] } {
  const txn = expectObject(body, 'the body');
  expectOnly(txn, ['checks', 'ops'], 'the body');
  const checks = optionalArray(txn.checks, 'checks', limits.txnOpsMax);
  const rawOps = optionalArray(txn.ops, 'ops', limits.txnOpsMax);
  const compares = checks.map((check, index) => parseCheck(check, `checks[${index}]`, limits));
  const ops = rawOps.map((op, index) => parseOp(op, `ops[${index}]`, limits));
  const seen = new Set<string>();
  ops.forEach((op, index) => {
    if (seen.has(op.key))
      throw new KvError('invalid_request', `ops[${index}].key ${JSON.stringify(op.key)} appears twice; a key may appear at most once in ops`);
    seen.add(op.key);
  });
  return { compares, ops };
}

function optionalArray(value: unknown, name: string, max: number): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new KvError('invalid_request', `"${name}" must be an array`);
  if (value.length > max) throw new KvError('invalid_request', `"${name}" has ${value.length} entries; the limit is ${max}`, { limit: max });
  return value;
}

function parseCheck(value: unknown, where: string, limits: Limits): Compare {
  const check = expectObject(value, where);
  expectOnly(check, ['key', 'revision', 'exists'], where);
  const key = keyAt(check.key, where, limits);
  const hasRevision = check.revision !== undefined;
  const hasExists = check.exists !== undefined;
  if (hasRevision === hasExists) throw new KvError('invalid_request', `${where} needs exactly one of "revision" and "exists"`);
  if (hasExists) {
    if (typeof check.exists !== 'boolean') throw new KvError('invalid_request', `${where}.exists must be true or false`);
    return { key, kind: 'exists', expected: check.exists };
  }
  if (!Number.isSafeInteger(check.revision) || (check.revision as number) < 0) {
    throw new KvError('invalid_request', `${where}.revision must be an integer >= 0 (0 = the key does not exist)`);
  }
  return { key, kind: 'revisionIn', revisions: [check.revision as number] };
}

function parseOp(value: unknown, where: string, limits: Limits): TxnOp {
  const op = expectObject(value, where);
  const key = () => keyAt(op.key, where, limits);
  switch (op.op) {
    case 'put': {
      expectOnly(op, ['op', 'key', 'value', 'encoding', 'contentType', 'ttl'], where);
      const { bytes, contentType } = decodeValueFromEnvelope(op.value, parseValueEncoding(op.encoding, where), where);
      if (bytes.length > limits.valueBytesMax) {
        throw new KvError('value_too_large', `${where}.value is ${bytes.length} bytes; the limit is ${limits.valueBytesMax}`, { limit: limits.valueBytesMax });
      }
      return {
        op: 'put',
        key: key(),
        value: bytes,
        contentType: contentTypeAt(op.contentType, where, limits) ?? contentType,
        ttlMs: ttlAt(op.ttl, where, limits),
      };
    }
    case 'delete':
      expectOnly(op, ['op', 'key'], where);
      return { op: 'delete', key: key() };
    case 'get':
      expectOnly(op, ['op', 'key'], where);
      return { op: 'get', key: key() };
    case 'add': {
      expectOnly(op, ['op', 'key', 'by'], where);
      const by = op.by === undefined ? 1 : op.by;
      if (!Number.isSafeInteger(by) || Math.abs(by as number) > COUNTER_ABS_MAX) throw new KvError('invalid_request', `${where}.by must be an integer`);
      return { op: 'add', key: key(), by: by as number };
    }
    default:
      throw new KvError('invalid_request', `${where}.op must be "put", "delete", "add" or "get"`);
  }
}

function keyAt(value: unknown, where: string, limits: Limits): string {
  try {
    return validateKey(value, limits.keyBytesMax);
  } catch (error) {
    if (error instanceof KvError) throw new KvError(error.code, `${where}.key: ${error.message}`, error.extras);
    throw error;
  }
}

function contentTypeAt(value: unknown, where: string, limits: Limits): string | undefined {
  return value === undefined ? undefined : validateContentType(value, `${where}.contentType`, limits.contentTypeCharsMax);
}

function ttlAt(value: unknown, where: string, limits: Limits): number | null {
  if (value === undefined || value === null) return null;
  const ttlMs = typeof value === 'number' ? Math.round(value * 1000) : Number.NaN;
  if (!Number.isFinite(ttlMs) || ttlMs < 1 || ttlMs > limits.ttlSecondsMax * 1000) {
    throw new KvError('invalid_request', `${where}.ttl must be a number of seconds > 0 and at most ${limits.ttlSecondsMax}`);
  }
  return ttlMs;
}

function resultJson(result: TxnOpResult): Record<string, unknown> {
  switch (result.op) {
    case 'put':
      return { op: 'put', ...writeResultJson(result.entry), created: result.created };
    case 'delete':
      return { op: 'delete', key: result.key, deleted: result.deleted };
    case 'add':
      return { op: 'add', key: result.key, value: result.value, revision: result.entry.revision, version: result.entry.version };
    case 'get': {
      if (result.entry === null) return { op: 'get', key: result.key, found: false };
      const { entry } = result;
      return {
        op: 'get',
        key: result.key,
        found: true,
        ...encodeValueForEnvelope(entry.value, entry.contentType),
        contentType: entry.contentType,
        revision: entry.revision,
        createRevision: entry.createRevision,
        version: entry.version,
        ...(entry.expiresAtMs === null ? {} : { expiresAt: formatExpiry(entry.expiresAtMs) }),
      };
    }
  }
}

const TXN_EXAMPLE = {
  checks: [
    { key: 'a', revision: 5 },
    { key: 'b', exists: false },
  ],
  ops: [
    { op: 'put', key: 'a', value: { x: 1 } },
    { op: 'put', key: 't', value: 'aGk=', encoding: 'base64', ttl: 30 },
    { op: 'delete', key: 'b' },
    { op: 'add', key: 'n', by: 2 },
    { op: 'get', key: 'c' },
  ],
};

const txnSchema = (limits: Limits) =>
  operation(
    {
      operationId: 'txn',
      tag: 'Transactions',
      summary: 'Atomic transaction of checks and ops',
      description: `All checks pass: every op applies atomically, at one revision. Any check fails: nothing applies (409 \`txn_conflict\` with \`failedChecks\`). At most ${limits.txnOpsMax} checks and ${limits.txnOpsMax} ops; a key at most once in ops.`,
      access: { grant: 'every key the txn names (`read` for checks and gets, `write` for the rest)' },
      engine: true,
      writes: 'adds',
      body: {
        content: { 'application/json': { schema: ref('TxnRequest'), example: TXN_EXAMPLE } },
        limitBytes: limits.requestBytesMax,
        tooLarge: 'request_too_large',
        json: true,
      },
      responses: { 200: json(ref('TxnResponse'), 'Committed.') },
      failures: {
        invalid_key: 'A key is not valid (the detail names it).',
        invalid_request: `An invalid member (the detail names it), more than ${limits.txnOpsMax} checks or ops (\`limit\`), or a key twice in ops. On etcd, also more distinct keys than etcd takes compares (\`limit\`).`,
        txn_conflict: 'A check failed: `failedChecks` lists their indices; nothing applied.',
        not_a_counter: 'An `add` on a value that is not a JSON integer; nothing applied.',
        counter_overflow: `An \`add\` beyond ±${COUNTER_ABS_MAX}; nothing applied.`,
        value_too_large: `A put value is larger than ${limits.valueBytesMax} bytes (\`limit\`).`,
        request_too_large: `The gets would read more than ${TXN_READ_VALUE_BYTES_MAX} value bytes, or (on etcd) the values together exceed one etcd request.`,
      },
    },
    limits,
  );
