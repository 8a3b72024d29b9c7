import type { Transaction } from 'lmdb';
import type { Revision } from '../../core/types.js';
import { keyBytes } from '../../core/keys.js';
import { decodeRecordHeader, recordExpiresAtMs, type RecordHeader } from './record-codec.js';
import { batchSequenceBytes, expiryIndexKey, getBinaryFast, META_BATCH, META_REVISION, readMetaNumber, type StoredEvent, type Stores } from './stores.js';

const EXPIRY_MARK = Buffer.from([1]);

/** What a batch knows of a key without copying its value: present or not, and its deadline. */
export interface RecordPresence {
  expiresAtMs: number | null;
}

/** Where a batch starts: the store revision and batch number before it. */
export interface BatchBase {
  revision: Revision;
  sequence: number;
}

/**
 * The state of one group-commit batch while its writes are planned. Writes
 * are decided on the main thread against a view of the store, and queued as
 * plain lmdb-js write instructions inside one conditional block, which the
 * writer thread applies as one LMDB transaction with no call back into
 * JavaScript.
 *
 * The view is the last durable snapshot, plus the writes of the batches
 * queued before this one that are not durable yet (`parent`, a chain of at
 * most a few: GroupCommit plans the next batch while the previous one syncs),
 * plus this batch's own earlier writes (the overlay). GroupCommit cuts a
 * parent off once its writes are in the durable snapshot.
 */
export class WriteBatch {
  /** Records this batch has written: key → record, or null once deleted. */
  private readonly overlay = new Map<string, Buffer | null>();
  /** Numbers this batch wrote into `meta`. */
  private readonly metaWrites = new Map<string, number>();
  /** Change-log revisions this batch removed (compaction). */
  private readonly removedLog = new Set<Revision>();
  /** The store revision including this batch's writes so far. */
  revision: Revision;
  readonly startRevision: Revision;
  /** This batch's number (META_BATCH once it applied); its predecessor's is `sequence - 1`. */
  readonly sequence: number;
  /** Each revision this batch appended, with its events, in order: published from memory once durable. */
  readonly appended: Array<{ revision: Revision; events: StoredEvent[] }> = [];

  constructor(
    private readonly stores: Stores,
    /** The latest durable snapshot. */
    private readonly snapshot: Transaction,
    readonly nowMs: number,
    /** The batch queued before this one, while it is not durable (its writes are not in `snapshot`). */
    public parent: WriteBatch | null,
    base: BatchBase,
  ) {
    this.revision = base.revision;
    this.startRevision = base.revision;
    this.sequence = base.sequence + 1;
  }

  /** The record under `key` in the batches' overlays (newest first), null if deleted there, undefined if none wrote it. */
  private written(key: string): Buffer | null | undefined {
    const record = this.overlay.get(key);
    if (record !== undefined || this.parent === null) return record;
    return this.parent.written(key);
  }

  /** The record under `key` as this batch sees it, or undefined. The buffer is the caller's to keep. */
  readRecord(key: string): Buffer | undefined {
    const written = this.written(key);
    if (written !== undefined) return written ?? undefined;
    const view = getBinaryFast(this.stores.kv, keyBytes(key), this.snapshot);
    return view === undefined ? undefined : Buffer.from(view);
  }

  /** Whether `key` has a record and its deadline, read from the header only (values can be megabytes). */
  readPresence(key: string): RecordPresence | undefined {
    const written = this.written(key);
    const record = written !== undefined ? (written ?? undefined) : getBinaryFast(this.stores.kv, keyBytes(key), this.snapshot);
    return record === undefined ? undefined : { expiresAtMs: recordExpiresAtMs(record) };
  }

  /** The header of `key`'s record (counters and deadline), without its value, or undefined. */
  readHeader(key: string): RecordHeader | undefined {
    const written = this.written(key);
    const record = written !== undefined ? (written ?? undefined) : getBinaryFast(this.stores.kv, keyBytes(key), this.snapshot);
    return record === undefined ? undefined : decodeRecordHeader(key, record);
  }

  /** The batches whose overlays this batch sees, oldest first (itself last). */
  private chain(): WriteBatch[] {
    const batches = this.parent === null ? [] : this.parent.chain();
    batches.push(this);
    return batches;
  }

  /** Every key with a record and `start <= key < end`, as this batch sees them (snapshot plus overlays). */
  keysInRange(start: Buffer, end: Buffer | null): Set<string> {
    const keys = new Set<string>();
    for (const key of this.stores.kv.getKeys({ start, end: end ?? undefined, transaction: this.snapshot })) keys.add(key.toString('utf8'));
    for (const batch of this.chain()) {
      for (const [key, record] of batch.overlay) {
        const bytes = keyBytes(key);
        if (Buffer.compare(bytes, start) < 0 || (end !== null && Buffer.compare(bytes, end) >= 0)) continue;
        if (record === null) keys.delete(key);
        else keys.add(key);
      }
    }
    return keys;
  }

  /**
   * Entries of the expiry index in deadline order, at most `limit`, as of the
   * durable snapshot: the sweep re-checks each against its record as this
   * batch sees it, and one a batch in flight added is swept next time.
   */
  dueExpiryIndexKeys(limit: number): Buffer[] {
    return [...this.stores.expiry.getKeys({ limit, transaction: this.snapshot })].map((indexKey) => Buffer.from(indexKey));
  }

  /** Change-log revisions in (after, upTo], as this batch sees them. */
  logRevisions(after: Revision, upTo: Revision): Revision[] {
    const revisions = new Set<Revision>(this.stores.log.getKeys({ start: after + 1, end: upTo + 1, transaction: this.snapshot }));
    for (const batch of this.chain()) {
      for (let revision = Math.max(after + 1, batch.startRevision + 1); revision <= Math.min(upTo, batch.revision); revision++) revisions.add(revision);
      for (const revision of batch.removedLog) revisions.delete(revision);
    }
    return [...revisions].sort((a, b) => a - b);
  }

  readMetaNumber(name: string): number {
    return this.metaWritten(name) ?? readMetaNumber(this.stores, name, this.snapshot);
  }

  /** A number this batch or one before it wrote into `meta`, or undefined. */
  private metaWritten(name: string): number | undefined {
    return this.metaWrites.get(name) ?? this.parent?.metaWritten(name);
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
    this.removedLog.add(revision);
    void this.stores.log.remove(revision);
  }

  writeMetaNumber(name: string, value: number): void {
    this.metaWrites.set(name, value);
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeDoubleBE(value, 0);
    void this.stores.meta.put(name, bytes);
  }

  /** Records `events` as the next revision. */
  appendRevision(events: StoredEvent[]): Revision {
    this.revision += 1;
    void this.stores.log.put(this.revision, events);
    this.appended.push({ revision: this.revision, events });
    return this.revision;
  }

  /** Queues the final store revision and the batch's number; call once, after every write of the batch was planned. */
  finish(): void {
    if (this.changed) this.writeMetaNumber(META_REVISION, this.revision);
    void this.stores.meta.put(META_BATCH, batchSequenceBytes(this.sequence));
  }

  /** True when the batch changed the store revision. */
  get changed(): boolean {
    return this.revision !== this.startRevision;
  }
}
