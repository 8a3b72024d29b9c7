import { KvError } from './errors.js';

/**
 * Validates a key against API.md §2 and returns it unchanged.
 * A key is 1..keyBytesMax UTF-8 bytes, has no U+0000, no lone surrogate
 * (it could not round-trip through UTF-8), and no `.` or `..` segment.
 *
 * @example validateKey('app/config', 1024) // → 'app/config'
 * @example validateKey('a/../b', 1024)     // throws invalid_key
 */
export function validateKey(key: unknown, keyBytesMax: number): string {
  if (typeof key !== 'string') {
    throw new KvError('invalid_key', 'the key must be a string');
  }
  if (key.length === 0) {
    throw new KvError('invalid_key', 'the key must not be empty');
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > keyBytesMax) {
    throw new KvError('invalid_key', `the key is ${bytes} bytes long; the limit is ${keyBytesMax}`, { limit: keyBytesMax });
  }
  if (key.includes('\u0000')) {
    throw new KvError('invalid_key', 'the key must not contain U+0000');
  }
  if (!key.isWellFormed()) {
    throw new KvError('invalid_key', 'the key must be valid Unicode (it contains a lone surrogate)');
  }
  if (hasDotSegment(key)) {
    throw new KvError('invalid_key', 'the key must not contain "." or ".." as a "/"-separated segment');
  }
  return key;
}

function hasDotSegment(key: string): boolean {
  // Fast path: most keys have no dot at all.
  if (!key.includes('.')) return false;
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..') return true;
  }
  return false;
}

/**
 * Decodes the key part of a `/v1/kv/{key}` path: percent-decoded exactly once.
 * Throws invalid_key on malformed percent-encoding.
 */
export function decodePathKey(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new KvError('invalid_key', 'the key in the path has invalid percent-encoding');
  }
}

/** UTF-8 bytes of a key: the order keys sort in. */
export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

/**
 * The smallest byte string greater than every string that starts with `prefix`,
 * or null when no such string exists (the prefix is all 0xff bytes, or empty).
 * Same as etcd's `clientv3.GetPrefixRangeEnd`.
 */
export function prefixEnd(prefix: Buffer): Buffer | null {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return null;
}

/** The immediate successor of `key` in byte order: key + 0x00. */
export function keySuccessor(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}
