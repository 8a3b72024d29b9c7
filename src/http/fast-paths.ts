import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { allows, keyAccess } from '../auth/access.js';
import type { Gatekeeper } from '../auth/gatekeeper.js';
import type { Principal } from '../auth/tokens.js';
import { DEFAULT_CONTENT_TYPE } from '../core/encoding.js';
import { isKvError, KvError, type ErrorFacts } from '../core/errors.js';
import type { Revision } from '../core/types.js';
import type { FreshReader, ReadResult, TxnRequest, TxnResult } from '../engine/engine.js';
import { etag } from './conditions.js';
import type { HttpDeps } from './deps.js';
import { KEY_PATH_PREFIX, keyFromUrl, readHeaderList } from './key-path.js';
import type { ClientAddress } from './plugins/access.js';
import { errorAnswer, INTERNAL_ERROR, logUnhandled, pathOf, type ErrorAnswer, type ErrorFormat } from './plugins/errors.js';
import { rejectionReason } from './plugins/metrics.js';
import { writeResultJson } from './presenters.js';
import { assertSeedDeleted, assertSeedWritten, parseSeedPut, SEED_SUCCESS_BODY, seedDeleteTxn, seedGetBody, seedKey, seedPutTxn } from './routes/seed.js';

export const KEY_ROUTE = '/v1/kv/*';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Counts an answer in the route's metrics: its status, and its duration from `startedAt`. */
type Counted = (status: number, startedAt: number) => void;

