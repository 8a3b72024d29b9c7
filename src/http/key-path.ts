import { decodePathKey, validateKey } from '../core/keys.js';
import type { Entry, Revision } from '../core/types.js';
import { etag } from './conditions.js';
import { formatExpiry } from './presenters.js';

export const KEY_PATH_PREFIX = '/v1/kv/';

/**
 * The key of a `/v1/kv/{key}` request, from the raw request target: everything
 * after the prefix up to the query, percent-decoded exactly once and validated.
 * Fastify's decoded route parameter is not used, so that `%2F` and `/` mean
 * the same and nothing is decoded twice.
 */
export function keyFromUrl(url: string, maxKeyBytes: number): string {
  const query = url.indexOf('?');
  const rawKey = url.slice(KEY_PATH_PREFIX.length, query === -1 ? undefined : query);
  return validateKey(decodePathKey(rawKey), maxKeyBytes);
}

/** The headers of a successful read (API.md §3), except Content-Type and Content-Length. */
export function readHeaders(entry: Entry, storeRevision: Revision): Record<string, string> {
  const headers: Record<string, string> = {
    etag: etag(entry.revision),
    'kv-revision': String(storeRevision),
    'kv-create-revision': String(entry.createRevision),
    'kv-version': String(entry.version),
    'cache-control': 'no-cache',
  };
  if (entry.expiresAtMs !== null) headers['kv-expires-at'] = formatExpiry(entry.expiresAtMs);
  return headers;
}
