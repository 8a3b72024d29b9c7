import { STATUS_CODES } from 'node:http';
import { ERROR_CATALOGUE, type ErrorCode } from '../core/errors.js';
import { COUNTER_ABS_MAX, TXN_READ_VALUE_BYTES_MAX, type Limits } from '../core/limits.js';
import { CONSOLE_CONTENT_SECURITY_POLICY, CONSOLE_MODULE_DIRECTORIES } from './routes/console.js';
import { DOCS_ASSETS, DOCS_CONTENT_SECURITY_POLICY } from './routes/docs.js';

/**
 * The OpenAPI 3.1 description of every route, served at /v1/openapi.json and
 * rendered at /docs. Its limits are the running server's (`limits`: on the
 * etcd engine a txn takes 127 ops, not 128), so it never promises what this
 * server refuses. Every operation's problem responses are built by
 * `operation()` from what the route can answer (its access rule, whether it
 * reaches the engine or writes, its body), one response per status whose
 * schema names its codes in `code`'s enum.
 * test/integration/openapi.test.ts checks the document against the route
 * table, the error catalogue and the configured limits.
 */
type Schema = Record<string, unknown>;

/** The problem codes an operation can answer, each with when (Markdown). */
type Failures = Partial<Record<ErrorCode, string>>;

/** What a route needs (plugins/access.ts): decides 401, 403 and 429. */
type AccessNeed = 'public' | 'token' | 'admin' | { grant: string };

interface OperationSpec {
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  access: AccessNeed;
  /** Reaches the storage engine: 503 when it cannot serve. */
  engine?: boolean;
  /** Writes: 503 when too many writes wait for the disk; `adds` (data) also 507 at the store's size cap, which deletes are not. */
  writes?: 'adds' | 'removes';
  /**
   * The request body, by media type, limited to `limitBytes` (413 `tooLarge` beyond); `json`: only application/json
   * (415, invalid_json). Without `content`, a body the route reads and ignores: only its 413 is described.
   */
  body?: { content?: Schema; limitBytes: number; tooLarge: 'value_too_large' | 'request_too_large'; json?: boolean; optional?: boolean };
  /** Errors in the seed's `{"status":"error","message"}` body rather than problem+json (plugins/errors.ts). */
  seedErrors?: boolean;
  parameters?: Schema[];
  /** Responses that are not problems (successes, 304, /readyz's 503). */
  responses: Record<string, Schema>;
  /** The operation's own problem codes; merged with those every operation of its kind can get. */
  failures?: Failures;
  /** Headers a problem response carries besides the usual (Allow, Retry-After, WWW-Authenticate), by status. */
  problemHeaders?: Record<number, Record<string, Schema>>;
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string): Schema => ({ $ref: `#/components/headers/${name}` });
const headers = (...names: string[]): Record<string, Schema> => Object.fromEntries(names.map((name) => [name, headerRef(name)]));
const json = (schema: Schema, description: string, headerMap?: Record<string, Schema>): Schema => ({
  description,
  ...(headerMap === undefined ? {} : { headers: headerMap }),
  content: { 'application/json': { schema } },
});
const query = (name: string, description: string, schema: Schema = { type: 'string' }, required = false): Schema => ({ name, in: 'query', required, description, schema });
const requestHeader = (name: string, description: string, schema: Schema = { type: 'string' }): Schema => ({ name, in: 'header', required: false, description, schema });

const integer = { type: 'integer' };
const revision = { type: 'integer', minimum: 0 };
const string = { type: 'string' };
const timestamp = { type: 'string', format: 'date-time' };
const encoding = { type: 'string', enum: ['json', 'utf8', 'base64'] };

/** `8388608 bytes (8 MiB)`; `1000 bytes`. */
const sized = (bytes: number): string => (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0 ? `${bytes} bytes (${bytes / (1024 * 1024)} MiB)` : `${bytes} bytes`);

/** Appends `when` to what `failures` says of `code` (two reasons for one code read as one sentence each). */
function addFailure(failures: Failures, code: ErrorCode, when: string): void {
  failures[code] = failures[code] === undefined ? when : `${failures[code]} Or: ${when}`;
}

/** The problems every operation of this kind can get, whatever its own. */
function standardFailures(spec: OperationSpec): Failures {
  const failures: Failures = {};
  if (spec.access !== 'public') {
    addFailure(failures, 'unauthorized', 'Tokens are configured and the request has no `Authorization: Bearer` token, or one this server does not accept.');
    addFailure(failures, 'protected_mode', 'No token is configured (protected mode) and the client is not on this machine: configure a token, or set `KV_PROTECTED_MODE=off` on a trusted network.');
    addFailure(failures, 'rate_limited', 'The client is over its rate limit; `Retry-After` says when to retry.');
  }
  if (spec.access === 'admin') addFailure(failures, 'forbidden', 'The token is not an admin token.');
  if (typeof spec.access === 'object') addFailure(failures, 'forbidden', `The token has no grant for ${spec.access.grant}.`);
  addFailure(failures, 'method_not_allowed', 'The path is served, but not with the method sent; `Allow` lists the methods it serves.');
  if (spec.engine) addFailure(failures, 'unavailable', 'The storage engine cannot serve now (etcd unreachable or not answering in time, the store closing); `Retry-After` when a retry may succeed.');
  if (spec.writes !== undefined) {
    addFailure(failures, 'unavailable', 'Too many writes are waiting for the disk, or etcd did not confirm the write (its detail says whether it may have applied); `Retry-After: 1`.');
  }
  if (spec.writes === 'adds') {
    addFailure(failures, 'storage_full', 'The store is at its size cap (`KV_MAX_DATA_BYTES`, or etcd\'s quota) and the write adds data; deletes still run. The cap is in `limit`.');
  }
  if (spec.body !== undefined) {
    addFailure(failures, spec.body.tooLarge, `The body is larger than ${sized(spec.body.limitBytes)}; the limit is in \`limit\`.`);
    if (spec.body.json) {
      addFailure(failures, 'unsupported_media_type', 'The body is not `application/json` (or another JSON media type).');
      addFailure(failures, 'invalid_json', 'The body is empty or not valid JSON.');
    }
  }
  return failures;
}

