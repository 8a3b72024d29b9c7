import type { IncomingMessage, ServerResponse } from 'node:http';
import { allows, keyAccess } from '../auth/access.js';
import type { Gatekeeper } from '../auth/gatekeeper.js';
import type { ReadResult } from '../engine/engine.js';
import type { HttpDeps } from './deps.js';
import type { ClientAddress } from './plugins/access.js';
import { KEY_PATH_PREFIX, keyFromUrl, readHeaderList } from './key-path.js';

export const KEY_ROUTE = '/v1/kv/*';

/**
 * The hot path of `GET /v1/kv/{key}`, answered before Fastify sees the
 * request: synchronously from the embedded engine (SyncReader), or, on etcd,
 * from the node's replica once the shared read barrier has passed
 * (FreshReader, docs/adr/0011-replica-reads.md). Fastify's per-request machinery (request and reply objects, hooks,
 * the send pipeline) costs about as much CPU as the rest of a read together;
 * this path serves the plain case with the same headers and body.
 *
 * It answers only: GET, a valid key that exists, no `If-None-Match`, no
 * `Prefer`. For anything else it returns false and the Fastify route answers
 * in full, so every 304, 404, 4xx and `Prefer: wait` long-poll stays in one
 * place (routes/kv.ts). Checks that every request must pass (authentication, when it
 * exists) is made here too, by the same Gatekeeper as Fastify's hooks.
 */
export function createFastRead(
  deps: HttpDeps,
  gatekeeper: Gatekeeper,
  clientAddress: ClientAddress,
): ((request: IncomingMessage, response: ServerResponse, fallback: (request: IncomingMessage, response: ServerResponse) => void) => boolean) | null {
  const { syncReader, freshReader, limits, metrics } = deps;
  if (syncReader === null && freshReader === null) return null;
  // The series this path feeds, looked up once: the Fastify route's labels for the same requests.
  const answered = metrics.requests.series(['GET', KEY_ROUTE, '200']);
  const observeDuration = metrics.durations.observer(['GET', KEY_ROUTE]);

  /** The key of a request this path may answer, or null when the route must. */
  const plainRead = (request: IncomingMessage): string | null => {
    // With rate limiting on, every request goes through the route's hooks, so
    // that none is charged twice (here, then again after falling through).
    if (gatekeeper.limitsRate) return null;
    const url = request.url;
    if (request.method !== 'GET' || url === undefined || !url.startsWith(KEY_PATH_PREFIX)) return null;
    const headers = request.headers;
    if (headers['if-none-match'] !== undefined || headers.prefer !== undefined) return null;
    try {
      const key = keyFromUrl(url, limits.keyBytesMax);
      // The same admission and grant check as the route's hooks; any refusal is answered there.
      const admission = gatekeeper.admit(headers.authorization, clientAddress(request));
      return admission.ok && allows(admission.principal, keyAccess(key, 'read')) ? key : null;
    } catch {
      return null; // an invalid key: the route answers with a 4xx
    }
  };

  const answer = (response: ServerResponse, read: ReadResult, startedAt: number): boolean => {
    const entry = read.entry;
    if (entry === null) return false;
    response.writeHead(200, readHeaderList(entry, read.revision));
    response.end(entry.value);
    answered.value++;
    observeDuration((performance.now() - startedAt) / 1000);
    return true;
  };

  if (syncReader !== null) {
    return (request, response) => {
      const startedAt = performance.now();
      const key = plainRead(request);
      if (key === null) return false;
      try {
        return answer(response, syncReader.getSync(key), startedAt);
      } catch {
        // The engine closing, or a bug: nothing is written yet, so the Fastify
        // route answers, with a 4xx or a logged 500.
        return false;
      }
    };
  }

  // A replica read (etcd): the plain case waits for the shared barrier, then
  // reads local memory. Whatever cannot be answered then (a missing key, the
  // replica loading, etcd not answering) goes to the route, late: a GET
  // without a body has nothing Fastify would have had to read meanwhile.
  const fresh = freshReader!;
  return (request, response, fallback) => {
    if (!fresh.canReadLocally || (request.url?.includes('?') ?? true) || hasBody(request)) return false;
    const startedAt = performance.now();
    const key = plainRead(request);
    if (key === null) return false;
    fresh.awaitFresh().then(
      (ok) => {
        let read: ReadResult | null;
        try {
          read = ok ? fresh.getLocal(key) : null;
        } catch {
          read = null;
        }
        if (read === null || !answer(response, read, startedAt)) fallback(request, response);
      },
      () => fallback(request, response),
    );
    return true;
  };
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
