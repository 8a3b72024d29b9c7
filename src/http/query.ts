import { KvError } from '../core/errors.js';

/** A parsed query string as Fastify hands it over: repeated names become arrays. */
export type Query = Record<string, string | string[] | undefined>;

/** The single value of a query parameter, or undefined. Repeating it is an error. */
export function queryString(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw new KvError('invalid_request', `the query parameter "${name}" must appear at most once`);
  return value;
}

/** `true`/`false` (also `1`/`0`); absent or empty gives `fallback`. */
export function queryBoolean(query: Query, name: string, fallback: boolean): boolean {
  const value = queryString(query, name);
  if (value === undefined || value === '') return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new KvError('invalid_request', `the query parameter "${name}" must be true or false (got ${JSON.stringify(value)})`);
}

/**
 * `?stale` (Consul's name; etcd's serializable read): a read answered from
 * the node's replica without the freshness barrier (API.md §11). Present
 * (empty, `true` or `1`) asks for it; `false` or `0` does not.
 */
export function staleParameter(query: Query): boolean {
  return query['stale'] !== undefined && queryBoolean(query, 'stale', true);
}

/** A decimal integer within [min, max]; absent gives `fallback`. */
export function queryInteger(query: Query, name: string, range: { min: number; max: number; fallback: number }): number {
  const value = queryString(query, name);
  if (value === undefined || value === '') return range.fallback;
  const number = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < range.min || number > range.max) {
    throw new KvError('invalid_request', `the query parameter "${name}" must be an integer from ${range.min} to ${range.max} (got ${JSON.stringify(value)})`);
  }
  return number;
}

/**
 * A TTL in decimal seconds with at most millisecond precision, returned in ms.
 * Absent gives null (no TTL).
 */
export function queryTtlMs(query: Query, ttlSecondsMax: number): number | null {
  const value = queryString(query, 'ttl');
  if (value === undefined) return null;
  if (!/^\d+(\.\d{1,3})?$/.test(value)) {
    throw new KvError('invalid_request', `"ttl" must be a number of seconds > 0 with at most 3 decimals (got ${JSON.stringify(value)})`);
  }
  const ttlMs = Math.round(Number(value) * 1000);
  if (ttlMs < 1 || ttlMs > ttlSecondsMax * 1000) {
    throw new KvError('invalid_request', `"ttl" must be more than 0 and at most ${ttlSecondsMax} seconds (got ${value})`);
  }
  return ttlMs;
}
