import type { Entry } from './entry.js';
import { errorFromProblem, InvalidRequestError } from './errors.js';
import { ListQuery } from './list.js';
import { linesOf } from './lines.js';
import { isWellFormed, Transport, type TransportOptions } from './transport.js';
import type {
  AddResult,
  Backup,
  DeleteOptions,
  DeletePrefixResult,
  ExportRecord,
  ImportResult,
  ListOptions,
  ListPage,
  PutOptions,
  ServerLimits,
  TokenInfo,
  StoreStatus,
  TxnOpResult,
  TxnRequest,
  TxnResult,
  WaitResult,
  WatchMessage,
  WatchOptions,
  WriteResult,
} from './types.js';
import { bytesToBase64, utf8Bytes, valueBody, type Value } from './values.js';
import { watchChanges } from './watch.js';
import { entryFromEnvelope, entryFromResponse, listItemFrom, writeResultFrom } from './wire.js';

export type KvsClientOptions = TransportOptions;

type Json = Record<string, unknown>;

/** How long a backup may take to start: the server copies the store first, at a few seconds per GB. */
const BACKUP_HEADERS_TIMEOUT_MS = 3_600_000;
/**
 * How long an import may take to be answered: the server parses it whole and applies it in one transaction
 * before it answers (a large file, minutes), and an import that timed out may still be applied.
 */
const IMPORT_ANSWER_TIMEOUT_MS = 3_600_000;

/** The default server: what `npm start` serves. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/**
 * A typed client of the kvs HTTP API (API.md), on fetch: it runs in Node ≥ 20
 * and in browsers.
 *
 * @example
 * const kvs = new KvsClient({ url: 'http://127.0.0.1:8080' });
 * await kvs.put('app/config', { mode: 'blue' });
 * const entry = await kvs.get('app/config'); // Entry | null
 * entry?.json(); // { mode: 'blue' }
 */
export class KvsClient {
  private readonly transport: Transport;

  constructor(options: Partial<KvsClientOptions> = {}) {
    this.transport = new Transport({ ...options, url: options.url ?? DEFAULT_URL });
  }

  /** A client for `KVS_URL` (default http://127.0.0.1:8080) and `KVS_TOKEN`, from Node's environment. */
  static fromEnv(
    env: Record<string, string | undefined> = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {},
    options: Partial<KvsClientOptions> = {},
  ): KvsClient {
    return new KvsClient({ url: env['KVS_URL'] || DEFAULT_URL, ...(env['KVS_TOKEN'] ? { token: env['KVS_TOKEN'] } : {}), ...options });
  }

  /** The server's base URL. */
  get url(): string {
    return this.transport.baseUrl;
  }

  /** The key with its value and metadata, or null when it does not exist. */
  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Entry | null> {
    const response = await this.transport.send({ method: 'GET', path: keyPath(key), retry: 'read', expected: [404], signal: options.signal });
    if (response.status === 404) {
      await assertKeyNotFound(response);
      return null;
    }
    return entryFromResponse(key, response.headers, new Uint8Array(await response.arrayBuffer()));
  }

  /**
   * Creates or replaces the key. A string is stored as UTF-8 text, bytes as
   * bytes (application/octet-stream), anything else as JSON; `contentType`
   * overrides. A failed `ifRevision` or `ifAbsent` throws PreconditionFailedError.
   */
  async put(key: string, value: Value, options: PutOptions = {}): Promise<WriteResult> {
    const { body, contentType } = valueBody(value);
    const headers: Record<string, string> = { 'content-type': options.contentType ?? contentType };
    if (options.ifRevision !== undefined) headers['if-match'] = `"${options.ifRevision}"`;
    if (options.ifAbsent === true) headers['if-none-match'] = '*';
    const conditional = options.ifRevision !== undefined || options.ifAbsent === true;
    const response = await this.transport.send({
      method: 'PUT',
      path: keyPath(key),
      query: { ttl: options.ttlSeconds },
      headers,
      body,
      // Sent again only if it never reached the server: a repeated create would report "replaced".
      retry: conditional ? 'never' : 'unsent',
      signal: options.signal,
    });
    return writeResultFrom((await response.json()) as Json, response.status === 201);
  }

