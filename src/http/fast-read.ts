import type { IncomingMessage, ServerResponse } from 'node:http';
import { allows, keyAccess } from '../auth/access.js';
import type { Gatekeeper } from '../auth/gatekeeper.js';
import type { HttpDeps } from './deps.js';
import type { ClientAddress } from './plugins/access.js';
import { KEY_PATH_PREFIX, keyFromUrl, readHeaderList } from './key-path.js';

export const KEY_ROUTE = '/v1/kv/*';

/**
 * The hot path of `GET /v1/kv/{key}`, answered before Fastify sees the
 * request. Fastify's per-request machinery (request and reply objects, hooks,
 * the send pipeline) costs about as much CPU as the rest of a read together;
 * this path serves the plain case with the same headers and body.
 *
 * It answers only: GET, a valid key that exists, no `If-None-Match`, no
 * `Prefer`. For anything else it returns false and the Fastify route answers
 * in full, so every 304, 404, 4xx and `Prefer: wait` long-poll stays in one
 * place (routes/kv.ts). Checks that every request must pass (authentication, when it
 * exists) is made here too, by the same Gatekeeper as Fastify's hooks.
 */
export function createFastRead(deps: HttpDeps, gatekeeper: Gatekeeper, clientAddress: ClientAddress): ((request: IncomingMessage, response: ServerResponse) => boolean) | null {
  const { syncReader, limits, metrics } = deps;
  if (syncReader === null) return null;
  // The series this path feeds, looked up once: the Fastify route's labels for the same requests.
  const answered = metrics.requests.series(['GET', KEY_ROUTE, '200']);
  const observeDuration = metrics.durations.observer(['GET', KEY_ROUTE]);

  return (request, response) => {
    // With rate limiting on, every request goes through the route's hooks, so
    // that none is charged twice (here, then again after falling through).
    if (gatekeeper.limitsRate) return false;
    const url = request.url;
    if (request.method !== 'GET' || url === undefined || !url.startsWith(KEY_PATH_PREFIX)) return false;
    const headers = request.headers;
    if (headers['if-none-match'] !== undefined || headers.prefer !== undefined) return false;
    const startedAt = performance.now();
    let entry;
    try {
      const key = keyFromUrl(url, limits.maxKeyBytes);
      // The same admission and grant check as the route's hooks; any refusal is answered there.
      const admission = gatekeeper.admit(headers.authorization, clientAddress(request));
      if (!admission.ok || !allows(admission.principal, keyAccess(key, 'read'))) return false;
      const read = syncReader.getSync(key);
      entry = read.entry;
      if (entry === null) return false;
      response.writeHead(200, readHeaderList(entry, read.revision));
    } catch {
      // An invalid key, the engine closing, or a bug: nothing is written yet,
      // so the Fastify route answers, with a 4xx or a logged 500.
      return false;
    }
    response.end(entry.value);
    answered.value++;
    observeDuration((performance.now() - startedAt) / 1000);
    return true;
  };
}
