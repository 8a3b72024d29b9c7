import { ACTIONS } from '../../auth/tokens.js';
import { ERROR_CATALOGUE } from '../../core/errors.js';
import { COUNTER_ABS_MAX, type Limits } from '../../core/limits.js';
import { CONSOLE_CONTENT_SECURITY_POLICY } from '../routes/console.js';
import { DOCS_CONTENT_SECURITY_POLICY } from '../routes/docs.js';
import { problemResponses, ref, sized, type Schema } from './problems.js';

/**
 * What the OpenAPI document says besides its operations (those are declared
 * on the routes): the service's description with the limits in force, the
 * tags, and `components` (schemas, headers, the answers of requests that reach
 * no route, the bearer scheme).
 */

const integer = { type: 'integer' };
const revision = { type: 'integer', minimum: 0 };
const string = { type: 'string' };
const timestamp = { type: 'string', format: 'date-time' };
const encoding = { type: 'string', enum: ['json', 'utf8', 'base64'] };

export const TAGS = [
  { name: 'Keys', description: 'Single keys: `/v1/kv/{key}` (API.md §3).' },
  { name: 'Ranges', description: 'Listings and prefix deletes (API.md §4).' },
  { name: 'Transactions', description: 'API.md §5.' },
  { name: 'Watch', description: 'The change feed (API.md §6).' },
  { name: 'Admin', description: 'Data in and out; admin tokens only (API.md §11).' },
  { name: 'Service', description: 'Health, readiness, metrics and service information (API.md §7).' },
  { name: 'Reference', description: 'This page.' },
  { name: 'Console', description: 'The web console at `/`: browse, edit and watch the store in a browser.' },
  {
    name: 'Seed compatibility',
    description: 'The original server\'s routes, bodies and statuses (API.md §1); errors in its `{"status":"error","message"}` body.',
  },
];

export const SECURITY_SCHEMES = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description:
      "`KV_ADMIN_TOKEN`, or a token of `KV_TOKENS_FILE` (`kvs token create`). Without any configured, only clients on the server's machine are served (protected mode).",
  },
} as const;

/** The document's `components` for a server with these limits. */
export function components(limits: Limits): Schema {
  return { schemas: schemas(limits), headers: HEADERS, responses: BEFORE_ROUTING, securitySchemes: SECURITY_SCHEMES };
}

export function describeService(limits: Limits): string {
  return [
    'A durable key-value store. The contract in prose is `docs/API.md`, decisions where it is silent `docs/API-NOTES.md`.',
    '',
    'Every `/v1` error is `application/problem+json` (RFC 9457) with a `code` from one catalogue; each response below names the codes it can carry. A 500 is a bug.',
    '',
    '**Limits of this server** (also `GET /v1/limits`):',
    '',
    '| limit | value |',
    '|---|---|',
    `| key | ${limits.keyBytesMax} UTF-8 bytes |`,
    `| value | ${sized(limits.valueBytesMax)} |`,
    `| body of \`/v1/txn\` and \`/put\` | ${sized(limits.requestBytesMax)} |`,
    `| body of \`/v1/admin/import\` | ${sized(limits.importBytesMax)} |`,
    `| checks, and ops, of a txn | ${limits.txnOpsMax} each |`,
    `| page of a listing | ${limits.listLimitMax} (default ${limits.listLimitDefault}) |`,
    `| TTL | ${limits.ttlSecondsMax} s${limits.ttlSecondsMax >= 86_400 ? ` (${Math.floor(limits.ttlSecondsMax / 86_400)} days)` : ''} |`,
    `| \`Prefer: wait\` | ${limits.waitSecondsMax} s |`,
    `| history kept for watches | ${limits.historyRetentionRevisions} revisions |`,
    '',
    'Any request can also be refused before it reaches a route, and the connection closed: `400 invalid_request` (not HTTP/1.1, or no `Host`), `408 request_timeout`, `417 expectation_failed` (an `Expect` other than `100-continue`), `431 header_too_large` (headers beyond 16 KiB). A path no route serves is `404 not_found`, after the token check like every route. (Also in `components.responses`.)',
  ].join('\n');
}

/**
 * Answers to requests that reach no operation: Node's parser or the server
 * refuses them before routing (and closes the connection), or no route serves
 * the path. Named by status, as `components.responses` (info.description says
 * the same in words, for the page).
 */