  /** Deletes the key: true if it existed. A failed `ifRevision` throws PreconditionFailedError. */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    const headers: Record<string, string> = options.ifRevision === undefined ? {} : { 'if-match': `"${options.ifRevision}"` };
    const response = await this.transport.send({
      method: 'DELETE',
      path: keyPath(key),
      headers,
      // Sent again only if it never reached the server: a repeated delete that had applied would say "not found".
      retry: options.ifRevision === undefined ? 'unsent' : 'never',
      expected: [404],
      signal: options.signal,
    });
    if (response.status === 404) {
      await assertKeyNotFound(response);
      return false;
    }
    return true;
  }

  /** Deletes every key under `prefix` (non-empty) at one revision; with `dryRun`, only counts them. */
  deletePrefix(prefix: string, options: { dryRun: true; signal?: AbortSignal }): Promise<{ matched: number }>;
  deletePrefix(prefix: string, options?: { dryRun?: false; signal?: AbortSignal }): Promise<DeletePrefixResult>;
  async deletePrefix(prefix: string, options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<DeletePrefixResult | { matched: number }> {
    const dryRun = options.dryRun === true;
    const response = await this.transport.send({
      method: 'DELETE',
      path: '/v1/kv',
      query: { prefix, dry_run: dryRun ? 'true' : undefined },
      retry: dryRun ? 'read' : 'never',
      signal: options.signal,
    });
    return (await response.json()) as DeletePrefixResult | { matched: number };
  }

  /** Adds `by` (an integer, may be negative) to the counter under `key` (missing counts as 0). Never retried. */
  async add(key: string, by = 1, options: { ifRevision?: number; signal?: AbortSignal } = {}): Promise<AddResult> {
    const headers: Record<string, string> = options.ifRevision === undefined ? {} : { 'if-match': `"${options.ifRevision}"` };
    const response = await this.transport.send({
      method: 'POST',
      path: keyPath(key),
      query: { op: 'add', by },
      headers,
      retry: 'never',
      signal: options.signal,
    });
    const json = (await response.json()) as Json;
    return { key: json.key as string, value: json.value as number, revision: json.revision as number, version: json.version as number };
  }

  /**
   * A listing. Awaited, one page; iterated (`for await`), every item of every
   * page; `.pages()` for whole pages with their `prefixes`.
   *
   * @example
   * for await (const item of kvs.list({ prefix: 'app/' })) console.log(item.key);
   */
  list(options: ListOptions = {}): ListQuery {
    return new ListQuery(options, (page) => this.listPage(page));
  }

  private async listPage(options: ListOptions): Promise<ListPage> {
    const response = await this.transport.send({
      method: 'GET',
      path: '/v1/kv',
      query: {
        prefix: options.prefix,
        start: options.start,
        end: options.end,
        reverse: options.reverse === true ? 'true' : undefined,
        values: options.values === true ? 'true' : undefined,
        delimiter: options.delimiter,
        limit: options.limit,
        cursor: options.cursor,
      },
      retry: 'read',
      signal: options.signal,
    });
    const json = (await response.json()) as { items: Json[]; prefixes?: string[]; cursor: string | null; revision: number };
    return { items: json.items.map(listItemFrom), prefixes: json.prefixes ?? [], cursor: json.cursor, revision: json.revision };
  }

  /**
   * Checks, then ops, atomically at one revision (API.md §5). Failed checks
   * throw TxnConflictError (with `failedChecks`); nothing applied. Never retried.
   */
  async txn(request: TxnRequest, options: { signal?: AbortSignal } = {}): Promise<TxnResult> {
    // Bytes go as base64. Anything else goes as given, well-formed or not (a body read from a file, or from
    // JavaScript without types): the server judges it, and a malformed one is its 400, InvalidRequestError.
    const ops: unknown = Array.isArray(request.ops) ? request.ops.map(withBytesAsBase64) : request.ops;
    const body = JSON.stringify({ ...request, ops });
    const response = await this.transport.send({
      method: 'POST',
      path: '/v1/txn',
      headers: { 'content-type': 'application/json' },
      body,
      retry: 'never',
      signal: options.signal,
    });
    const json = (await response.json()) as { revision: number; results: Json[] };
    return { revision: json.revision, results: json.results.map(txnResultFrom) };
  }

  /**
   * The change feed: every revision that changes a matching key, in order,
   * each once, resuming by itself after a dropped connection. Throws
   * HistoryCompactedError when it cannot resume without a gap.
   *
   * @example
   * for await (const { revision, events } of kvs.watch({ prefix: 'app/', signal })) { ... }
   */
  watch(options: WatchOptions): AsyncIterable<WatchMessage> {
    if ((options.key === undefined) === (options.prefix === undefined))
      throw new TypeError('watch needs exactly one of "key" and "prefix" (prefix "" for all keys)');
    return watchChanges(this.transport, options);
  }

  /**
   * Waits until `key` changes from `revision` (the `Prefer: wait` long-poll),
   * at most `seconds` (1..300). A key missing from the start is `deleted`.
   */
  async waitForChange(key: string, options: { revision: number; seconds: number; signal?: AbortSignal }): Promise<WaitResult> {
    const response = await this.transport.send({
      method: 'GET',
      path: keyPath(key),
      headers: { 'if-none-match': `"${options.revision}"`, prefer: `wait=${options.seconds}` },
      retry: 'read',
      expected: [304, 404],
      timeoutMs: options.seconds * 1000 + this.transport.timeoutMs,
      signal: options.signal,
    });
    if (response.status === 304) return { status: 'unchanged' };
    if (response.status === 404) {
      await assertKeyNotFound(response);
      return { status: 'deleted' };
    }
    return { status: 'changed', entry: entryFromResponse(key, response.headers, new Uint8Array(await response.arrayBuffer())) };
  }

  /** Store revision, key count, engine, version (needs an admin token when tokens are configured). */
  async status(options: { signal?: AbortSignal } = {}): Promise<StoreStatus> {
    return (await (await this.transport.send({ method: 'GET', path: '/v1/status', retry: 'read', signal: options.signal })).json()) as StoreStatus;
  }

  /** The server's limits (key and value sizes, txn ops, TTL, history). */
  async limits(options: { signal?: AbortSignal } = {}): Promise<ServerLimits> {
    return (await (await this.transport.send({ method: 'GET', path: '/v1/limits', retry: 'read', signal: options.signal })).json()) as ServerLimits;
  }

  /** The client's token: its name, whether it is admin, and its grants (`GET /v1/auth/me`). */
  async me(options: { signal?: AbortSignal } = {}): Promise<TokenInfo> {
    return (await (await this.transport.send({ method: 'GET', path: '/v1/auth/me', retry: 'read', signal: options.signal })).json()) as TokenInfo;
  }

  /** True when the server answers `/readyz` with 200. */
  async ready(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const response = await this.transport.send({ method: 'GET', path: '/readyz', retry: 'read', expected: [503], signal: options.signal });
    return response.status === 200;
  }

  /** Every live key under `prefix` from one snapshot, as NDJSON records, streamed (admin). */
  async *export(prefix = '', options: { signal?: AbortSignal } = {}): AsyncGenerator<ExportRecord> {
    const response = await this.transport.send({
      method: 'GET',
      path: '/v1/admin/export',
      query: { prefix: prefix === '' ? undefined : prefix },
      retry: 'read',
      stream: true,
      signal: options.signal,
    });
    for await (const line of linesOf(response.body!)) yield JSON.parse(line) as ExportRecord;
  }

  /**
   * Imports an export (NDJSON), or with `format: 'seed'` the original server's data file, all or nothing (admin).
   * `onUploadProgress` (Node only) is told how many bytes were sent so far. Waits for the answer an hour at least,
   * whatever `timeoutMs` says: the server applies the whole import before it answers.
   */
  async import(
    data: string | Uint8Array,
    options: { format?: 'ndjson' | 'seed'; signal?: AbortSignal; onUploadProgress?: (sentBytes: number, totalBytes: number) => void } = {},
  ): Promise<ImportResult> {
    const format = options.format ?? 'ndjson';
    const response = await this.transport.send({
      method: 'POST',
      path: '/v1/admin/import',
      query: { format: format === 'ndjson' ? undefined : format },
      headers: { 'content-type': format === 'seed' ? 'application/json' : 'application/x-ndjson' },
      body: typeof data === 'string' ? utf8Bytes(data) : data,
      ...(options.onUploadProgress === undefined ? {} : { onUploadProgress: options.onUploadProgress }),
      retry: 'never',
      timeoutMs: Math.max(this.transport.timeoutMs, IMPORT_ANSWER_TIMEOUT_MS),
      signal: options.signal,
    });
    return (await response.json()) as ImportResult;
  }

  /** A consistent snapshot of the embedded store, streamed while the server serves (admin). */
  async backup(options: { signal?: AbortSignal } = {}): Promise<Backup> {
    // The server copies the whole store before it answers (seconds per GB): its headers may take far longer than
    // the client's timeout, which then guards the stream. Never sent twice: each attempt is a full copy.
    const response = await this.transport.send({
      method: 'GET',
      path: '/v1/admin/backup',
      retry: 'never',
      timeoutMs: Math.max(this.transport.timeoutMs, BACKUP_HEADERS_TIMEOUT_MS),
      stream: true,
      signal: options.signal,
    });
    const length = response.headers.get('content-length');
    const digest = /sha-256=:([^:]+):/i.exec(response.headers.get('repr-digest') ?? '');
    return {
      revision: Number(response.headers.get('kv-revision')),
      size: length === null ? null : Number(length),
      sha256: digest?.[1] ?? null,
      body: response.body!,
    };
  }
}

