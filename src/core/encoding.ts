import { KvError } from './errors.js';

/**
 * How a value is shown inside a JSON envelope (list, txn, watch, seed /get):
 * `json` embeds it as JSON, `utf8` as a string, `base64` as base64 text.
 */
export type ValueEncoding = 'json' | 'utf8' | 'base64';

export const JSON_CONTENT_TYPE = 'application/json';
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** `application/json`, `text/json` and any `type/x+json`, with or without parameters. */
export const JSON_MEDIA_TYPE = /^\s*(?:application\/json|text\/json|[\w.!#$&^+-]+\/[\w.!#$&^+-]+\+json)\s*(?:;.*)?$/i;

/** True for `application/json`, `application/problem+json`, `text/json` and the like, with or without parameters. */
export function isJsonContentType(contentType: string): boolean {
  return JSON_MEDIA_TYPE.test(contentType);
}

// ignoreBOM keeps a leading U+FEFF: stripping it would change the value.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes bytes as UTF-8, or returns null when they are not valid UTF-8. */
export function tryDecodeUtf8(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

export interface EncodedValue {
  value: unknown;
  encoding: ValueEncoding;
}

/**
 * Presents stored bytes in a JSON envelope (API.md §2): JSON content types are
 * embedded as JSON when they parse, other valid UTF-8 becomes a string, anything
 * else base64.
 */
export function encodeValueForEnvelope(bytes: Buffer, contentType: string): EncodedValue {
  const text = tryDecodeUtf8(bytes);
  if (text === null) return { value: bytes.toString('base64'), encoding: 'base64' };
  if (isJsonContentType(contentType) && jsonNestingDepth(text) <= MAX_EMBEDDED_JSON_DEPTH) {
    try {
      return { value: JSON.parse(text), encoding: 'json' };
    } catch {
      // Stored with a JSON type but not JSON (possible through a raw PUT): show the text.
    }
  }
  return { value: text, encoding: 'utf8' };
}

/**
 * Turns a value from a JSON envelope (txn put) into bytes and its default
 * content type. `json` (the default) serialises any JSON value; `utf8` needs a
 * string; `base64` needs a canonical base64 string.
 */
export function decodeValueFromEnvelope(value: unknown, encoding: ValueEncoding, where: string): { bytes: Buffer; contentType: string } {
  switch (encoding) {
    case 'json':
      if (value === undefined) throw new KvError('invalid_request', `${where}.value is required`);
      return { bytes: Buffer.from(stringifyJsonValue(value, `${where}.value`), 'utf8'), contentType: JSON_CONTENT_TYPE };
    case 'utf8':
      if (typeof value !== 'string' || !value.isWellFormed()) {
        throw new KvError('invalid_request', `${where}.value must be a well-formed string when encoding is "utf8"`);
      }
      return { bytes: Buffer.from(value, 'utf8'), contentType: 'text/plain; charset=utf-8' };
    case 'base64': {
      if (typeof value !== 'string' || !isCanonicalBase64(value)) {
        throw new KvError('invalid_request', `${where}.value must be a base64 string when encoding is "base64"`);
      }
      return { bytes: Buffer.from(value, 'base64'), contentType: DEFAULT_CONTENT_TYPE };
    }
  }
}

const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Node's base64 decoder silently skips junk and ignores stray padding bits;
 * this accepts only the one spelling that decodes and re-encodes unchanged.
 */
export function isCanonicalBase64(text: string): boolean {
  return BASE64_PATTERN.test(text) && Buffer.from(text, 'base64').toString('base64') === text;
}

/**
 * JSON values nested deeper than this are shown as `utf8` text in envelopes
 * instead of embedded JSON: parsing and re-serialising them recursively could
 * exhaust the stack, and no real document nests this deep.
 */
export const MAX_EMBEDDED_JSON_DEPTH = 512;

/** The deepest nesting of arrays and objects in JSON text, counted without parsing (brackets inside strings don't count). */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (char === 0x5d || char === 0x7d) depth--;
  }
  return deepest;
}

/** JSON.stringify that reports a value too deeply nested to serialise as a 400, not a crash. */
export function stringifyJsonValue(value: unknown, where: string): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof RangeError) throw new KvError('invalid_json', `${where} is nested too deeply`);
    throw error;
  }
}

/** Characters Node accepts in a header value: a stored content type is sent back as one. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Validates a content type given in a JSON body (txn, import); returns it. */
export function validateContentType(value: unknown, where: string, maxChars: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxChars || !HEADER_VALUE.test(value)) {
    throw new KvError('invalid_request', `${where} must be a non-empty header value of at most ${maxChars} characters`);
  }
  return value;
}

export function parseValueEncoding(value: unknown, where: string): ValueEncoding {
  if (value === undefined) return 'json';
  if (value === 'json' || value === 'utf8' || value === 'base64') return value;
  throw new KvError('invalid_request', `${where}.encoding must be "json", "utf8" or "base64"`);
}
