import type { Transaction } from 'lmdb';
import type { Revision } from '../../core/types.js';
import { keyBytes } from '../../core/keys.js';
import { expiryIndexKey, getBinaryFast, META_REVISION, readMetaNumber, type StoredEvent, type Stores } from './stores.js';

const EXPIRY_MARK = Buffer.from([1]);

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
    readonly stores: Stores,
    /** The latest durable snapshot. */
    readonly snapshot: Transaction,
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

  /** Keys this batch has written records for with `start <= key < end`: a range read must add them to the snapshot's. */
  writtenKeysInRange(start: Buffer, end: Buffer | null): string[] {
    const keys: string[] = [];
    for (const [key, record] of this.overlay) {
      if (record === null) continue;
      const bytes = keyBytes(key);
      if (Buffer.compare(bytes, start) >= 0 && (end === null || Buffer.compare(bytes, end) < 0)) keys.push(key);
    }
    return keys;
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

  /** Records `events` as the next revision. */
  appendRevision(events: StoredEvent[]): Revision {
    this.revision += 1;
    void this.stores.log.put(this.revision, events);
    return this.revision;
  }

  /** Queues the final store revision; call once, after every write of the batch was planned. */
  finish(): void {
    if (this.revision !== this.startRevision) {
      const bytes = Buffer.allocUnsafe(8);
      bytes.writeDoubleBE(this.revision, 0);
      void this.stores.meta.put(META_REVISION, bytes);
    }
  }

  /** True when the batch changed anything. */
  get changed(): boolean {
    return this.revision !== this.startRevision;
  }
}
