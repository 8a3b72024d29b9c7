import type { Transaction } from 'lmdb';
import type { Revision } from '../../core/types.js';
import { keyBytes } from '../../core/keys.js';
import { recordExpiresAtMs } from './record-codec.js';
import { expiryIndexKey, getBinaryFast, META_REVISION, readMetaNumber, type StoredEvent, type Stores } from './stores.js';

const EXPIRY_MARK = Buffer.from([1]);

/** What a batch knows of a key without copying its value: present or not, and its deadline. */
export interface RecordPresence {
  expiresAtMs: number | null;
}

/**
 * The state of one group-commit batch while its writes are planned. Writes
 * are decided on the main thread against the last durable snapshot plus this
 * batch's own earlier writes (the overlay), and queued as plain lmdb-js write
 * instructions inside one `root.batch()`, which the writer thread applies as
 * one LMDB transaction with no call back into JavaScript. Only one batch is
 * planned at a time, and only after the previous one is durable, so the
 * snapshot is always the latest state.
 */
export class WriteBatch {
  /** Records this batch has written: key → record, or null once deleted. */
  private readonly overlay = new Map<string, Buffer | null>();
  /** The store revision including this batch's writes so far. */
  revision: Revision;
  private readonly startRevision: Revision;

  constructor(
    private readonly stores: Stores,
    /** The latest durable snapshot. */
    private readonly snapshot: Transaction,
    readonly nowMs: number,
  ) {
    this.revision = readMetaNumber(stores, META_REVISION, snapshot);
    this.startRevision = this.revision;
  }

  /** The record under `key` as this batch sees it, or undefined. The buffer is the caller's to keep. */
  readRecord(key: string): Buffer | undefined {
    const written = this.overlay.get(key);
    if (written !== undefined) return written ?? undefined;
    const view = getBinaryFast(this.stores.kv, keyBytes(key), this.snapshot);
    return view === undefined ? undefined : Buffer.from(view);
  }

  /** Whether `key` has a record and its deadline, read from the header only (values can be megabytes). */
  readPresence(key: string): RecordPresence | undefined {
    const written = this.overlay.get(key);
    const record = written !== undefined ? (written ?? undefined) : getBinaryFast(this.stores.kv, keyBytes(key), this.snapshot);
    return record === undefined ? undefined : { expiresAtMs: recordExpiresAtMs(record) };
  }

  /** Every key with a record and `start <= key < end`, as this batch sees them (snapshot plus overlay). */
  keysInRange(start: Buffer, end: Buffer | null): Set<string> {
    const keys = new Set<string>();
    for (const key of this.stores.kv.getKeys({ start, end: end ?? undefined, transaction: this.snapshot })) keys.add(key.toString('utf8'));
    for (const [key, record] of this.overlay) {
      const bytes = keyBytes(key);
      if (Buffer.compare(bytes, start) < 0 || (end !== null && Buffer.compare(bytes, end) >= 0)) continue;
      if (record === null) keys.delete(key);
      else keys.add(key);
    }
    return keys;
  }

  /** Entries of the expiry index in deadline order, at most `limit`, as of the snapshot (a sweep re-checks each against its record). */
  dueExpiryIndexKeys(limit: number): Buffer[] {
    return [...this.stores.expiry.getKeys({ limit, transaction: this.snapshot })].map((indexKey) => Buffer.from(indexKey));
  }

  /** Change-log revisions in (after, upTo], as of the snapshot. */
  logRevisions(after: Revision, upTo: Revision): Revision[] {
    return [...this.stores.log.getKeys({ start: after + 1, end: upTo + 1, transaction: this.snapshot })];
  }

  readMetaNumber(name: string): number {
    return readMetaNumber(this.stores, name, this.snapshot);
  }

  putRecord(key: string, record: Buffer): void {
    this.overlay.set(key, record);
    void this.stores.kv.put(keyBytes(key), record);
  }

  removeRecord(key: string): void {
    this.overlay.set(key, null);
    void this.stores.kv.remove(keyBytes(key));
  }

  indexExpiry(key: string, expiresAtMs: number): void {
    void this.stores.expiry.put(expiryIndexKey(expiresAtMs, keyBytes(key)), EXPIRY_MARK);
  }

  unindexExpiry(key: string, expiresAtMs: number): void {
    void this.stores.expiry.remove(expiryIndexKey(expiresAtMs, keyBytes(key)));
  }

  removeExpiryIndexKey(indexKey: Buffer): void {
    void this.stores.expiry.remove(indexKey);
  }

  removeLogRevision(revision: Revision): void {
    void this.stores.log.remove(revision);
  }

  writeMetaNumber(name: string, value: number): void {
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeDoubleBE(value, 0);
    void this.stores.meta.put(name, bytes);
  }

  /** Records `events` as the next revision. */
  appendRevision(events: StoredEvent[]): Revision {
    this.revision += 1;
    void this.stores.log.put(this.revision, events);
    return this.revision;
  }

  /** Queues the final store revision; call once, after every write of the batch was planned. */
  finish(): void {
    if (this.changed) this.writeMetaNumber(META_REVISION, this.revision);
  }

  /** True when the batch changed the store revision. */
  get changed(): boolean {
    return this.revision !== this.startRevision;
  }
}
