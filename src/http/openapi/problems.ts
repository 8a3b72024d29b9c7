import { STATUS_CODES } from 'node:http';
import { ERROR_CATALOGUE, type ErrorCode } from '../../core/errors.js';

/** A JSON Schema, or a piece of an OpenAPI document. */
export type Schema = Record<string, unknown>;

/** The problem codes an operation can answer, each with when (Markdown). */
export type Failures = Partial<Record<ErrorCode, string>>;

/** What a route needs (plugins/access.ts): decides 401, 403 and 429. */
export type AccessNeed = 'public' | 'token' | 'admin' | { grant: string };

/** What decides the problems every operation of a kind can get, whatever its own. */
export interface OperationKind {
  access: AccessNeed;
  /** Reaches the storage engine: 503 when it cannot serve. */
  engine?: boolean;
  /** Writes: 503 when too many writes wait for the disk; `adds` (data) also 507 at the store's size cap, which deletes are not. */
  writes?: 'adds' | 'removes';
  /** A body limited to `limitBytes` (413 `tooLarge` beyond); `json`: only application/json (415, invalid_json). */
  body?: { limitBytes: number; tooLarge: 'value_too_large' | 'request_too_large'; json?: boolean };
}

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const headerRef = (name: string): Schema => ({ $ref: `#/components/headers/${name}` });
/** Response headers by name, each defined once under components.headers. */
export const headers = (...names: string[]): Record<string, Schema> => Object.fromEntries(names.map((name) => [name, headerRef(name)]));

/** `8388608 bytes (8 MiB)`; `1000 bytes`. */
export const sized = (bytes: number): string =>
  bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0 ? `${bytes} bytes (${bytes / (1024 * 1024)} MiB)` : `${bytes} bytes`;

/** Appends `when` to what `failures` says of `code` (two reasons for one code read as one sentence each). */
export function addFailure(failures: Failures, code: ErrorCode, when: string): void {
  failures[code] = failures[code] === undefined ? when : `${failures[code]} Or: ${when}`;
}

/** The problems every operation of this kind can get, whatever its own. */
export function standardFailures(kind: OperationKind): Failures {
  const failures: Failures = {};
  if (kind.access !== 'public') {
    addFailure(failures, 'unauthorized', 'Tokens are configured and the request has no `Authorization: Bearer` token, or one this server does not accept.');
    addFailure(
      failures,
      'protected_mode',
      'No token is configured (protected mode) and the client is not on this machine: configure a token, or set `KV_PROTECTED_MODE=off` on a trusted network.',
    );
    addFailure(failures, 'rate_limited', 'The client is over its rate limit; `Retry-After` says when to retry.');
  }
  if (kind.access === 'admin') addFailure(failures, 'forbidden', 'The token is not an admin token.');
  if (typeof kind.access === 'object') addFailure(failures, 'forbidden', `The token has no grant for ${kind.access.grant}.`);
  addFailure(failures, 'method_not_allowed', 'The path is served, but not with the method sent; `Allow` lists the methods it serves.');
  if (kind.engine)
    addFailure(
      failures,
      'unavailable',
      'The storage engine cannot serve now (etcd unreachable or not answering in time, the store closing); `Retry-After` when a retry may succeed.',
    );
  if (kind.writes !== undefined) {
    addFailure(
      failures,
      'unavailable',
      'Too many writes are waiting for the disk, or etcd did not confirm the write (its detail says whether it may have applied); `Retry-After: 1`.',
    );
  }
  if (kind.writes === 'adds') {
    addFailure(
      failures,
      'storage_full',
      "The store is at its size cap (`KV_MAX_DATA_BYTES`, or etcd's quota) and the write adds data; deletes still run. The cap is in `limit`.",
    );
  }
  if (kind.body !== undefined) {
    addFailure(failures, kind.body.tooLarge, `The body is larger than ${sized(kind.body.limitBytes)}; the limit is in \`limit\`.`);
    if (kind.body.json) {
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
export function problemResponses(
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