/**
 * One problem response per status, whose schema names the codes it can carry
 * (`code`'s enum) and whose description says when each occurs. The status of
 * each code comes from the catalogue, so a code is never filed under another.
 */
function problemResponses(
  failures: Failures,
  options: { seedErrors?: boolean; headers?: Record<number, Record<string, Schema>>; limitOf?: Partial<Record<ErrorCode, number>> } = {},
): Record<string, Schema> {
  const { seedErrors = false, headers: extraHeaders = {}, limitOf = {} } = options;
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of Object.keys(failures) as ErrorCode[]) {
    const status = ERROR_CATALOGUE[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, Schema> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const description = codes.map((code) => `\`${code}\`: ${failures[code]}`).join('\n\n');
    const headerMap: Record<string, Schema> = {
      ...(status === 401 ? headers('WWW-Authenticate') : {}),
      ...(status === 405 ? headers('Allow') : {}),
      ...(status === 429 || status === 503 ? headers('Retry-After') : {}),
      ...extraHeaders[status],
    };
    const content = seedErrors
      ? // The seed's body has no code: the codes are only named in the description.
        { 'application/json': { schema: ref('SeedError') } }
      : { 'application/problem+json': { schema: problemSchema(codes), example: problemExample(status, codes, limitOf) } };
    responses[status] = {
      description: seedErrors ? `${description}\n\n(The seed's error body: \`{"status":"error","message"}\`.)` : description,
      ...(Object.keys(headerMap).length === 0 ? {} : { headers: headerMap }),
      content,
    };
  }
  return responses;
}

/** A problem document whose `code` is one of `codes`. */
const problemSchema = (codes: ErrorCode[]): Schema => ({ allOf: [ref('Problem'), { type: 'object', properties: { code: { type: 'string', enum: codes } } }] });

/** The members a problem with this code carries besides the usual ones (API.md §8), with sample values; `limit`s are given. */
function problemExtras(code: ErrorCode, limitOf: Partial<Record<ErrorCode, number>>): Schema {
  switch (code) {
    case 'precondition_failed':
      return { currentRevision: 7 };
    case 'txn_conflict':
      return { failedChecks: [0] };
    case 'history_compacted':
      return { compactRevision: 41 };
    default:
      return limitOf[code] === undefined ? {} : { limit: limitOf[code] };
  }
}

/** A sample problem of the first of `codes` (what Swagger UI shows, rather than every optional member). */
function problemExample(status: number, codes: ErrorCode[], limitOf: Partial<Record<ErrorCode, number>>): Schema {
  const code = codes[0]!;
  return { type: 'about:blank', status, title: STATUS_CODES[status] ?? 'Error', code, detail: 'What went wrong, in words.', ...problemExtras(code, limitOf) };
}

function operation(spec: OperationSpec, limits: Limits): Schema {
  const failures = standardFailures(spec);
  for (const [code, when] of Object.entries(spec.failures ?? {}) as Array<[ErrorCode, string]>) addFailure(failures, code, when);
  // The `limit` a sample 413 shows: the body's own for its code.
  const limitOf: Partial<Record<ErrorCode, number>> = { value_too_large: limits.valueBytesMax, request_too_large: limits.requestBytesMax };
  if (spec.body !== undefined) limitOf[spec.body.tooLarge] = spec.body.limitBytes;
  const problems = problemResponses(failures, { seedErrors: spec.seedErrors ?? false, headers: spec.problemHeaders ?? {}, limitOf });
  for (const status of Object.keys(spec.responses)) {
    if (status in problems) throw new Error(`${spec.operationId}: ${status} is both a problem and another response`);
  }
  return {
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    ...(spec.access === 'public' ? { security: [] } : {}),
    ...(spec.parameters === undefined ? {} : { parameters: spec.parameters }),
    ...(spec.body?.content === undefined
      ? {}
      : {
          requestBody: {
            required: !spec.body.optional,
            description: `At most ${sized(spec.body.limitBytes)}.`,
            'x-max-bytes': spec.body.limitBytes,
            content: spec.body.content,
          },
        }),
    responses: { ...spec.responses, ...problems },
  };
}

