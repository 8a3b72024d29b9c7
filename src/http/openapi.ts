/**
 * The OpenAPI 3.1 description of every route, served at /v1/openapi.json.
 * A test walks the server's route table and fails if a route is missing here.
 */
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, description: string) => ({ description, content: { 'application/json': { schema } } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const seedError = (description: string) => json(ref('SeedError'), description);
const query = (name: string, description: string, schema: Schema = { type: 'string' }, required = false) => ({ name, in: 'query', required, description, schema });
const header = (name: string, description: string) => ({ name, in: 'header', required: false, description, schema: { type: 'string' } });

const keyParameter = { name: 'key', in: 'path', required: true, description: 'The key, percent-encoded; "/" may appear unescaped.', schema: { type: 'string' } };
const conditional = [header('If-Match', '"<revision>", a comma list of them, or * (must exist).'), header('If-None-Match', '* (must not exist) or "<revision>" list.')];

export function openApiDocument(version: string): Schema {
  return {
    openapi: '3.1.0',
    info: { title: 'kvs', version, description: 'A durable key-value store. The contract in prose is API.md.' },
    paths: {
      '/put': {
        post: {
          summary: 'Seed-compatible create or replace',
          parameters: [query('key', 'The key, when the body has none.')],
          requestBody: { content: { 'application/json': { schema: ref('SeedPut') } } },
          responses: { 200: json(ref('SeedSuccess'), 'Stored.'), 400: seedError('Missing key or value, or not JSON.'), 413: seedError('Value too large.') },
        },
      },
      '/get': {
        get: {
          summary: 'Seed-compatible read',
          parameters: [query('key', 'The key.', { type: 'string' }, true)],
          responses: { 200: json(ref('SeedValue'), 'The value.'), 400: seedError('No key.'), 404: seedError('Key not found.') },
        },
      },
      '/del': {
        delete: {
          summary: 'Seed-compatible delete',
          parameters: [query('key', 'The key.', { type: 'string' }, true)],
          responses: { 200: json(ref('SeedSuccess'), 'Deleted.'), 400: seedError('No key.'), 404: seedError('Key not found.') },
        },
      },
      '/v1/kv/{key}': {
        parameters: [keyParameter],
        get: {
          summary: 'Read a value',
          parameters: [header('If-None-Match', '"<revision>": answer 304 when unchanged.'), header('Prefer', 'wait=N (1..300 s) with If-None-Match: hold the request until the key changes (200, or 404 if deleted) or N passes (304).')],
          responses: { 200: { description: 'The stored bytes with their content type; ETag, KV-Revision, KV-Create-Revision, KV-Version, KV-Expires-At headers.' }, 304: { description: 'Not modified.' }, 400: problem('Invalid key.'), 404: problem('No such key.') },
        },
        head: { summary: 'Read the headers of a value', responses: { 200: { description: 'As GET, without a body.' }, 404: { description: 'No such key.' } } },
        put: {
          summary: 'Create or replace a value',
          parameters: [query('ttl', 'Seconds until the key expires (ms precision). Without it, a TTL is cleared.', { type: 'number', exclusiveMinimum: 0 }), ...conditional],
          requestBody: { description: 'The value: any bytes, any content type.', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
          responses: { 200: json(ref('WriteResult'), 'Replaced.'), 201: json(ref('WriteResult'), 'Created.'), 400: problem('Invalid key, TTL or header.'), 412: problem('Precondition failed; currentRevision says why.'), 413: problem('Value too large.') },
        },
        delete: {
          summary: 'Delete a key',
          parameters: conditional,
          responses: { 204: { description: 'Deleted; KV-Revision header.' }, 404: problem('No such key.'), 412: problem('Precondition failed.') },
        },
        post: {
          summary: 'Atomic counter (op=add)',
          parameters: [query('op', 'Must be "add".', { type: 'string', enum: ['add'] }, true), query('by', 'Integer to add (default 1).', { type: 'integer' }), ...conditional],
          responses: { 200: json(ref('CounterResult'), 'The new value.'), 400: problem('Bad op or by.'), 409: problem('not_a_counter or counter_overflow.'), 412: problem('Precondition failed.') },
        },
      },
      '/v1/kv': {
        get: {
          summary: 'List a range of keys',
          parameters: [
            query('prefix', 'Only keys starting with this.'),
            query('start', 'Inclusive lower bound.'),
            query('end', 'Exclusive upper bound.'),
            query('limit', 'Page size, 1..1000 (default 100).', { type: 'integer', minimum: 1, maximum: 1000 }),
            query('cursor', 'The cursor of the previous page.'),
            query('reverse', 'Walk descending.', { type: 'boolean' }),
            query('values', 'Include values.', { type: 'boolean' }),
            query('delimiter', 'Roll keys up to the first delimiter after the prefix.'),
          ],
          responses: { 200: json(ref('RangePage'), 'One page.'), 400: problem('Invalid parameter or cursor.') },
        },
        delete: {
          summary: 'Delete every key under a prefix, at one revision',
          parameters: [query('prefix', 'Non-empty prefix.', { type: 'string', minLength: 1 }, true), query('dry_run', 'Only count.', { type: 'boolean' })],
          responses: { 200: json({ oneOf: [ref('PrefixDeleteResult'), ref('PrefixDeleteDryRun')] }, 'Deleted (or counted).'), 400: problem('No prefix.') },
        },
      },
      '/v1/txn': {
        post: {
          summary: 'Atomic transaction of checks and ops',
          requestBody: { required: true, content: { 'application/json': { schema: ref('TxnRequest') } } },
          responses: { 200: json(ref('TxnResponse'), 'Committed.'), 400: problem('Invalid transaction.'), 409: problem('txn_conflict (failedChecks), not_a_counter or counter_overflow.'), 413: problem('Too large.'), 415: problem('Not JSON.') },
        },
      },
      '/v1/admin/export': {
        get: {
          summary: 'Export live keys as NDJSON from one snapshot',
          parameters: [query('prefix', 'Only keys under this prefix.')],
          responses: { 200: { description: 'One JSON object per line.', content: { 'application/x-ndjson': { schema: ref('ExportLine') } } } },
        },
      },
      '/v1/admin/import': {
        post: {
          summary: 'Import NDJSON (or the original data file with format=seed), atomically',
          parameters: [query('format', 'ndjson (default) or seed.', { type: 'string', enum: ['ndjson', 'seed'] })],
          requestBody: { required: true, content: { 'application/x-ndjson': { schema: ref('ExportLine') }, 'application/json': { schema: { type: 'object' } } } },
          responses: { 200: json(ref('ImportResult'), 'Imported.'), 400: problem('Invalid data; nothing imported.') },
        },
      },
      '/v1/watch': {
        get: {
          summary: 'Change feed as Server-Sent Events',
          parameters: [
            query('key', 'Watch one key.'),
            query('prefix', 'Watch every key under this prefix ("" = all keys).'),
            query('since', 'Deliver every change after this revision (also Last-Event-ID; the later wins).', { type: 'integer', minimum: 0 }),
            query('values', 'Include values (default true).', { type: 'boolean' }),
            header('Last-Event-ID', 'Resume after this revision.'),
          ],
          responses: {
            200: { description: 'event: change (id = revision, data = {revision, events}), event: progress, event: error {code: slow_consumer}.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            400: problem('Invalid filter or revision.'),
            410: problem('history_compacted: the resume point is older than retained history (compactRevision).'),
            503: problem('Too many watches open.'),
          },
        },
      },
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { 200: json({ type: 'object' }, 'Serving.') } } },
      '/readyz': { get: { summary: 'Readiness of the storage engine', security: [], responses: { 200: json({ type: 'object' }, 'Ready.'), 503: json({ type: 'object' }, 'Not ready.') } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/v1/status': { get: { summary: 'Store status', responses: { 200: json(ref('Status'), 'Status.') } } },
      '/v1/limits': { get: { summary: 'Limits in force', responses: { 200: json(ref('Limits'), 'Limits.') } } },
      '/v1/openapi.json': { get: { summary: 'This document', responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1.') } } },
    },
    // Every route needs a bearer token when tokens are configured, except the health checks.
    security: [{ bearer: [] }],
    components: { schemas: SCHEMAS, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'KV_ADMIN_TOKEN, or a token of KV_TOKENS_FILE (kvs token create).' } } },
  };
}

const integer = { type: 'integer' };
const string = { type: 'string' };
const timestamp = { type: 'string', format: 'date-time' };
const encoding = { type: 'string', enum: ['json', 'utf8', 'base64'] };

const SCHEMAS: Record<string, Schema> = {
  Problem: {
    type: 'object',
    required: ['status', 'title', 'code', 'detail'],
    properties: {
      type: string, status: integer, title: string, code: string, detail: string, instance: string,
      currentRevision: { type: ['integer', 'null'] }, failedChecks: { type: 'array', items: integer }, compactRevision: integer, limit: integer,
    },
  },
  SeedPut: { type: 'object', required: ['value'], properties: { key: string, value: {} } },
  SeedSuccess: { type: 'object', properties: { status: { const: 'success' } } },
  SeedValue: { type: 'object', properties: { status: { const: 'success' }, value: {}, encoding: { const: 'base64' } } },
  SeedError: { type: 'object', properties: { status: { const: 'error' }, message: string } },
  WriteResult: { type: 'object', required: ['key', 'revision', 'createRevision', 'version'], properties: { key: string, revision: integer, createRevision: integer, version: integer, expiresAt: timestamp } },
  CounterResult: { type: 'object', properties: { key: string, value: integer, revision: integer, version: integer } },
  RangeItem: {
    type: 'object',
    required: ['key', 'revision', 'createRevision', 'version', 'contentType', 'size'],
    properties: { key: string, revision: integer, createRevision: integer, version: integer, contentType: string, size: integer, expiresAt: timestamp, value: {}, encoding },
  },
  RangePage: {
    type: 'object',
    required: ['items', 'cursor', 'revision'],
    properties: { items: { type: 'array', items: ref('RangeItem') }, prefixes: { type: 'array', items: string }, cursor: { type: ['string', 'null'] }, revision: integer },
  },
  PrefixDeleteResult: { type: 'object', properties: { deleted: integer, revision: integer } },
  PrefixDeleteDryRun: { type: 'object', properties: { matched: integer } },
  TxnRequest: {
    type: 'object',
    properties: {
      checks: { type: 'array', maxItems: 128, items: { type: 'object', required: ['key'], properties: { key: string, revision: integer, exists: { type: 'boolean' } } } },
      ops: {
        type: 'array',
        maxItems: 128,
        items: {
          type: 'object',
          required: ['op', 'key'],
          properties: { op: { enum: ['put', 'delete', 'add', 'get'] }, key: string, value: {}, encoding, contentType: string, ttl: { type: 'number' }, by: integer },
        },
      },
    },
  },
  TxnResponse: { type: 'object', properties: { committed: { const: true }, revision: integer, results: { type: 'array', items: { type: 'object' } } } },
  ExportLine: { type: 'object', required: ['key', 'value', 'contentType'], properties: { key: string, value: { type: 'string', contentEncoding: 'base64' }, contentType: string, expiresAt: timestamp } },
  ImportResult: { type: 'object', properties: { imported: integer, revision: integer } },
  Status: { type: 'object', properties: { revision: integer, compactRevision: integer, keys: integer, engine: string, version: string, uptimeSeconds: integer } },
  Limits: {
    type: 'object',
    properties: { maxKeyBytes: integer, maxValueBytes: integer, maxRequestBytes: integer, maxTxnOps: integer, maxListLimit: integer, maxTtlSeconds: integer, historyRetention: integer },
  },
};