const BEFORE_ROUTING: Record<string, Schema> = Object.fromEntries(
  Object.entries({
    ...problemResponses({
      invalid_request: 'Not valid HTTP/1.1, or an HTTP/1.1 request without `Host`; the connection is closed.',
      request_timeout: 'The request took too long to arrive; the connection is closed.',
      expectation_failed: 'An `Expect` other than `100-continue`; the connection is closed.',
      header_too_large: 'The request line and headers are larger than 16 KiB; the connection is closed.',
    }),
    ...problemResponses({
      not_found:
        'No route serves the path (any method). Like every route, it needs a token when tokens are configured (401 first), so the API cannot be mapped anonymously.',
    }),
  }).map(([status, response]) => [status === '404' ? 'UnknownRoute' : `BeforeRouting${status}`, response]),
);

const HEADERS: Record<string, Schema> = {
  ETag: {
    description: 'The revision that last modified the key, as a strong entity tag `"<revision>"`: send it back in `If-Match` / `If-None-Match`.',
    schema: { type: 'string', pattern: '^"[0-9]+"$' },
  },
  'KV-Revision': { description: 'The store revision: when the key was read, of the write, or that the stream starts after.', schema: revision },
  'KV-Create-Revision': { description: 'The revision that created the key.', schema: revision },
  'KV-Version': { description: 'Writes to the key since it was created (1 for a new key).', schema: { type: 'integer', minimum: 1 } },
  'KV-Expires-At': { description: 'When the key expires (RFC 3339, UTC, milliseconds); only when it has a TTL.', schema: timestamp },
  'KV-Staleness-Ms': {
    description:
      "Only on a `?stale` read answered from an etcd node's replica: it held every write acknowledged at least this many milliseconds ago (since it was last confirmed current). `KV-Revision` is the revision the replica has reached.",
    schema: { type: 'integer', minimum: 0 },
  },
  'Cache-Control': { description: '`no-cache`: a cache must revalidate (with the ETag) before reusing the response.', schema: string },
  'Preference-Applied': { description: '`wait=N` when a long-poll was held.', schema: string },
  'Content-Length': { description: 'The size of the body in bytes.', schema: integer },
  'Retry-After': { description: 'Seconds to wait before retrying (at least 1).', schema: { type: 'integer', minimum: 1 } },
  'WWW-Authenticate': { description: '`Bearer`.', schema: string },
  Location: { description: "`../docs`, relative (so that it holds behind a proxy's path prefix too), with the request's query.", schema: string },
  Allow: { description: 'The methods the path serves, comma-separated.', schema: string },
  'Repr-Digest': { description: 'The SHA-256 of the body (RFC 9530): `sha-256=:<base64>:`.', schema: string },
  'Content-Disposition': { description: '`attachment; filename="kvs-backup-<revision>.mdb"`.', schema: string },
  AssetETag: { description: 'A hash of the body (of each encoding): send it back in `If-None-Match`.', schema: string },
  AssetCacheControl: {
    description: '`no-cache`: reuse only after revalidating, so that an upgrade of kvs is seen at once; the revalidation is a 304 without a body.',
    schema: string,
  },
  'Content-Security-Policy': { description: `\`${DOCS_CONTENT_SECURITY_POLICY}\``, schema: string },
  ConsoleContentSecurityPolicy: {
    description: `\`${CONSOLE_CONTENT_SECURITY_POLICY}\` (the hash is the import map's, the page's only inline script).`,
    schema: string,
  },
  ValueContentSecurityPolicy: {
    description:
      "`sandbox`: a stored value opened in a browser (say, `text/html`) is a document of its own unique origin, without script, never one of this server's pages.",
    schema: string,
  },
  'X-Content-Type-Options': { description: '`nosniff`.', schema: string },
  'Referrer-Policy': { description: '`no-referrer`.', schema: string },
  Vary: { description: '`Accept-Encoding`.', schema: string },
  'Content-Encoding': { description: '`gzip` when the client accepts it (scripts and styles).', schema: string },
};