/** The OpenAPI document of a server with these limits. */
export function openApiDocument(version: string, limits: Limits): Schema {
  const op = (spec: OperationSpec) => operation(spec, limits);
  const keyBytes = `1 to ${limits.keyBytesMax} UTF-8 bytes, without U+0000 and without \`.\` or \`..\` as a \`/\`-separated segment`;
  const keyParameter = {
    name: 'key',
    in: 'path',
    required: true,
    description: `The key (${keyBytes}), percent-encoded; \`/\` may appear unescaped.`,
    'x-max-bytes': limits.keyBytesMax,
    // maxLength counts characters, which never outnumber the key's bytes: a bound, not the limit (bytes, above).
    schema: { type: 'string', minLength: 1, maxLength: limits.keyBytesMax },
  };
  const ifMatch = requestHeader('If-Match', 'Apply only if the key exists at one of these revisions: `"<revision>"`, a comma list of them, or `*` (the key must exist). Strong comparison.');
  const ifNoneMatchWrite = requestHeader('If-None-Match', 'Apply only if the key is not at any of these revisions: `*` (the key must not exist) or a `"<revision>"` list.');
  const conditional = [ifMatch, ifNoneMatchWrite];
  const preconditionFailed: Failures = { precondition_failed: '`If-Match` or `If-None-Match` failed; `currentRevision` is the key\'s revision (`null`: absent).' };
  const badConditional = 'Or a malformed `If-Match` / `If-None-Match`.';
  const keyGrant = (action: string) => ({ grant: `\`${action}\` on the key` });
  const readHeaders = {
    ...headers('ETag', 'KV-Revision', 'KV-Create-Revision', 'KV-Version', 'KV-Expires-At', 'Cache-Control', 'X-Content-Type-Options'),
    'Content-Security-Policy': headerRef('ValueContentSecurityPolicy'),
  };
  // Any bytes with any content type (`*/*`); the other types are there for "Try it out" (text and JSON get a text box).
  const anyBytes = { type: 'string', format: 'binary' };
  const valueContent = { 'text/plain': { schema: string }, 'application/json': { schema: {} }, 'application/octet-stream': { schema: anyBytes }, '*/*': { schema: anyBytes } };
  const valueBody = { content: valueContent, limitBytes: limits.valueBytesMax, tooLarge: 'value_too_large' as const, optional: true };
  const rangeBound = (name: string, description: string) => query(name, `${description} At most ${limits.keyBytesMax} bytes.`, { type: 'string', maxLength: limits.keyBytesMax });
  const waitSeconds = Math.min(30, limits.waitSecondsMax);
  const assetHeaders = { ETag: headerRef('AssetETag'), 'Cache-Control': headerRef('AssetCacheControl') };
  const consoleHeaders = { 'Content-Security-Policy': headerRef('ConsoleContentSecurityPolicy'), ...headers('X-Content-Type-Options', 'Referrer-Policy') };

  const paths: Record<string, Schema> = {
    '/v1/kv/{key}': {
      parameters: [keyParameter],
      get: op({
        operationId: 'getKey',
        tag: 'Keys',
        summary: 'Read a value',
        description: `The stored bytes, with the content type they were stored with. With \`If-None-Match\` and \`Prefer: wait=N\` the request is a long-poll: it is held until the key changes (200, or 404 if it is deleted) or N seconds pass (304).`,
        access: keyGrant('read'),
        engine: true,
        parameters: [
          requestHeader('If-None-Match', '`"<revision>"` (or a list): answer 304 while the key is at that revision. Weak comparison.'),
          requestHeader('Prefer', `\`wait=N\`, N from 1 to ${limits.waitSecondsMax} seconds, with \`If-None-Match\`: a long-poll (needs \`watch\` as well as \`read\`).`, {
            type: 'string',
            examples: [`wait=${waitSeconds}`],
          }),
        ],
        responses: {
          200: {
            description: 'The value. `Preference-Applied: wait=N` when it answers a long-poll.',
            headers: { ...readHeaders, ...headers('Preference-Applied') },
            content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
          },
          304: { description: 'The key is still at the revision of `If-None-Match` (a long-poll: still, after N seconds).', headers: { ...readHeaders, ...headers('Preference-Applied') } },
        },
        failures: {
          invalid_key: 'The key is not valid, or not validly percent-encoded.',
          invalid_request: `\`Prefer: wait\` outside 1..${limits.waitSecondsMax}, or a malformed \`If-None-Match\`.`,
          key_not_found: 'No such key (or its TTL passed).',
          unavailable: `A long-poll while ${limits.watchersMax} watches and long-polls are open.`,
        },
        problemHeaders: { 404: headers('KV-Revision') },
      }),
      head: op({
        operationId: 'headKey',
        tag: 'Keys',
        summary: 'Read the headers of a value',
        access: keyGrant('read'),
        engine: true,
        parameters: [requestHeader('If-None-Match', '`"<revision>"` (or a list): answer 304 while the key is at that revision.')],
        responses: {
          200: { description: 'As GET, without the body; `Content-Length` is the value\'s size.', headers: { ...readHeaders, ...headers('Content-Length') } },
          304: { description: 'Not modified.', headers: readHeaders },
        },
        failures: { invalid_key: 'The key is not valid.', invalid_request: 'A malformed `If-None-Match`.', key_not_found: 'No such key.' },
        problemHeaders: { 404: headers('KV-Revision') },
      }),
      put: op({
        operationId: 'putKey',
        tag: 'Keys',
        summary: 'Create or replace a value',
        description: 'The body is the value, any bytes; its `Content-Type` is stored with it (`application/octet-stream` when none is sent) and answered on reads.',
        access: keyGrant('write'),
        engine: true,
        writes: 'adds',
        body: valueBody,
        parameters: [
          query('ttl', `Seconds until the key expires: more than 0, at most ${limits.ttlSecondsMax}, with at most 3 decimals. Without it, a TTL the key had is cleared.`, {
            type: 'number',
            exclusiveMinimum: 0,
            maximum: limits.ttlSecondsMax,
          }),
          ...conditional,
        ],
        responses: {
          200: json(ref('WriteResult'), 'Replaced.', headers('ETag', 'KV-Revision')),
          201: json(ref('WriteResult'), 'Created.', headers('ETag', 'KV-Revision')),
        },
        failures: {
          invalid_key: 'The key is not valid.',
          invalid_request: `A bad \`ttl\`, or a content type longer than ${limits.contentTypeCharsMax} characters. ${badConditional}`,
          ...preconditionFailed,
        },
      }),
      delete: op({
        operationId: 'deleteKey',
        tag: 'Keys',
        summary: 'Delete a key',
        access: keyGrant('write'),
        engine: true,
        writes: 'removes',
        parameters: conditional,
        responses: { 204: { description: 'Deleted.', headers: headers('KV-Revision') } },
        failures: { invalid_key: 'The key is not valid.', invalid_request: 'A malformed `If-Match` / `If-None-Match`.', key_not_found: 'No such key.', ...preconditionFailed },
        problemHeaders: { 404: headers('KV-Revision') },
      }),
      post: op({
        operationId: 'addToCounter',
        tag: 'Keys',
        summary: 'Atomic counter (op=add)',
        description: 'Adds `by` to the JSON integer stored at the key (a missing key counts as 0) and stores the result as JSON. A TTL the key has is kept.',
        access: keyGrant('write'),
        engine: true,
        writes: 'adds',
        parameters: [
          query('op', 'Must be `add`.', { type: 'string', enum: ['add'] }, true),
          query('by', 'The integer to add (default 1; may be negative).', { type: 'integer', minimum: -COUNTER_ABS_MAX, maximum: COUNTER_ABS_MAX, default: 1 }),
          ...conditional,
        ],
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
      }),
    },
    '/v1/kv': {
      get: op({
        operationId: 'listKeys',
        tag: 'Ranges',
        summary: 'List a range of keys',
        description: '`prefix`, `start` and `end` combine as an intersection; none lists every key. Pass `cursor` back, with the same other parameters, for the next page; `null` means done.',
        access: { grant: '`read` over the whole range' },
        engine: true,
        parameters: [
          rangeBound('prefix', 'Only keys starting with this.'),
          rangeBound('start', 'Inclusive lower bound.'),
          rangeBound('end', 'Exclusive upper bound (empty: none).'),
          query('limit', `Page size, 1 to ${limits.listLimitMax} (default ${limits.listLimitDefault}). Each rolled-up prefix counts.`, {
            type: 'integer',
            minimum: 1,
            maximum: limits.listLimitMax,
            default: limits.listLimitDefault,
          }),
          query('cursor', 'The `cursor` of the previous page (opaque).'),
          query('reverse', 'Walk descending.', { type: 'boolean', default: false }),
          query('values', 'Include `value` and `encoding` in each item.', { type: 'boolean', default: false }),
          query('delimiter', 'Roll keys up after the prefix to the first delimiter into `prefixes` (like S3 CommonPrefixes).', { type: 'string', minLength: 1 }),
        ],
        responses: { 200: json(ref('RangePage'), 'One page.') },
        failures: { invalid_request: 'An invalid parameter or cursor (a cursor of the other direction included).' },
      }),
      delete: op({
        operationId: 'deletePrefix',
        tag: 'Ranges',
        summary: 'Delete every key under a prefix, at one revision',
        access: { grant: '`write` over the whole prefix' },
        engine: true,
        writes: 'removes',
        parameters: [
          query('prefix', `A non-empty prefix, at most ${limits.keyBytesMax} bytes.`, { type: 'string', minLength: 1, maxLength: limits.keyBytesMax }, true),
          query('dry_run', 'Only count the keys.', { type: 'boolean', default: false }),
        ],
        responses: { 200: json({ oneOf: [ref('PrefixDeleteResult'), ref('PrefixDeleteDryRun')] }, 'Deleted (or counted).') },
        failures: { invalid_request: 'No or an empty `prefix`, or an invalid `dry_run`.' },
      }),
    },
    '/v1/txn': {
      post: op({
        operationId: 'txn',
        tag: 'Transactions',
        summary: 'Atomic transaction of checks and ops',
        description: `All checks pass: every op applies atomically, at one revision. Any check fails: nothing applies (409 \`txn_conflict\` with \`failedChecks\`). At most ${limits.txnOpsMax} checks and ${limits.txnOpsMax} ops; a key at most once in ops.`,
        access: { grant: 'every key the txn names (`read` for checks and gets, `write` for the rest)' },
        engine: true,
        writes: 'adds',
        body: { content: { 'application/json': { schema: ref('TxnRequest'), example: TXN_EXAMPLE } }, limitBytes: limits.requestBytesMax, tooLarge: 'request_too_large', json: true },
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
      }),
    },
    '/v1/watch': {
      get: op({
        operationId: 'watch',
        tag: 'Watch',
        summary: 'Change feed as Server-Sent Events',
        description: `Every change after the resume point (the later of \`since\` and \`Last-Event-ID\`; without one, from now) that matches, in revision order, one message per revision: \`event: change\` with \`id\` = revision and \`data\` = \`{"revision", "events": [...]}\`. After ${Math.round(limits.watchProgressIntervalMs / 1000)} s without one, \`event: progress\` with \`data: {"revision"}\`. A consumer too slow to keep up gets \`event: error\` with \`data: {"code": "slow_consumer"}\` and is closed. History keeps at least the last ${limits.historyRetentionRevisions} revisions.`,
        access: { grant: '`read` and `watch` over the key or prefix' },
        engine: true,
        parameters: [
          query('key', `Watch one key (${keyBytes}).`, { type: 'string', minLength: 1, maxLength: limits.keyBytesMax }),
          query('prefix', 'Watch every key under this prefix (empty: all keys). Give `key` or `prefix`, not both.', { type: 'string', maxLength: limits.keyBytesMax }),
          query('since', 'Deliver every change after this revision.', revision),
          query('values', 'Include values.', { type: 'boolean', default: true }),
          requestHeader('Last-Event-ID', 'Resume after this revision (what an EventSource sends when it reconnects).', { type: 'string', pattern: '^[0-9]*$' }),
        ],
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
      }),
    },
    '/v1/admin/export': {
      get: op({
        operationId: 'exportKeys',
        tag: 'Admin',
        summary: 'Export live keys as NDJSON, from one snapshot',
        access: 'admin',
        engine: true,
        parameters: [rangeBound('prefix', 'Only keys under this prefix.')],
        responses: { 200: { description: 'One JSON object per line.', content: { 'application/x-ndjson': { schema: ref('ExportLine') } } } },
        failures: { invalid_request: 'An invalid `prefix`.' },
      }),
    },
    '/v1/admin/import': {
      post: op({
        operationId: 'importKeys',
        tag: 'Admin',
        summary: 'Import NDJSON (or the original data file with format=seed), atomically',
        description: 'All or nothing: one bad line refuses the whole import and names the line. On etcd, an import larger than one etcd transaction is applied as consecutive transactions.',
        access: 'admin',
        engine: true,
        writes: 'adds',
        parameters: [query('format', '`ndjson` (the export\'s lines) or `seed` (a JSON object `{key: value}`).', { type: 'string', enum: ['ndjson', 'seed'], default: 'ndjson' })],
        body: {
          content: { 'application/x-ndjson': { schema: ref('ExportLine') }, 'application/json': { schema: { type: 'object', additionalProperties: true } } },
          limitBytes: limits.importBytesMax,
          tooLarge: 'request_too_large',
        },
        responses: { 200: json(ref('ImportResult'), 'Imported.') },
        failures: {
          invalid_request: 'An invalid line or entry (the detail names up to ten), or an unknown `format`; nothing was imported.',
          invalid_json: 'With `format=seed`: the body is not JSON.',
        },
      }),
    },
    '/v1/admin/backup': {
      get: op({
        operationId: 'backup',
        tag: 'Admin',
        summary: 'A consistent snapshot of the embedded store, taken while it serves',
        description: 'An LMDB file; `kvs restore` turns it back into a data directory. One backup at a time per server.',
        access: 'admin',
        engine: true,
        responses: {
          200: {
            description: 'The snapshot.',
            headers: headers('KV-Revision', 'Repr-Digest', 'Content-Disposition', 'Content-Length'),
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
        },
        failures: {
          not_implemented: 'The etcd engine keeps no local store: the detail names `etcdctl snapshot save` and the export.',
          unavailable: 'Another backup is being taken or sent (`Retry-After: 5`).',
          storage_full: 'No room beside the store for the copy.',
        },
      }),
    },
    '/healthz': {
      get: op({
        operationId: 'healthz',
        tag: 'Service',
        summary: 'Liveness: 200 while the process serves',
        access: 'public',
        responses: { 200: json({ type: 'object', properties: { status: { const: 'ok' } } }, 'Serving.') },
      }),
    },
    '/readyz': {
      get: op({
        operationId: 'readyz',
        tag: 'Service',
        summary: 'Readiness: whether the storage engine is usable',
        access: 'public',
        responses: {
          200: json(ref('Readiness'), 'Ready.'),
          503: json(ref('Readiness'), 'Not ready (`status: "unavailable"`).'),
        },
      }),
    },
    '/metrics': {
      get: op({
        operationId: 'metrics',
        tag: 'Service',
        summary: 'Prometheus metrics',
        access: 'admin',
        engine: true,
        responses: { 200: { description: 'The Prometheus text exposition format (0.0.4).', content: { 'text/plain': { schema: { type: 'string' } } } } },
      }),
    },
    '/v1/status': {
      get: op({
        operationId: 'status',
        tag: 'Service',
        summary: 'Store status',
        access: 'admin',
        engine: true,
        responses: { 200: json(ref('Status'), 'Status.') },
      }),
    },
    '/v1/limits': {
      get: op({ operationId: 'limits', tag: 'Service', summary: 'The limits in force', access: 'token', responses: { 200: json(ref('Limits'), 'Limits.') } }),
    },
    '/v1/auth/me': {
      get: op({
        operationId: 'me',
        tag: 'Service',
        summary: 'The token of the request: its name, whether it is admin, and its grants',
        description:
          'For a client to show what it may do (the web console roots its tree at the grants a token may read). An admin token may do everything, whatever its `grants`. Without tokens configured (protected mode), a client on this machine is `{"name": "local", "admin": true, "grants": []}`.',
        access: 'token',
        responses: { 200: json(ref('Me'), 'The token.') },
      }),
    },
    '/v1/openapi.json': {
      get: op({
        operationId: 'openapi',
        tag: 'Service',
        summary: 'This document',
        access: 'token',
        responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1, with this server\'s limits.') },
      }),
    },
    '/docs': {
      get: op({
        operationId: 'docs',
        tag: 'Reference',
        summary: 'This reference as a page (Swagger UI, served by kvs itself)',
        description: 'Needs no token; it asks for one when `/v1/openapi.json` does, and keeps it in the tab\'s session storage.',
        access: 'public',
        parameters: [requestHeader('If-None-Match', 'The `ETag` of a copy the client has: 304 when it is current.')],
        responses: {
          200: { description: 'The page.', headers: { ...assetHeaders, ...headers('Content-Security-Policy', 'X-Content-Type-Options', 'Referrer-Policy') }, content: { 'text/html': { schema: { type: 'string' } } } },
          304: { description: 'The client\'s copy is current.', headers: assetHeaders },
        },
      }),
    },
    '/docs/': {
      get: op({
        operationId: 'docsSlash',
        tag: 'Reference',
        summary: 'The reference page\'s address with a trailing slash: a redirect to `/docs`',
        description: 'The page\'s files are relative to `/docs`; this path only sends the browser there, query kept.',
        access: 'public',
        responses: { 308: { description: 'To the page.', headers: headers('Location') } },
      }),
    },
    '/docs/assets/{file}': {
      get: op({
        operationId: 'docsAsset',
        tag: 'Reference',
        summary: 'A file of the reference page',
        description: 'Swagger UI\'s own files (from the `swagger-ui-dist` package) and the page\'s script and style: only these names.',
        access: 'public',
        parameters: [
          { name: 'file', in: 'path', required: true, description: 'One of the page\'s files.', schema: { type: 'string', enum: DOCS_ASSETS.map((asset) => asset.name) } },
          requestHeader('If-None-Match', 'The `ETag` of a copy the client has: 304 when it is current.'),
          requestHeader('Accept-Encoding', 'With `gzip`, scripts and styles are sent gzip-compressed.'),
        ],
        responses: {
          200: {
            description: 'The file.',
            headers: { ...assetHeaders, ...headers('Vary', 'Content-Encoding') },
            content: Object.fromEntries([...new Set(DOCS_ASSETS.map((asset) => asset.type.split(';')[0]!))].map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
          },
          304: { description: 'The client\'s copy is current.', headers: assetHeaders },
        },
        failures: { not_found: 'No such file.' },
      }),
    },
    '/': {
      get: op({
        operationId: 'console',
        tag: 'Console',
        summary: 'The web console: browse, edit and watch the store in a browser',
        description:
          'Served entirely by kvs (no CDN), built on the SDK (`kvs/client`). The page and its files need no token; when the server does, the page asks for one, keeps it in the tab\'s session storage, and sends it with every request for data, to this server only.',
        access: 'public',
        parameters: [requestHeader('If-None-Match', 'The `ETag` of a copy the client has: 304 when it is current.')],
        responses: {
          200: { description: 'The page.', headers: { ...assetHeaders, ...consoleHeaders }, content: { 'text/html': { schema: { type: 'string' } } } },
          304: { description: 'The client\'s copy is current.', headers: assetHeaders },
        },
      }),
    },
    '/console/{dir}/{file}': {
      get: op({
        operationId: 'consoleAsset',
        tag: 'Console',
        summary: 'A file of the web console',
        description: 'The console\'s compiled modules, its style sheet and icon (`web`), the SDK\'s modules (`client`) and eventsource-parser\'s ES module (`vendor`): only the files kvs listed at start-up.',
        access: 'public',
        parameters: [
          { name: 'dir', in: 'path', required: true, description: 'Which part of the console.', schema: { type: 'string', enum: [...CONSOLE_MODULE_DIRECTORIES, 'vendor'] } },
          { name: 'file', in: 'path', required: true, description: 'A file of it, e.g. `app.js`.', schema: { type: 'string' } },
          requestHeader('If-None-Match', 'The `ETag` of a copy the client has: 304 when it is current.'),
          requestHeader('Accept-Encoding', 'With `gzip`, scripts, styles and the icon are sent gzip-compressed.'),
        ],
        responses: {
          200: {
            description: 'The file.',
            headers: { ...assetHeaders, ...headers('Vary', 'Content-Encoding'), ...consoleHeaders },
            content: Object.fromEntries(['text/javascript', 'text/css', 'image/svg+xml'].map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
          },
          304: { description: 'The client\'s copy is current.', headers: assetHeaders },
        },
        failures: { not_found: 'No such file.' },
      }),
    },
    '/put': {
      post: op({
        operationId: 'seedPut',
        tag: 'Seed compatibility',
        summary: 'Create or replace (the original server\'s route)',
        description: 'The value is stored as `application/json`. The body is read as JSON whatever its content type (as `curl -d` sends `x-www-form-urlencoded`).',
        access: keyGrant('write'),
        engine: true,
        writes: 'adds',
        seedErrors: true,
        parameters: [query('key', 'The key, when the body has none.', { type: 'string', minLength: 1, maxLength: limits.keyBytesMax })],
        body: { content: { 'application/json': { schema: ref('SeedPut') } }, limitBytes: limits.requestBytesMax, tooLarge: 'request_too_large' },
        responses: { 200: json(ref('SeedSuccess'), 'Stored.') },
        failures: {
          invalid_key: 'The key is not valid.',
          invalid_request: 'No key or value, a key that is not a string, or a body that is not a JSON object.',
          invalid_json: 'The body is empty or not JSON.',
          value_too_large: `The value, as JSON, is larger than ${limits.valueBytesMax} bytes.`,
        },
      }),
    },
    '/get': {
      get: op({
        operationId: 'seedGet',
        tag: 'Seed compatibility',
        summary: 'Read (the original server\'s route)',
        description: 'A value that is not JSON is returned as a JSON string (UTF-8 text), or, when binary, in base64 with `"encoding": "base64"`.',
        access: keyGrant('read'),
        engine: true,
        seedErrors: true,
        parameters: [query('key', 'The key.', { type: 'string', minLength: 1, maxLength: limits.keyBytesMax }, true)],
        responses: { 200: json(ref('SeedValue'), 'The value.') },
        failures: { invalid_key: 'The key is not valid.', invalid_request: 'No `key`.', key_not_found: 'No such key (`"message": "Key not found"`).' },
      }),
    },
    '/del': {
      delete: op({
        operationId: 'seedDel',
        tag: 'Seed compatibility',
        summary: 'Delete (the original server\'s route)',
        access: keyGrant('write'),
        engine: true,
        writes: 'removes',
        seedErrors: true,
        parameters: [query('key', 'The key.', { type: 'string', minLength: 1, maxLength: limits.keyBytesMax }, true)],
        responses: { 200: json(ref('SeedSuccess'), 'Deleted.') },
        failures: { invalid_key: 'The key is not valid.', invalid_request: 'No `key`.', key_not_found: 'No such key (`"message": "Key not found"`).' },
      }),
    },
  };

  return {
    openapi: '3.1.0',
    info: { title: 'kvs', version, description: describeService(limits), license: { name: 'MIT', identifier: 'MIT' } },
    tags: [
      { name: 'Keys', description: 'Single keys: `/v1/kv/{key}` (API.md §3).' },
      { name: 'Ranges', description: 'Listings and prefix deletes (API.md §4).' },
      { name: 'Transactions', description: 'API.md §5.' },
      { name: 'Watch', description: 'The change feed (API.md §6).' },
      { name: 'Admin', description: 'Data in and out; admin tokens only (API.md §11).' },
      { name: 'Service', description: 'Health, readiness, metrics and service information (API.md §7).' },
      { name: 'Reference', description: 'This page.' },
      { name: 'Console', description: 'The web console at `/`: browse, edit and watch the store in a browser.' },
      { name: 'Seed compatibility', description: 'The original server\'s routes, bodies and statuses (API.md §1); errors in its `{"status":"error","message"}` body.' },
    ],
    paths,
    // Every route needs a bearer token when tokens are configured, except those with `security: []`.
    security: [{ bearer: [] }],
    components: {
      schemas: schemas(limits),
      headers: HEADERS,
      responses: BEFORE_ROUTING,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: '`KV_ADMIN_TOKEN`, or a token of `KV_TOKENS_FILE` (`kvs token create`). Without any configured, only clients on the server\'s machine are served (protected mode).' },
      },
    },
  };
}

