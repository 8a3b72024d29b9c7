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
export function keyFromUrl(url: string, keyBytesMax: number): string {
  const query = url.indexOf('?');
  const rawKey = url.slice(KEY_PATH_PREFIX.length, query === -1 ? undefined : query);
  return validateKey(decodePathKey(rawKey), keyBytesMax);
}

/**
 * Sent with every stored value: a value is bytes of whatever type its writer
 * said (`text/html`, `image/svg+xml`...), served on the console's own origin.
 * `nosniff` keeps a browser from guessing a more dangerous type than the one
 * stored; `sandbox` makes a document opened from it a unique origin without
 * script, so it can reach neither the console's token nor the API.
 */
export const VALUE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'content-security-policy': 'sandbox',
});

/** VALUE_SECURITY_HEADERS as name, value, name, value... (the fast path's form). */
const VALUE_SECURITY_HEADER_LIST: readonly string[] = Object.freeze(Object.entries(VALUE_SECURITY_HEADERS).flat());

/** The headers of a successful read (API.md §3), except Content-Type and Content-Length. */
export function readHeaders(entry: Entry, storeRevision: Revision): Record<string, string> {
  const headers: Record<string, string> = {
    etag: etag(entry.revision),
    'kv-revision': String(storeRevision),
    'kv-create-revision': String(entry.createRevision),
    'kv-version': String(entry.version),
    'cache-control': 'no-cache',
    ...VALUE_SECURITY_HEADERS,
  };
  if (entry.expiresAtMs !== null) headers['kv-expires-at'] = formatExpiry(entry.expiresAtMs);
  return headers;
}

/**
 * The same headers as readHeaders, with Content-Type and Content-Length, as
 * the flat list `writeHead` takes (name, value, ...): no object to build and
 * walk on the fast path.
 */
export function readHeaderList(entry: Entry, storeRevision: Revision): string[] {
  const list = [
    'etag',
    etag(entry.revision),
    'kv-revision',
    String(storeRevision),
    'kv-create-revision',
    String(entry.createRevision),
    'kv-version',
    String(entry.version),
    'cache-control',
    'no-cache',
    ...VALUE_SECURITY_HEADER_LIST,
    'content-type',
    entry.contentType,
    'content-length',
    String(entry.value.length),
  ];
  if (entry.expiresAtMs !== null) list.push('kv-expires-at', formatExpiry(entry.expiresAtMs));
  return list;
}