/** Hands a request to Fastify. */
type Fallback = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Answers a request before Fastify (true), or leaves it to Fastify (false)
 * having written nothing. A path that took a request may still hand it to
 * Fastify later through `fallback` (the etcd engine's replica reads).
 */
export interface FastPaths {
  (request: IncomingMessage, response: ServerResponse, fallback: Fallback): boolean;
  /** From now on every request goes to Fastify (which answers 503 while the server closes). */
  close(): void;
  /** Requests these paths took on so far (tests check which path answered). */
  readonly answered: number;
}

/**
 * The hot paths of the embedded engine, answered on the `node:http` request before Fastify sees it
 * (docs/adr/0003-fast-read-path.md, docs/adr/0013-durable-write-path.md).
 * Fastify's per-request machinery (request and reply objects, hooks, body
 * parsing, the send pipeline) costs as much CPU as the rest of a read
 * together, and a sixth of a durable write.
 *
 * - `GET /v1/kv/{key}` without a query (`?stale`, or anything the route
 *   would refuse), `If-None-Match`, `Prefer` or a body: the value, or the
 *   404 of a missing key;
 * - `PUT /v1/kv/{key}` without a query (no TTL), `If-Match` or
 *   `If-None-Match`, with a Content-Length within the value limit;
 * - the seed's `GET /get?key=` and `DELETE /del?key=` without a body, and
 *   `POST /put` (with a Content-Length within the request limit), the key
 *   given plainly.
 *
 * Each is decided by the same functions as its Fastify route (key parsing,
 * seed.ts's, the engine's txn) and answered with the same bytes (errors
 * through errors.ts's errorAnswer), after the same Gatekeeper; it feeds the
 * same metrics. Anything else — a refused token, an invalid key, a query
 * the route would parse, a body too large or chunked, any body on a DELETE
 * (the route reads it first, and refuses one over the request limit with
 * 413 without deleting) or on a GET (Fastify ignores it today; the route
 * decides), conditions, rate limiting on, the server closing — returns
 * false before anything is written or read, and the Fastify route answers
 * in full. Once a path has started reading a body it answers
 * everything itself. test/integration/fast-paths.test.ts sends the same
 * requests through both and compares the answers byte for byte.
 */
export function createFastPaths(deps: HttpDeps, gatekeeper: Gatekeeper, clientAddress: ClientAddress, logger: Logger): FastPaths | null {
  const { syncReader, freshReader, engine, limits, metrics } = deps;
  // On an engine without synchronous reads (etcd) a write is a network round trip and Fastify's share is
  // small: only plain reads from the node's replica are taken (replicaReads), the routes answer the rest.
  if (syncReader === null) return freshReader === null ? null : replicaReads(deps, freshReader, gatekeeper, clientAddress);
  let open = true;

  /** engine.txn, with an error it throws (the engine closed under a request) as a rejection, as in an async route. */
  const txn = (request: TxnRequest): Promise<TxnResult> => {
    try {
      return engine.txn(request);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  /** The metrics of one route: requests by status (the series looked up once each), durations. */
  const routeMetrics = (method: string, route: string): Counted => {
    const byStatus = new Map<number, { value: number }>();
    const observeDuration = metrics.durations.observer([method, route]);
    return (status: number, startedAt: number) => {
      let series = byStatus.get(status);
      if (series === undefined) {
        series = metrics.requests.series([method, route, String(status)]);
        byStatus.set(status, series);
      }
      series.value++;
      observeDuration((performance.now() - startedAt) / 1000);
    };
  };
  const counted = {
    getKey: routeMetrics('GET', KEY_ROUTE),
    putKey: routeMetrics('PUT', KEY_ROUTE),
    seedGet: routeMetrics('GET', '/get'),
    seedPut: routeMetrics('POST', '/put'),
    seedDelete: routeMetrics('DELETE', '/del'),
  };

  /** The principal of an admitted request, or null (refused: Fastify's hooks answer it). */
  const admitted = (request: IncomingMessage): Principal | null => {
    const admission = gatekeeper.admit(request.headers.authorization, clientAddress(request));
    return admission.ok ? admission.principal : null;
  };

  /** Answers an error as the Fastify route would (errors.ts), counting refusals as its hooks do. */
  const answerError = (request: IncomingMessage, response: ServerResponse, error: unknown, format: ErrorFormat, count: Counted, startedAt: number) => {
    let facts: ErrorFacts;
    if (isKvError(error)) {
      facts = error;
      const reason = rejectionReason(error);
      if (reason !== null) metrics.rejected.inc([reason]);
    } else {
      logUnhandled(logger, error, request.method, request.url);
      facts = INTERNAL_ERROR;
    }
    sendAnswer(response, errorAnswer(facts, format, pathOf(request.url!)), count, startedAt);
  };

  const sendAnswer = (response: ServerResponse, answer: ErrorAnswer, count: Counted, startedAt: number, before: string[] = []) => {
    const body = Buffer.from(answer.body);
    response.writeHead(answer.status, [...before, ...answer.headers, 'content-length', String(body.length)]);
    response.end(body);
    count(answer.status, startedAt);
  };

  // The 404 of a missing key, as the routes throw it (without an Error: a stack costs more than the read).
  const seedNotFound = errorAnswer({ code: 'key_not_found', message: 'Key not found', extras: {} }, 'seed', '/get');
  const keyNotFound = (key: string, url: string) =>
    errorAnswer({ code: 'key_not_found', message: `no key ${JSON.stringify(key)}`, extras: {} }, 'problem', pathOf(url));

  const answerJson = (response: ServerResponse, status: number, body: string, headers: string[] = []) => {
    response.writeHead(status, [...headers, 'content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(body))]);
    response.end(body);
  };

  /**
   * GET /v1/kv/{key}: the value (ADR 0003), or the 404 problem of a missing key.
   * Not with a query: the route parses it (`?stale=bogus`, a repeated `stale`:
   * 400). A valid `?stale` reads the same here (the engine ignores it) and is
   * answered by the route too, at the route's cost.
   */
  const getKey = (request: IncomingMessage, response: ServerResponse, url: string): boolean => {
    const headers = request.headers;
    if (url.includes('?') || headers['if-none-match'] !== undefined || headers.prefer !== undefined || hasBody(request)) return false;
    const startedAt = performance.now();
    let entry;
    let revision: Revision;
    try {
      const key = keyFromUrl(url, limits.keyBytesMax);
      const principal = admitted(request);
      if (principal === null || !allows(principal, keyAccess(key, 'read'))) return false;
      ({ entry, revision } = syncReader.getSync(key));
      if (entry === null) {
        sendAnswer(response, keyNotFound(key, url), counted.getKey, startedAt, ['kv-revision', String(revision)]);
        return true;
      }
      response.writeHead(200, readHeaderList(entry, revision));
    } catch {
      // An invalid key, the engine closing, or a bug: nothing is written yet,
      // so the Fastify route answers, with a 4xx or a logged 500.
      return false;
    }
    response.end(entry.value);
    counted.getKey(200, startedAt);
    return true;
  };

  /** GET /get?key=: the seed's envelope, or its 404. */
  const seedGet = (request: IncomingMessage, response: ServerResponse, key: string): boolean => {
    const startedAt = performance.now();
    let body: string;
    try {
      const principal = admitted(request);
      if (principal === null || !allows(principal, keyAccess(seedKey(key, limits), 'read'))) return false;
      const { entry } = syncReader.getSync(key);
      if (entry === null) {
        sendAnswer(response, seedNotFound, counted.seedGet, startedAt);
        return true;
      }
      body = JSON.stringify(seedGetBody(entry));
    } catch {
      return false;
    }
    answerJson(response, 200, body);
    counted.seedGet(200, startedAt);
    return true;
  };

  /** DELETE /del?key=, without a body (the caller checks): the route reads one first, and refuses it over the request limit. */
  const seedDelete = (request: IncomingMessage, response: ServerResponse, key: string): boolean => {
    const startedAt = performance.now();
    try {
      const principal = admitted(request);
      if (principal === null || !allows(principal, keyAccess(seedKey(key, limits), 'write'))) return false;
    } catch {
      return false;
    }
    txn(seedDeleteTxn(key)).then(
      (outcome) => {
        try {
          assertSeedDeleted(outcome);
        } catch (error) {
          answerError(request, response, error, 'seed', counted.seedDelete, startedAt);
          return;
        }
        answerJson(response, 200, SEED_SUCCESS_BODY);
        counted.seedDelete(200, startedAt);
      },
      (error: unknown) => answerError(request, response, error, 'seed', counted.seedDelete, startedAt),
    );
    return true;
  };

  /** PUT /v1/kv/{key}: a plain put. */
  const putKey = (request: IncomingMessage, response: ServerResponse, url: string): boolean => {
    const headers = request.headers;
    if (url.includes('?') || headers['if-match'] !== undefined || headers['if-none-match'] !== undefined) return false;
    const length = declaredLength(request, limits.valueBytesMax);
    if (length === null) return false;
    const sent = headers['content-type']?.trim();
    const contentType = sent === undefined || sent === '' ? DEFAULT_CONTENT_TYPE : sent;
    if (contentType.length > limits.contentTypeCharsMax) return false;
    const startedAt = performance.now();
    let key: string;
    try {
      key = keyFromUrl(url, limits.keyBytesMax);
      const principal = admitted(request);
      if (principal === null || !allows(principal, keyAccess(key, 'write'))) return false;
    } catch {
      return false;
    }
    readBody(request, length, (value) => {
      txn({ compares: [], ops: [{ op: 'put', key, value, contentType, ttlMs: null }] }).then(
        (outcome: TxnResult) => {
          const result = outcome.succeeded ? outcome.results[0] : undefined;
          if (result?.op !== 'put') {
            answerError(request, response, new Error('a put returned another op'), 'problem', counted.putKey, startedAt);
            return;
          }
          const status = result.created ? 201 : 200;
          const revision = String(result.entry.revision);
          answerJson(response, status, JSON.stringify(writeResultJson(result.entry)), ['etag', etag(result.entry.revision), 'kv-revision', revision]);
          counted.putKey(status, startedAt);
        },
        (error: unknown) => answerError(request, response, error, 'problem', counted.putKey, startedAt),
      );
    });
    return true;
  };

  /** POST /put: the key (and its grant) is only known once the body is parsed, so its refusals are answered here. */
  const seedPut = (request: IncomingMessage, response: ServerResponse): boolean => {
    const length = declaredLength(request, limits.requestBytesMax);
    if (length === null) return false;
    const startedAt = performance.now();
    const principal = admitted(request);
    if (principal === null) return false;
    readBody(request, length, (body) => {
      let write;
      try {
        const { key, value } = parseSeedPut(body, undefined, limits);
        if (!allows(principal, keyAccess(key, 'write'))) throw new KvError('forbidden', `the token "${principal.name}" has no grant for this request`);
        write = txn(seedPutTxn(key, value, limits));
      } catch (error) {
        answerError(request, response, error, 'seed', counted.seedPut, startedAt);
        return;
      }
      write.then(
        (outcome) => {
          try {
            assertSeedWritten(outcome);
          } catch (error) {
            answerError(request, response, error, 'seed', counted.seedPut, startedAt);
            return;
          }
          answerJson(response, 200, SEED_SUCCESS_BODY);
          counted.seedPut(200, startedAt);
        },
        (error: unknown) => answerError(request, response, error, 'seed', counted.seedPut, startedAt),
      );
    });
    return true;
  };

  let answered = 0;
  const take = (request: IncomingMessage, response: ServerResponse): boolean => {
    const url = request.url;
    if (url === undefined) return false;
    switch (request.method) {
      case 'GET':
        if (url.startsWith(KEY_PATH_PREFIX)) return getKey(request, response, url);
        if (url.startsWith('/get?') && !hasBody(request)) {
          const key = plainSeedKey(url, '/get?key=');
          return key !== null && seedGet(request, response, key);
        }
        return false;
      case 'PUT':
        return url.startsWith(KEY_PATH_PREFIX) && putKey(request, response, url);
      case 'POST':
        return url === '/put' && seedPut(request, response);
      case 'DELETE': {
        // With a body the route answers: it reads the body before deleting, and refuses one over requestBytesMax (413).
        if (hasBody(request)) return false;
        const key = plainSeedKey(url, '/del?key=');
        return key !== null && seedDelete(request, response, key);
      }
      default:
        return false;
    }
  };
  return asFastPaths(
    (request, response) => {
      // With rate limiting on, every request goes through the route's hooks, so
      // that none is charged twice (here, then again after falling through).
      if (!open || gatekeeper.limitsRate || !take(request, response)) return false;
      answered++;
      return true;
    },
    () => {
      open = false;
    },
    () => answered,
  );
}

function asFastPaths(
  take: FastPaths extends (...args: infer A) => boolean ? (...args: A) => boolean : never,
  close: () => void,
  answered: () => number,
): FastPaths {
  const fastPaths = take as FastPaths;
  fastPaths.close = close;
  Object.defineProperty(fastPaths, 'answered', { get: answered });
  return fastPaths;
}

/**
 * The etcd engine's plain `GET /v1/kv/{key}` from the node's replica, once the
 * shared read barrier has passed (FreshReader, docs/adr/0011-replica-reads.md),
 * with the same headers and body as the route. Whatever cannot be answered
 * then (a missing key, the replica loading, etcd not answering) goes to the
 * route, late: a GET without a body has nothing Fastify would have had to
 * read meanwhile.
 */
function replicaReads(deps: HttpDeps, fresh: FreshReader, gatekeeper: Gatekeeper, clientAddress: ClientAddress): FastPaths {
  const { limits, metrics } = deps;
  const answeredSeries = metrics.requests.series(['GET', KEY_ROUTE, '200']);
  const observeDuration = metrics.durations.observer(['GET', KEY_ROUTE]);
  let open = true;
  let answered = 0;
  return asFastPaths(
    (request, response, fallback) => {
      const url = request.url;
      if (!open || gatekeeper.limitsRate || request.method !== 'GET' || url === undefined || !url.startsWith(KEY_PATH_PREFIX) || url.includes('?'))
        return false;
      const headers = request.headers;
      if (!fresh.canReadLocally || headers['if-none-match'] !== undefined || headers.prefer !== undefined || hasBody(request)) return false;
      const startedAt = performance.now();
      let key: string;
      try {
        key = keyFromUrl(url, limits.keyBytesMax);
        // The same admission and grant check as the route's hooks; any refusal is answered there.
        const admission = gatekeeper.admit(headers.authorization, clientAddress(request));
        if (!admission.ok || !allows(admission.principal, keyAccess(key, 'read'))) return false;
      } catch {
        return false; // an invalid key: the route answers with a 4xx
      }
      answered++;
      fresh.awaitFresh().then(
        (ok) => {
          let read: ReadResult | null;
          try {
            read = ok ? fresh.getLocal(key) : null;
          } catch {
            read = null;
          }
          if (read === null || read.entry === null) return fallback(request, response);
          response.writeHead(200, readHeaderList(read.entry, read.revision));
          response.end(read.entry.value);
          answeredSeries.value++;
          observeDuration((performance.now() - startedAt) / 1000);
        },
        () => fallback(request, response),
      );
      return true;
    },
    () => {
      open = false;
    },
    () => answered,
  );
}

/** Whether `request` declares a body: chunked (or any transfer coding), or a Content-Length other than 0. */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Query characters that mean the same to every parser: no `&`, `+`, `=`, `;`, `#`, `?`. */
const PLAIN_QUERY_VALUE = /^[A-Za-z0-9\-._~/!$'()*,:@%]+$/;

/**
 * The key of `/get?key=K` or `/del?key=K` when K is all there is and
 * Fastify's query parser would read it the same (percent-decoding only);
 * else null, and the route parses the query itself.
 */
function plainSeedKey(url: string, prefix: string): string | null {
  if (!url.startsWith(prefix)) return null;
  const raw = url.slice(prefix.length);
  if (!PLAIN_QUERY_VALUE.test(raw)) return null;
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * The body length a request declares, when it is within `limit` and sent
 * with a Content-Length (which Node's parser holds the body to); null for a
 * chunked body, one too large, or none declared with a transfer coding, which
 * Fastify answers.
 */
function declaredLength(request: IncomingMessage, limit: number): number | null {
  const headers = request.headers;
  if (headers['transfer-encoding'] !== undefined) return null;
  const declared = headers['content-length'];
  if (declared === undefined) return 0;
  if (!/^\d{1,15}$/.test(declared)) return null;
  const length = Number(declared);
  return length <= limit ? length : null;
}

/** The whole body of `request`, which declared `length` bytes. A client that goes away before sending it all is not answered. */
function readBody(request: IncomingMessage, length: number, done: (body: Buffer) => void): void {
  if (length === 0) {
    done(Buffer.alloc(0));
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.once('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)));
}