function describeService(limits: Limits): string {
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
    ...problemResponses({ not_found: 'No route serves the path (any method). Like every route, it needs a token when tokens are configured (401 first), so the API cannot be mapped anonymously.' }),
  }).map(([status, response]) => [status === '404' ? 'UnknownRoute' : `BeforeRouting${status}`, response]),
);

const HEADERS: Record<string, Schema> = {
  ETag: { description: 'The revision that last modified the key, as a strong entity tag `"<revision>"`: send it back in `If-Match` / `If-None-Match`.', schema: { type: 'string', pattern: '^"[0-9]+"$' } },
  'KV-Revision': { description: 'The store revision: when the key was read, of the write, or that the stream starts after.', schema: revision },
  'KV-Create-Revision': { description: 'The revision that created the key.', schema: revision },
  'KV-Version': { description: 'Writes to the key since it was created (1 for a new key).', schema: { type: 'integer', minimum: 1 } },
  'KV-Expires-At': { description: 'When the key expires (RFC 3339, UTC, milliseconds); only when it has a TTL.', schema: timestamp },
  'Cache-Control': { description: '`no-cache`: a cache must revalidate (with the ETag) before reusing the response.', schema: string },
  'Preference-Applied': { description: '`wait=N` when a long-poll was held.', schema: string },
  'Content-Length': { description: 'The size of the body in bytes.', schema: integer },
  'Retry-After': { description: 'Seconds to wait before retrying (at least 1).', schema: { type: 'integer', minimum: 1 } },
  'WWW-Authenticate': { description: '`Bearer`.', schema: string },
  Location: { description: '`../docs`, relative (so that it holds behind a proxy\'s path prefix too), with the request\'s query.', schema: string },
  Allow: { description: 'The methods the path serves, comma-separated.', schema: string },
  'Repr-Digest': { description: 'The SHA-256 of the body (RFC 9530): `sha-256=:<base64>:`.', schema: string },
  'Content-Disposition': { description: '`attachment; filename="kvs-backup-<revision>.mdb"`.', schema: string },
  AssetETag: { description: 'A hash of the body (of each encoding): send it back in `If-None-Match`.', schema: string },
  AssetCacheControl: { description: '`no-cache`: reuse only after revalidating, so that an upgrade of kvs is seen at once; the revalidation is a 304 without a body.', schema: string },
  'Content-Security-Policy': { description: `\`${DOCS_CONTENT_SECURITY_POLICY}\``, schema: string },
  ConsoleContentSecurityPolicy: { description: `\`${CONSOLE_CONTENT_SECURITY_POLICY}\` (the hash is the import map's, the page's only inline script).`, schema: string },
  ValueContentSecurityPolicy: {
    description: '`sandbox`: a stored value opened in a browser (say, `text/html`) is a document of its own unique origin, without script, never one of this server\'s pages.',
    schema: string,
  },
  'X-Content-Type-Options': { description: '`nosniff`.', schema: string },
  'Referrer-Policy': { description: '`no-referrer`.', schema: string },
  Vary: { description: '`Accept-Encoding`.', schema: string },
  'Content-Encoding': { description: '`gzip` when the client accepts it (scripts and styles).', schema: string },
};

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