/** A txn put whose value is bytes, as the API takes it: base64 (API.md §5); any other op (or non-op) as it is. */
function withBytesAsBase64(op: unknown): unknown {
  const put = op as { op?: unknown; value?: unknown } | null;
  if (typeof put !== 'object' || put === null || put.op !== 'put' || !(put.value instanceof Uint8Array)) return op;
  return { ...put, value: bytesToBase64(put.value), encoding: 'base64' };
}

/** `/v1/kv/{key}` with each segment percent-encoded and `/` kept (API.md §2: the path is decoded once). */
export function keyPath(key: string): string {
  // Keys kvs refuses that cannot even be sent: said here as the server would say it (API.md §2).
  // encodeURIComponent throws a URIError on a lone surrogate.
  if (!isWellFormed(key)) throw invalidKey(key, 'is not valid Unicode (it has a lone surrogate)');
  const segments = key.split('/');
  // A URL parser (fetch's) resolves `.` and `..` segments, percent-encoded or not: `a/../b` would be sent as `b`,
  // and a put or delete would change that other key.
  if (segments.some((segment) => segment === '.' || segment === '..')) throw invalidKey(key, 'has "." or ".." as a "/"-separated segment');
  return `/v1/kv/${segments.map(encodeURIComponent).join('/')}`;
}

function invalidKey(key: string, why: string): InvalidRequestError {
  return new InvalidRequestError({ status: 400, code: 'invalid_key', detail: `the key ${JSON.stringify(key)} ${why}; kvs does not take it` });
}

/** A 404 that is not `key_not_found` (a proxy's page, a wrong base URL) is an error, not "missing". */
async function assertKeyNotFound(response: Response): Promise<void> {
  const problem = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (problem.code !== 'key_not_found') {
    const detail = typeof problem.detail === 'string' ? problem.detail : 'HTTP 404 without a kvs key_not_found problem: is the URL that of a kvs server?';
    throw errorFromProblem({ ...problem, status: 404, code: typeof problem.code === 'string' ? problem.code : 'not_found', detail });
  }
}

function txnResultFrom(json: Json): TxnOpResult {
  switch (json.op) {
    case 'put':
      return { op: 'put', ...writeResultFrom(json, json.created === true) };
    case 'delete':
      return { op: 'delete', key: json.key as string, deleted: json.deleted === true };
    case 'add':
      return { op: 'add', key: json.key as string, value: json.value as number, revision: json.revision as number, version: json.version as number };
    default:
      return { op: 'get', key: json.key as string, entry: json.found === true ? entryFromEnvelope(json) : null };
  }
}
