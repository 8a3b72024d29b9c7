import type { Entry, EntryMeta } from './entry.js';
import type { Encoding, Value } from './values.js';

export interface PutOptions {
  /** Overrides the content type `put` infers (text, bytes, JSON). */
  contentType?: string;
  /** Expire the key this many seconds from now (ms precision). Without it, an existing TTL is cleared. */
  ttlSeconds?: number;
  /** Write only if the key is at this revision (compare-and-swap); else PreconditionFailedError. */
  ifRevision?: number;
  /** Write only if the key does not exist (create); else PreconditionFailedError. */
  ifAbsent?: boolean;
  signal?: AbortSignal;
}

export interface WriteResult {
  key: string;
  revision: number;
  createRevision: number;
  version: number;
  expiresAt: Date | null;
  /** True when the write created the key. */
  created: boolean;
}

export interface DeleteOptions {
  /** Delete only if the key is at this revision; else PreconditionFailedError. */
  ifRevision?: number;
  signal?: AbortSignal;
}

export interface AddResult {
  key: string;
  /** The counter after the add. */
  value: number;
  revision: number;
  version: number;
}

export interface ListOptions {
  /** Keys starting with this (combines with start/end as an intersection). */
  prefix?: string;
  /** First key, inclusive. */
  start?: string;
  /** Last key, exclusive. */
  end?: string;
  /** Walk descending. */
  reverse?: boolean;
  /** Include each item's value. */
  values?: boolean;
  /** Roll keys up to the first delimiter after the prefix into `prefixes` (like S3). */
  delimiter?: string;
  /** Items per page, 1..1000 (server default 100). */
  limit?: number;
  /** Continue after the page that returned this cursor. */
  cursor?: string;
  signal?: AbortSignal;
}

/** One key of a listing: its metadata, and its value when listed with `values: true`. */
export interface ListItem extends EntryMeta {
  size: number;
  value?: Uint8Array;
  /** The value as text; throws unless listed with `values: true`. */
  text(): string;
  json<T = unknown>(): T;
}

export interface ListPage {
  items: ListItem[];
  /** With a delimiter: the rolled-up prefixes of this page. */
  prefixes: string[];
  /** Pass back as `cursor` for the next page; null when this was the last. */
  cursor: string | null;
  /** The store revision the page was read at. */
  revision: number;
}

export interface DeletePrefixResult {
  deleted: number;
  revision: number;
}

export type TxnCheck = { key: string; revision: number } | { key: string; exists: boolean };

/**
 * A txn op, exactly as `/v1/txn` takes it (API.md §5): a put's `value` is JSON
 * unless `encoding` says `utf8` or `base64`; `ttl` is in seconds. A Uint8Array
 * value is sent as base64 for you.
 */
export type TxnOp =
  | { op: 'put'; key: string; value: unknown; encoding?: Encoding; contentType?: string; ttl?: number }
  | { op: 'delete'; key: string }
  | { op: 'add'; key: string; by?: number }
  | { op: 'get'; key: string };

export interface TxnRequest {
  checks?: TxnCheck[];
  ops?: TxnOp[];
}

export type TxnOpResult =
  | ({ op: 'put' } & WriteResult)
  | { op: 'delete'; key: string; deleted: boolean }
  | ({ op: 'add' } & AddResult)
  | { op: 'get'; key: string; entry: Entry | null };

export interface TxnResult {
  revision: number;
  results: TxnOpResult[];
}

export interface WatchOptions {
  /** One key (give `key` or `prefix`). */
  key?: string;
  /** Every key under it; `''` for all keys. */
  prefix?: string;
  /** Deliver changes after this revision (from history); default: from now. */
  since?: number;
  /** Include values in put events (default true). */
  values?: boolean;
  /** Ends the watch (the iterator then finishes). */
  signal?: AbortSignal;
  /** Longest wait between reconnection attempts, in ms (default 5 000). */
  reconnectDelayMaxMs?: number;
  /** A stream silent this long (ms) is taken for dead and reopened (default 45 000; the server sends progress every 10 s). */
  idleTimeoutMs?: number;
}

export interface WatchEvent {
  type: 'put' | 'delete' | 'expire';
  key: string;
  revision: number;
  /** put only */
  version?: number;
  createRevision?: number;
  contentType?: string;
  expiresAt?: Date | null;
  /** put only, unless watched with `values: false` */
  value?: Uint8Array;
  text(): string;
  json<T = unknown>(): T;
}

/** Every change of one revision that the watch matches. */
export interface WatchMessage {
  revision: number;
  events: WatchEvent[];
}

export type WaitResult =
  | { status: 'changed'; entry: Entry }
  | { status: 'deleted' }
  /** Nothing changed within the wait. */
  | { status: 'unchanged' };

export interface StoreStatus {
  revision: number;
  compactRevision: number;
  keys: number;
  engine: string;
  version: string;
  uptimeSeconds: number;
}

export interface ServerLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  maxListLimit: number;
  maxTtlSeconds: number;
  historyRetention: number;
}

/** What `GET /v1/auth/me` says of the client's token. */
export interface TokenInfo {
  /** The token's name (`admin` for KV_ADMIN_TOKEN, `local` without tokens). */
  name: string;
  /** An admin token may do everything, whatever its grants. */
  admin: boolean;
  /** Keys starting with `prefix` ('' = every key), for `actions`. */
  grants: Array<{ prefix: string; actions: Array<'read' | 'write' | 'watch'> }>;
}

/** One line of `/v1/admin/export` (API.md §11). */
export interface ExportRecord {
  key: string;
  /** base64 */
  value: string;
  contentType: string;
  expiresAt?: string;
}

export interface ImportResult {
  imported: number;
  revision: number;
}

export interface Backup {
  /** The store revision the snapshot holds. */
  revision: number;
  /** Bytes in `body`, when the server said. */
  size: number | null;
  /** SHA-256 of the snapshot (base64), from the server's Repr-Digest, when sent. */
  sha256: string | null;
  /** The snapshot's bytes: read it to the end, or cancel it. */
  body: ReadableStream<Uint8Array>;
}

export type { Value };