function schemas(limits: Limits): Record<string, Schema> {
  const key = { $ref: '#/components/schemas/Key' };
  const ttl = { type: 'number', exclusiveMinimum: 0, maximum: limits.ttlSecondsMax, description: `Seconds until the key expires (ms precision), at most ${limits.ttlSecondsMax}.` };
  const envelopeValue = { description: `The value, shown per \`encoding\`: embedded JSON (\`json\`), a string (\`utf8\`) or base64 (\`base64\`). At most ${limits.valueBytesMax} bytes once decoded.` };
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
        currentRevision: { type: ['integer', 'null'], description: 'With `precondition_failed`: the key\'s revision (`null`: absent).' },
        failedChecks: { type: 'array', items: integer, description: 'With `txn_conflict`: the indices of the checks that failed.' },
        compactRevision: { ...revision, description: 'With `history_compacted`: the oldest revision a watch can resume from.' },
        limit: { ...integer, description: 'With a limit exceeded: the limit.' },
      },
    },
    Key: { type: 'string', minLength: 1, maxLength: limits.keyBytesMax, description: `A key: ${limits.keyBytesMax} UTF-8 bytes at most (maxLength counts characters), without U+0000 or \`.\`/\`..\` segments.` },
    SeedPut: { type: 'object', required: ['value'], properties: { key, value: { description: `Any JSON but \`null\`; at most ${limits.valueBytesMax} bytes as JSON.` } } },
    SeedSuccess: { type: 'object', required: ['status'], properties: { status: { const: 'success' } } },
    SeedValue: { type: 'object', required: ['status', 'value'], properties: { status: { const: 'success' }, value: {}, encoding: { const: 'base64' } } },
    SeedError: { type: 'object', required: ['status', 'message'], properties: { status: { const: 'error' }, message: string } },
    WriteResult: { type: 'object', required: ['key', 'revision', 'createRevision', 'version'], properties: { key: string, revision, createRevision: revision, version: integer, expiresAt: timestamp } },
    CounterResult: { type: 'object', required: ['key', 'value', 'revision', 'version'], properties: { key: string, value: integer, revision, version: integer } },
    RangeItem: {
      type: 'object',
      required: ['key', 'revision', 'createRevision', 'version', 'contentType', 'size'],
      properties: { key: string, revision, createRevision: revision, version: integer, contentType: string, size: integer, expiresAt: timestamp, value: envelopeValue, encoding },
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
        txnOp('put', { value: envelopeValue, encoding: { ...encoding, default: 'json' }, contentType: { type: 'string', maxLength: limits.contentTypeCharsMax }, ttl }, ['value']),
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
              { type: 'object', required: ['op', 'key', 'revision', 'createRevision', 'version', 'created'], properties: { op: { const: 'put' }, key: string, revision, createRevision: revision, version: integer, expiresAt: timestamp, created: { type: 'boolean' } } },
              { type: 'object', required: ['op', 'key', 'deleted'], properties: { op: { const: 'delete' }, key: string, deleted: { type: 'boolean' } } },
              { type: 'object', required: ['op', 'key', 'value', 'revision', 'version'], properties: { op: { const: 'add' }, key: string, value: integer, revision, version: integer } },
              {
                type: 'object',
                required: ['op', 'key', 'found'],
                properties: { op: { const: 'get' }, key: string, found: { type: 'boolean' }, value: envelopeValue, encoding, contentType: string, revision, createRevision: revision, version: integer, expiresAt: timestamp },
              },
            ],
          },
        },
      },
    },
    ExportLine: {
      type: 'object',
      required: ['key', 'value'],
      properties: { key, value: { type: 'string', contentEncoding: 'base64', description: `At most ${limits.valueBytesMax} bytes once decoded.` }, contentType: { type: 'string', maxLength: limits.contentTypeCharsMax }, expiresAt: { ...timestamp, description: `At most ${limits.ttlSecondsMax} s away; entries already expired are skipped.` } },
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
        name: { type: 'string', description: 'The token\'s name (`admin` for KV_ADMIN_TOKEN).' },
        admin: { type: 'boolean', description: 'An admin token may do everything.' },
        grants: {
          type: 'array',
          description: 'Its grants, as the tokens file gives them: keys starting with `prefix` (`""`: every key), for `actions`.',
          items: {
            type: 'object',
            required: ['prefix', 'actions'],
            properties: { prefix: { type: 'string' }, actions: { type: 'array', items: { type: 'string', enum: ['read', 'write', 'watch'] } } },
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
