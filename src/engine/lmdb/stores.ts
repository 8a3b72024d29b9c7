import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import { EXPIRY_INDEX_PREFIX_BYTES } from '../../core/limits.js';
import { checkDatabaseNames } from './store-file.js';

/**
 * The LMDB databases of one kvs store, all in one environment (one file), so
 * that a transaction spans them atomically:
 *
 * - `kv`: key (UTF-8 bytes) → record (record-codec.ts): the live keys.
 * - `log`: revision → ChangeEvent-like objects (msgpack): the change log the
 *   watch feed replays; compacted to the retention window.
 * - `expiry`: expiresAtMs (float64 BE) + key bytes → 1 byte: keys by deadline,
 *   so the sweeper finds due keys without scanning the store.
 * - `meta`: 'revision', 'compactRevision', 'format', each a float64 BE (see
 *   readMetaNumber): read on every request, so no msgpack decoding; and
 *   'batch', the group-commit batch sequence number (float64 LE, see
 *   META_BATCH).
 */
export interface Stores {
  root: RootDatabase;
  kv: Database<Buffer, Buffer>;
  log: Database<StoredEvent[], number>;
  expiry: Database<Buffer, Buffer>;
  meta: Database<Buffer, string>;
}

/** A change event as the log stores it; short names keep the log small. */
export interface StoredEvent {
  /** p = put, d = delete, e = expire */
  t: 'p' | 'd' | 'e';
  k: string;
  /** put only: createRevision, version, contentType, expiresAtMs (0 = none), value */
  c?: number;
  v?: number;
  ct?: string;
  x?: number;
  d?: Buffer;
}

export const STORE_FORMAT = 1;
export const DATABASE_NAMES: readonly string[] = ['kv', 'log', 'expiry', 'meta'];
export const META_REVISION = 'revision';
export const META_COMPACT_REVISION = 'compactRevision';
export const META_FORMAT = 'format';
/**
 * The number of the last group-commit batch applied, a float64 in the
 * machine's (little-endian) order: lmdb-js's conditional write blocks
 * (`ifVersion`) compare a value's first 8 bytes, read as a native double, so
 * a batch can be made conditional on its predecessor having applied (see
 * GroupCommit). Not part of the data: a store without it is given 0 at open.
 */
export const META_BATCH = 'batch';

export function openStores(file: string): Stores {
  const root = open({
    path: file,
    maxDbs: 8,
    // Explicit so the durability reasoning in docs/adr/0002 holds even if a
    // future lmdb changes its defaults: commits sync in the writer thread,
    // overlapping the next transaction, and never block the event loop.
    overlappingSync: true,
    noSync: false,
    // GroupCommit queues each batch's writes inside one conditional block
    // (ifVersion), which keeps them in one transaction by itself. Event-turn
    // batching would add a commit promise of lmdb-js's own per transaction,
    // which no one holds: a failed commit (a full disk) rejected it unhandled
    // and stopped the process. It made no measurable difference to speed (ADR 0013).
    eventTurnBatching: false,
  });
  try {
    checkDatabaseNames(root, file, DATABASE_NAMES);
  } catch (error) {
    void root.close();
    throw error;
  }
  return databasesOf(root);
}

/**
 * An environment opened to read only (a backup being checked or read): LMDB
 * creates nothing in it, and each of kvs's databases must already exist
 * before databasesOf opens it. It still makes a `-lock` file beside `file`.
 */
export function openEnvironmentReadOnly(file: string): RootDatabase {
  return open({ path: file, maxDbs: 8, readOnly: true });
}

/** kvs's databases in an open environment, each with its encodings. */
export function databasesOf(root: RootDatabase): Stores {
  return {
    root,
    kv: root.openDB<Buffer, Buffer>({ name: 'kv', keyEncoding: 'binary', encoding: 'binary' }),
    log: root.openDB<StoredEvent[], number>({ name: 'log', keyEncoding: 'ordered-binary', encoding: 'msgpack' }),
    expiry: root.openDB<Buffer, Buffer>({ name: 'expiry', keyEncoding: 'binary', encoding: 'binary' }),
    meta: root.openDB<Buffer, string>({ name: 'meta', keyEncoding: 'ordered-binary', encoding: 'binary' }),
  };
}

/** Key of the expiry index: the deadline first, so a forward scan meets due keys first. */
export function expiryIndexKey(expiresAtMs: number, key: Buffer): Buffer {
  const indexKey = Buffer.allocUnsafe(EXPIRY_INDEX_PREFIX_BYTES + key.length);
  // Positive IEEE-754 doubles sort numerically when compared as big-endian bytes.
  indexKey.writeDoubleBE(expiresAtMs, 0);
  key.copy(indexKey, EXPIRY_INDEX_PREFIX_BYTES);
  return indexKey;
}

export function parseExpiryIndexKey(indexKey: Buffer): { expiresAtMs: number; key: Buffer } {
  return { expiresAtMs: indexKey.readDoubleBE(0), key: indexKey.subarray(EXPIRY_INDEX_PREFIX_BYTES) };
}

/** A number kept in `meta`, or 0 when never written. `transaction` pins the snapshot read from. */
export function readMetaNumber(stores: Stores, name: string, transaction?: Transaction): number {
  // getBinaryFast returns a view of a buffer lmdb-js reuses: read it at once, keep nothing.
  const bytes = getBinaryFast(stores.meta, name, transaction);
  return bytes === undefined ? 0 : bytes.readDoubleBE(0);
}

/**
 * lmdb-js's getBinaryFast with a read transaction (its typings omit the
 * options argument the implementation takes). The result is a view of a
 * buffer lmdb-js reuses on the next read: copy what must outlive that.
 */
export function getBinaryFast<K extends string | Buffer>(db: Database<Buffer, K>, key: K, transaction: Transaction | undefined): Buffer | undefined {
  const read = db.getBinaryFast as (key: K, options?: { transaction: Transaction }) => Buffer | undefined;
  const shared = read.call(db, key, transaction === undefined ? undefined : { transaction });
  // lmdb-js's shared buffer overrides `length` with the value's size, but
  // typed-array methods (subarray, toString, copy) use its real, larger size;
  // a view of exactly `length` bytes makes every method agree.
  return shared === undefined ? undefined : shared.subarray(0, shared.length);
}

/** The batch sequence number in `meta` (META_BATCH), or null when never written. */
export function readBatchSequence(stores: Stores, transaction?: Transaction): number | null {
  const bytes = getBinaryFast(stores.meta, META_BATCH, transaction);
  return bytes === undefined ? null : bytes.readDoubleLE(0);
}

export function batchSequenceBytes(sequence: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeDoubleLE(sequence, 0);
  return bytes;
}

/**
 * A read transaction on the latest committed state, for the caller alone:
 * lmdb-js hands out one shared read transaction, renewed lazily; this takes
 * it and detaches it at once (`resetReadTxn`), so lmdb-js's later reads get a
 * new one and never renew this one under its holder. It is not renewed while
 * used, so it can be stale if someone else held lmdb-js's shared transaction
 * when it was taken: callers that need a particular state check it (see
 * GroupCommit's snapshots, checked by their batch number). Release with `done()`.
 */
export function latestReadTransaction(root: RootDatabase): Transaction {
  const transaction = root.useReadTransaction();
  (root as RootDatabase & { resetReadTxn(): void }).resetReadTxn();
  return transaction;
}

/** Writes a number into `meta`; inside a write transaction. */
export function writeMetaNumber(stores: Stores, name: string, value: number): void {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeDoubleBE(value, 0);
  stores.meta.putSync(name, bytes);
}
