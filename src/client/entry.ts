import { utf8 } from './values.js';

/** What every form of a key's metadata carries (a read, a listing item, a watch event). */
export interface EntryMeta {
  key: string;
  contentType: string;
  /** Revision of the write that last changed the key (its ETag). */
  revision: number;
  /** Revision of the write that created the key. */
  createRevision: number;
  /** Writes since the key was created; 1 for a new key. */
  version: number;
  /** When the key expires, or null without a TTL. */
  expiresAt: Date | null;
}

/**
 * A key with its value, as `get` and a txn `get` return it. `value` is the
 * stored bytes (from a listing, watch or txn of a JSON value: its JSON text,
 * re-serialised).
 */
export class Entry implements EntryMeta {
  readonly key: string;
  readonly value: Uint8Array;
  readonly contentType: string;
  readonly revision: number;
  readonly createRevision: number;
  readonly version: number;
  readonly expiresAt: Date | null;

  constructor(meta: EntryMeta, value: Uint8Array) {
    this.key = meta.key;
    this.value = value;
    this.contentType = meta.contentType;
    this.revision = meta.revision;
    this.createRevision = meta.createRevision;
    this.version = meta.version;
    this.expiresAt = meta.expiresAt;
  }

  /** The value as UTF-8 text. */
  text(): string {
    return utf8(this.value);
  }

  /** The value parsed as JSON; throws a SyntaxError when it is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}

/** A deadline as the API writes it (RFC 3339), or null. */
export function parseExpiry(text: unknown): Date | null {
  return typeof text === 'string' && text !== '' ? new Date(text) : null;
}
