/**
 * Values between JavaScript and kvs: what a PUT sends for a string, bytes or
 * a JSON-able value, and the bytes behind a JSON envelope's
 * `value`/`encoding` (API.md §2). Platform code only (TextEncoder, atob), so
 * it runs in browsers as well as Node.
 */

/** What `put` accepts: text, bytes, or any JSON-able value (sent as `application/json`). */
export type Value = string | Uint8Array | ArrayBuffer | JsonValue;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue | undefined };

/** How a value travels in a JSON envelope (list, txn, watch). */
export type Encoding = 'json' | 'utf8' | 'base64';

export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';
export const JSON_CONTENT_TYPE = 'application/json';
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const decoder = new TextDecoder('utf-8');

/** The body and content type a raw-value PUT sends for `value`: strings as text, bytes as bytes, anything else as JSON. */
export function valueBody(value: Value): { body: Uint8Array; contentType: string } {
  if (typeof value === 'string') return { body: encoder.encode(value), contentType: TEXT_CONTENT_TYPE };
  if (value instanceof Uint8Array) return { body: value, contentType: BINARY_CONTENT_TYPE };
  if (value instanceof ArrayBuffer) return { body: new Uint8Array(value), contentType: BINARY_CONTENT_TYPE };
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('the value cannot be sent as JSON');
  return { body: encoder.encode(json), contentType: JSON_CONTENT_TYPE };
}

/** The bytes of an envelope's value: JSON values re-serialised, text as UTF-8, base64 decoded. */
export function envelopeBytes(value: unknown, encoding: Encoding | undefined): Uint8Array {
  switch (encoding) {
    case 'base64':
      return base64ToBytes(String(value));
    case 'utf8':
      return encoder.encode(String(value));
    default:
      return encoder.encode(JSON.stringify(value));
  }
}

export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** True when `bytes` are valid UTF-8. */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictDecoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export function isJsonContentType(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/** Base64 without Buffer (browsers have none). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let offset = 0; offset < bytes.length; offset += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary);
}

export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