function schemas(limits: Limits): Record<string, Schema> {
  const key = { $ref: '#/components/schemas/Key' };
  const ttl = {
    type: 'number',
    exclusiveMinimum: 0,
    maximum: limits.ttlSecondsMax,
    description: `Seconds until the key expires (ms precision), at most ${limits.ttlSecondsMax}.`,
  };
  const envelopeValue = {
    description: `The value, shown per \`encoding\`: embedded JSON (\`json\`), a string (\`utf8\`) or base64 (\`base64\`). At most ${limits.valueBytesMax} bytes once decoded.`,
  };
  const txnOp = (op: string, properties: Schema, required: string[] = []): Schema => ({
    type: 'object',
    additionalProperties: false,
    required: ['op', 'key', ...required],
    properties: { op: { const: op }, key, ...properties },
  });
  return {
    Problem: {
      type: 'object',
      description: 'An RFC 9457 problem document. `title` is the HTTP reason phrase; `instance` the request path.',
      required: ['type', 'status', 'title', 'code', 'detail'],
      properties: {
        type: { const: 'about:blank' },
        status: integer,
        title: string,
        // Each response narrows it to the codes it can carry (the catalogue: src/core/errors.ts).
        code: { type: 'string', description: `One of: ${Object.keys(ERROR_CATALOGUE).join(', ')}.` },
        detail: string,
        instance: string,
        currentRevision: { type: ['integer', 'null'], description: "With `precondition_failed`: the key's revision (`null`: absent)." },
        failedChecks: { type: 'array', items: integer, description: 'With `txn_conflict`: the indices of the checks that failed.' },
        compactRevision: { ...revision, description: 'With `history_compacted`: the oldest revision a watch can resume from.' },
        limit: { ...integer, description: 'With a limit exceeded: the limit.' },
      },
    },
    Key: {
      type: 'string',
      minLength: 1,
      maxLength: limits.keyBytesMax,
      description: `A key: ${limits.keyBytesMax} UTF-8 bytes at most (maxLength counts characters), without U+0000 or \`.\`/\`..\` segments.`,
    },
    SeedPut: {
      type: 'object',
      required: ['value'],
      properties: { key, value: { description: `Any JSON but \`null\`; at most ${limits.valueBytesMax} bytes as JSON.` } },
    },
    SeedSuccess: { type: 'object', required: ['status'], properties: { status: { const: 'success' } } },
    SeedValue: { type: 'object', required: ['status', 'value'], properties: { status: { const: 'success' }, value: {}, encoding: { const: 'base64' } } },
    SeedError: { type: 'object', required: ['status', 'message'], properties: { status: { const: 'error' }, message: string } },
    WriteResult: {
      type: 'object',
      required: ['key', 'revision', 'createRevision', 'version'],
      properties: { key: string, revision, createRevision: revision, version: integer, expiresAt: timestamp },
    },
    CounterResult: {
      type: 'object',
      required: ['key', 'value', 'revision', 'version'],
      properties: { key: string, value: integer, revision, version: integer },
    },
    RangeItem: {
      type: 'object',
      required: ['key', 'revision', 'createRevision', 'version', 'contentType', 'size'],
      properties: {
        key: string,
        revision,
        createRevision: revision,
        version: integer,
        contentType: string,
        size: integer,
        expiresAt: timestamp,
        value: envelopeValue,
        encoding,
      },
    },
    RangePage: {
      type: 'object',
      required: ['items', 'cursor', 'revision'],
      properties: {
        items: { type: 'array', maxItems: limits.listLimitMax, items: ref('RangeItem') },
        prefixes: { type: 'array', items: string, description: 'With `delimiter`: the rolled-up prefixes.' },
        cursor: { type: ['string', 'null'], description: 'Pass back for the next page; `null`: done.' },
        revision,
      },
    },
    PrefixDeleteResult: { type: 'object', required: ['deleted', 'revision'], properties: { deleted: integer, revision } },
    PrefixDeleteDryRun: { type: 'object', required: ['matched'], properties: { matched: integer } },
    TxnCheck: {
      type: 'object',
      additionalProperties: false,
      required: ['key'],
      description: 'Passes when the key exists at `revision` (0: does not exist), or when its presence is `exists`. Exactly one of the two.',
      properties: { key, revision, exists: { type: 'boolean' } },
      oneOf: [{ required: ['revision'] }, { required: ['exists'] }],
    },
    TxnOp: {
      oneOf: [
        txnOp(
          'put',
          { value: envelopeValue, encoding: { ...encoding, default: 'json' }, contentType: { type: 'string', maxLength: limits.contentTypeCharsMax }, ttl },
          ['value'],
        ),
        txnOp('delete', {}),
        txnOp('add', { by: { type: 'integer', minimum: -COUNTER_ABS_MAX, maximum: COUNTER_ABS_MAX, default: 1 } }),
        txnOp('get', {}),
      ],
    },
    TxnRequest: {
      type: 'object',
      additionalProperties: false,
      properties: {
        checks: { type: 'array', maxItems: limits.txnOpsMax, items: ref('TxnCheck') },
        ops: { type: 'array', maxItems: limits.txnOpsMax, items: ref('TxnOp') },
      },
    },
    TxnResponse: {
      type: 'object',
      required: ['committed', 'revision', 'results'],
      properties: {
        committed: { const: true },
        revision,
        results: {
          type: 'array',
          description: 'One per op, in order.',
          items: {
            oneOf: [
              {
                type: 'object',
                required: ['op', 'key', 'revision', 'createRevision', 'version', 'created'],
                properties: {
                  op: { const: 'put' },
                  key: string,
                  revision,
                  createRevision: revision,
                  version: integer,
                  expiresAt: timestamp,
                  created: { type: 'boolean' },
                },
              },
              { type: 'object', required: ['op', 'key', 'deleted'], properties: { op: { const: 'delete' }, key: string, deleted: { type: 'boolean' } } },
              {
                type: 'object',
                required: ['op', 'key', 'value', 'revision', 'version'],
                properties: { op: { const: 'add' }, key: string, value: integer, revision, version: integer },
              },
              {
                type: 'object',
                required: ['op', 'key', 'found'],
                properties: {
                  op: { const: 'get' },
                  key: string,
                  found: { type: 'boolean' },
                  value: envelopeValue,
                  encoding,
                  contentType: string,
                  revision,
                  createRevision: revision,
                  version: integer,
                  expiresAt: timestamp,
                },
              },
            ],
          },
        },
      },
    },
    ExportLine: {
      type: 'object',
      required: ['key', 'value'],
      properties: {
        key,
        value: { type: 'string', contentEncoding: 'base64', description: `At most ${limits.valueBytesMax} bytes once decoded.` },
        contentType: { type: 'string', maxLength: limits.contentTypeCharsMax },
        expiresAt: { ...timestamp, description: `At most ${limits.ttlSecondsMax} s away; entries already expired are skipped.` },
      },
    },
    ImportResult: { type: 'object', required: ['imported', 'revision'], properties: { imported: integer, revision } },
    Readiness: { type: 'object', required: ['status', 'engine'], properties: { status: { enum: ['ready', 'unavailable'] }, engine: string } },
    Status: {
      type: 'object',
      required: ['revision', 'compactRevision', 'keys', 'engine', 'version', 'uptimeSeconds'],
      properties: { revision, compactRevision: revision, keys: integer, engine: string, version: string, uptimeSeconds: integer },
    },
    Me: {
      type: 'object',
      required: ['name', 'admin', 'grants'],
      properties: {
        name: { type: 'string', description: "The token's name (`admin` for KV_ADMIN_TOKEN)." },
        admin: { type: 'boolean', description: 'An admin token may do everything.' },
        grants: {
          type: 'array',
          description: 'Its grants, as the tokens file gives them: keys starting with `prefix` (`""`: every key), for `actions`.',
          items: {
            type: 'object',
            required: ['prefix', 'actions'],
            properties: { prefix: { type: 'string' }, actions: { type: 'array', items: { type: 'string', enum: [...ACTIONS] } } },
          },
        },
      },
      example: { name: 'app', admin: false, grants: [{ prefix: 'app/', actions: ['read', 'write', 'watch'] }] },
    },
    Limits: {
      type: 'object',
      required: ['maxKeyBytes', 'maxValueBytes', 'maxRequestBytes', 'maxTxnOps', 'maxListLimit', 'maxTtlSeconds', 'historyRetention'],
      properties: {
        maxKeyBytes: { const: limits.keyBytesMax },
        maxValueBytes: { const: limits.valueBytesMax },
        maxRequestBytes: { const: limits.requestBytesMax },
        maxTxnOps: { const: limits.txnOpsMax },
        maxListLimit: { const: limits.listLimitMax },
        maxTtlSeconds: { const: limits.ttlSecondsMax },
        historyRetention: { const: limits.historyRetentionRevisions },
      },
    },
  };
}
