import { mkdirSync } from 'node:fs';
import type { Transaction } from 'lmdb';
import { dirname } from 'node:path';
import { KvError } from '../../core/errors.js';
import { EXPIRY_SWEEP_INTERVAL_MS } from '../../core/limits.js';
import { keyBytes } from '../../core/keys.js';
import type { ChangeEvent, Entry, Revision, RevisionChanges } from '../../core/types.js';
import type { WriteObserver } from '../../core/write-observer.js';
import type {
  BackupFile,
  RangeItem,
  RangeRequest,
  ReadResult,
  RangeResult,
  SnapshotBackup,
  StorageEngine,
  StoreStatus,
  SyncReader,
  TxnRequest,
  TxnResult,
} from '../engine.js';
import { applyTxn } from './apply-txn.js';
import { copySnapshot, removeStaleBackups } from './backup.js';
import { GroupCommit, type DurableState } from './group-commit.js';
import { compactionTarget, compactLog, hasDueExpiry, sweepExpired } from './maintenance.js';
import { decodeRecord, decodeRecordCopy, isRecordExpired, recordValueBytes } from './record-codec.js';
import {
  batchSequenceBytes,
  expiryIndexKey,
  getBinaryFast,
  latestReadTransaction,
  META_BATCH,
  META_COMPACT_REVISION,
  META_FORMAT,
  META_REVISION,
  openStores,
  readBatchSequence,
  readMetaNumber,
  STORE_FORMAT,
  writeMetaNumber,
  type StoredEvent,
  type Stores,
} from './stores.js';
import { measureDataBytes, StorageCap } from './storage-cap.js';
import type { WriteBatch } from './write-batch.js';
import { toMeta, type WriteContext } from './write-context.js';
import { checkStoreFile, StoreOpenError } from './store-file.js';
import { lockStore, type StoreLock } from './store-lock.js';

export interface LmdbEngineOptions {
  /** The store file; its directory is created if missing. A `-lock` file sits beside it. */
  file: string;
  historyRetentionRevisions: number;
  /** The clock, in ms since the epoch; injected so TTL tests are deterministic. */
  now?: () => number;
  /** How often expired keys are swept and history compacted. */
  maintenanceIntervalMs?: number;
  /** Told about failures of background work, which has no caller to throw to. */
  onBackgroundError?: (error: unknown) => void;
  /** Told the cause of a failed commit (writers are answered 503 or 507). */
  onWriteError?: (error: unknown) => void;
  /** Told once that the disk failed (EIO): no write is acknowledged from then on, and the process should stop and restart (GroupCommit.storeFailing). */
  onStoreFailed?: (error: unknown) => void;
  /** Size the store may reach before writes that add data are refused (507); 0 or absent = no cap. */
  dataBytesMax?: number;
  /** Writes that may wait for the next commit; beyond, 503 (absent = no bound). */
  pendingWritesMax?: number;
  /** Told about commits and sweeps, for /metrics. */
  observer?: WriteObserver;
}

/**
 * The embedded engine. Reads are synchronous LMDB lookups in a read snapshot
 * of the last durable state, renewed when a write batch becomes durable. Writes
 * go through GroupCommit: planned on the main thread, applied and synced by
 * lmdb-js's writer thread, answered only after the sync that covers them
 * (docs/adr/0002-durable-acknowledgements.md).
 */
export class LmdbEngine implements StorageEngine, SyncReader, SnapshotBackup {
  readonly name = 'lmdb';
  private stores: Stores | null = null;
  private readonly now: () => number;
  private readonly listeners = new Set<(changes: RevisionChanges) => void>();
  private publishedRevision: Revision = 0;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private maintenanceRunning = false;
  private closing: Promise<void> | null = null;
  /**
   * The read snapshot every read uses: exactly the durable state, replaced by
   * GroupCommit when a batch becomes durable (afterBatch). lmdb-js's implicit
   * read transaction is reset by a timer after every event turn, which costs a
   * timer and a renew per turn, and would show a batch committed but not yet
   * synced; holding our own keeps reads at one native call, on durable data only.
   */
  private readTxn: Transaction | null = null;
  /** The store revision in `readTxn`, read once per snapshot (it cannot change within one). */
  private snapshotRevision: Revision = 0;
  private committer: GroupCommit | null = null;
  private lock: StoreLock | null = null;
  /** KV_MAX_DATA_BYTES and what accepted writes will add. */
  private readonly cap: StorageCap;
  /** The store revision when open() ran was 0. */
  private fresh = false;
  /** Backup copies running on LMDB's worker threads: the environment must outlive them. */
  private readonly copies = new Set<Promise<unknown>>();

  constructor(private readonly options: LmdbEngineOptions) {
    this.now = options.now ?? Date.now;
    this.cap = new StorageCap(options.dataBytesMax ?? 0);
  }

  async open(): Promise<void> {
    if (this.stores !== null) throw new Error('the engine is already open');
    mkdirSync(dirname(this.options.file), { recursive: true });
    // In order: no other kvs on this store, the file is LMDB, the databases are ours.
    const lock = await lockStore(this.options.file);
    let stores: Stores;
    try {
      checkStoreFile(this.options.file);
      removeStaleBackups(this.options.file);
      stores = openStores(this.options.file);
      const format = readMetaNumber(stores, META_FORMAT);
      if (format === 0) {
        await stores.root.transaction(() => writeMetaNumber(stores, META_FORMAT, STORE_FORMAT));
        await stores.root.flushed;
      } else if (format !== STORE_FORMAT) {
        await stores.root.close();
        throw new StoreOpenError(`${this.options.file} holds store format ${format}; this kvs reads format ${STORE_FORMAT}`);
      }
      // Every batch is conditional on its predecessor's number (GroupCommit): a store that has none starts at 0.
      if (readBatchSequence(stores) === null) {
        await stores.root.transaction(() => stores.meta.putSync(META_BATCH, batchSequenceBytes(0)));
        await stores.root.flushed;
      }
    } catch (error) {
      await lock.release();
      throw error;
    }
    this.lock = lock;
    this.stores = stores;
    // Nothing is being written: the latest state is the durable one.
    this.readTxn = latestReadTransaction(stores.root);
    this.snapshotRevision = readMetaNumber(stores, META_REVISION, this.readTxn);
    this.committer = new GroupCommit(
      stores,
      this.now,
      () => this.readSnapshot(stores),
      (durable) => this.afterBatch(durable),
      (error) => this.options.onWriteError?.(error),
      this.options.pendingWritesMax ?? Number.POSITIVE_INFINITY,
      this.options.observer,
      (error) => this.options.onStoreFailed?.(error),
    );
    this.cap.measure(stores);
    this.publishedRevision = readMetaNumber(stores, META_REVISION);
    this.fresh = this.publishedRevision === 0;
    this.maintenanceTimer = setInterval(() => void this.runMaintenance(), this.options.maintenanceIntervalMs ?? EXPIRY_SWEEP_INTERVAL_MS);
    this.maintenanceTimer.unref();
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    const stores = this.stores;
    if (stores === null) return;
    await this.committer?.idle();
    // Closing the environment under a running mdb_env_copy2 would free it under the copy.
    await Promise.allSettled([...this.copies]);
    this.readTxn?.done();
    this.readTxn = null;
    await stores.root.flushed;
    await stores.root.close();
    this.stores = null;
    await this.lock?.release();
    this.lock = null;
  }

  async isReady(): Promise<boolean> {
    return this.stores !== null && this.closing === null;
  }

  waitingWrites(): number {
    return this.committer?.waiting ?? 0;
  }

  /** Imports and restores are one txn whatever their size. */
  readonly txnCapacity = null;

  neverWritten(): boolean {
    return this.fresh;
  }

  /** The durable store revision: listeners hear of each durable revision on the next turn (see afterBatch). */
  changeFeedRevision(): Revision {
    this.open_();
    return this.snapshotRevision;
  }

  async get(key: string): Promise<ReadResult> {
    return this.getSync(key);
  }

  getSync(key: string): ReadResult {
    const stores = this.open_();
    const transaction = this.readSnapshot(stores);
    const revision = this.snapshotRevision;
    // A view of lmdb-js's reused buffer; decodeRecordCopy copies the value out before the next read.
    const record = getBinaryFast(stores.kv, keyBytes(key), transaction);
    if (record === undefined || isRecordExpired(record, this.now())) return { entry: null, revision };
    return { entry: decodeRecordCopy(key, record), revision };
  }

  async range(request: RangeRequest): Promise<RangeResult> {
    const stores = this.open_();
    const transaction = this.readSnapshot(stores);
    const revision = this.snapshotRevision;
    const nowMs = this.now();
    const items: RangeItem[] = [];
    let more = false;
    let valueBytes = 0;
    const valueBytesMax = request.withValues ? (request.valueBytesMax ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
    for (const { key, value: record } of this.scan(stores, request.start, request.end, request.reverse, transaction)) {
      if (isRecordExpired(record, nowMs)) continue;
      if (items.length === request.limit || valueBytes >= valueBytesMax) {
        more = true;
        break;
      }
      valueBytes += recordValueBytes(record);
      const entry = decodeRecord(key.toString('utf8'), record);
      items.push(request.withValues ? { ...toMeta(entry), value: entry.value } : toMeta(entry));
    }
    return { items, more, revision };
  }

  async count(start: Buffer, end: Buffer | null): Promise<number> {
    const stores = this.open_();
    const nowMs = this.now();
    let live = 0;
    for (const { value: record } of this.scan(stores, start, end, false, this.readSnapshot(stores))) {
      if (!isRecordExpired(record, nowMs)) live++;
    }
    return live;
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    let release: (() => void) | null;
    try {
      release = this.cap.admit(request);
    } catch (error) {
      return Promise.reject(error);
    }
    if (release === null) return this.write((ctx) => applyTxn(ctx, request));
    // Released once the batch is measured (afterBatch runs before writers are answered).
    return this.write((ctx) => applyTxn(ctx, request)).finally(release);
  }

  async *snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry> {
    const stores = this.open_();
    // The durable snapshot, referenced for as long as the export runs: it yields
    // between entries, and the engine renews its own reference meanwhile.
    const transaction = this.readSnapshot(stores);
    // `use()` adds a reference, released by `done()`; lmdb-js's own range
    // iterators do the same (it is missing from its typings).
    (transaction as Transaction & { use(): void }).use();
    try {
      const nowMs = this.now();
      for (const { key, value: record } of stores.kv.getRange({ start, end: end ?? undefined, transaction })) {
        if (!isRecordExpired(record, nowMs)) yield decodeRecord(key.toString('utf8'), record);
      }
    } finally {
      transaction.done();
    }
  }

  backup(): Promise<BackupFile> {
    if (this.closing !== null) return Promise.reject(new KvError('unavailable', 'the store is closing', { retryAfterSeconds: 1 }));
    const copy = copySnapshot(this.open_(), this.options.file);
    this.copies.add(copy);
    void copy.then(
      () => this.copies.delete(copy),
      () => this.copies.delete(copy),
    );
    return copy;
  }

  deleteRange(start: Buffer, end: Buffer | null): Promise<{ deleted: number; revision: Revision }> {
    return this.write((ctx, batch) => {
      // Headers only: a prefix may hold gigabytes of values, none of which a delete needs.
      const keys = batch.keysInRange(start, end);
      const live: Array<{ key: string; expiresAtMs: number | null }> = [];
      for (const key of keys) {
        const presence = ctx.readLive(key);
        if (presence !== null) live.push({ key, expiresAtMs: presence.expiresAtMs });
      }
      ctx.expireDue(keys);
      for (const entry of live) ctx.remove(entry.key, entry);
      ctx.commit();
      return { deleted: live.length, revision: ctx.storeRevision };
    });
  }

  async status(): Promise<StoreStatus> {
    const stores = this.open_();
    const transaction = this.readSnapshot(stores);
    return {
      revision: this.snapshotRevision,
      compactRevision: readMetaNumber(stores, META_COMPACT_REVISION, transaction),
      keys: liveKeyCount(stores, this.now()),
      // Measured now (constant time): without a cap, commits do not measure it.
      dataBytes: measureDataBytes(stores),
    };
  }

  async changesSince(after: Revision, upTo: Revision, limit: number, valueBytesMax = Number.POSITIVE_INFINITY): Promise<RevisionChanges[]> {
    const stores = this.open_();
    // One synchronous block: the compaction check and the read share a snapshot.
    const compactRevision = readMetaNumber(stores, META_COMPACT_REVISION);
    if (after < compactRevision) {
      throw new KvError('history_compacted', `history before revision ${compactRevision + 1} is compacted; resume from ${compactRevision} or later`, {
        compactRevision,
      });
    }
    const changes: RevisionChanges[] = [];
    let valueBytes = 0;
    for (const { key: revision, value: events } of stores.log.getRange({ start: after + 1, end: upTo + 1, limit })) {
      changes.push(toRevisionChanges(revision, events));
      for (const event of events) valueBytes += event.d?.length ?? 0;
      if (valueBytes >= valueBytesMax) break;
    }
    return changes;
  }

  onChanges(listener: (changes: RevisionChanges) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs `body` in the next group-commit batch and resolves once it is on
   * disk. `body` must call `ctx.commit()` and must throw, if at all, before its
   * first mutation (see WriteContext).
   */
  private write<T>(body: (ctx: WriteContext, batch: WriteBatch) => T, client = true): Promise<T> {
    if (this.committer === null) throw new Error('the engine is not open');
    return this.committer.submit(body, client);
  }

  /**
   * After each batch: reads (and the next batch) see the new durable state at
   * once; listeners hear of what became durable on the next turn, after the
   * batch's writers have their answers.
   */
  private afterBatch(durable: DurableState): void {
    this.readTxn?.done();
    this.readTxn = durable.snapshot;
    this.snapshotRevision = durable.revision;
    // Only a cap needs the size after every commit; /metrics measures it when scraped.
    if (this.stores !== null) this.cap.measure(this.stores);
    if (durable.revision > this.publishedRevision) {
      const { revision, appended } = durable;
      setImmediate(() => this.publishDurable(revision, appended));
    }
  }

  /**
   * Tells listeners about every revision up to `revision`, in order, exactly
   * once: from the batch's own events (in memory), and from the change log
   * for any revision before them that no batch reported (a batch whose sync
   * failed after it committed).
   */
  private publishDurable(revision: Revision, appended: ReadonlyArray<{ revision: Revision; events: StoredEvent[] }>): void {
    if (revision <= this.publishedRevision) return;
    const from = this.publishedRevision + 1;
    this.publishedRevision = revision;
    if (this.listeners.size === 0 || this.stores === null) return;
    const firstInMemory = appended.find((entry) => entry.revision >= from)?.revision ?? revision + 1;
    if (from < firstInMemory) {
      for (const { key: logRevision, value: events } of this.stores.log.getRange({ start: from, end: firstInMemory }))
        this.tell(toRevisionChanges(logRevision, events));
    }
    for (const entry of appended) if (entry.revision >= from) this.tell(toRevisionChanges(entry.revision, entry.events));
  }

  private tell(changes: RevisionChanges): void {
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (error) {
        // One listener's bug must not cost the others (or later revisions) their changes.
        this.options.onBackgroundError?.(error);
      }
    }
  }

  private async runMaintenance(): Promise<void> {
    const stores = this.stores;
    if (this.maintenanceRunning || stores === null || this.closing !== null) return;
    this.maintenanceRunning = true;
    try {
      if (hasDueExpiry(stores, this.now())) {
        const deadlines = await this.write(sweepExpired, false);
        const nowMs = this.now();
        for (const deadline of deadlines) this.options.observer?.keySwept((nowMs - deadline) / 1000);
      }
      const target = compactionTarget(stores, this.options.historyRetentionRevisions);
      if (target !== null) await this.write((_ctx, batch) => compactLog(batch, target), false);
    } catch (error) {
      this.options.onBackgroundError?.(error);
    } finally {
      this.maintenanceRunning = false;
    }
  }

  private readSnapshot(_stores: Stores): Transaction {
    if (this.readTxn === null) throw new Error('the engine is not open');
    return this.readTxn;
  }

  /** Entries with start <= key < end in the given direction, expired ones included. Synchronous callers only. */
  private *scan(stores: Stores, startBytes: Buffer, end: Buffer | null, reverse: boolean, transaction: Transaction): Generator<{ key: Buffer; value: Buffer }> {
    const endBytes = end ?? undefined;
    if (!reverse) {
      yield* stores.kv.getRange({ start: startBytes, end: endBytes, transaction });
      return;
    }
    // lmdb-js walks a reverse range from an inclusive upper `start` down to an
    // exclusive lower `end`; our range is [start, end), so skip `end` itself and
    // stop below `start` by hand.
    for (const item of stores.kv.getRange({ start: endBytes, reverse: true, transaction })) {
      if (endBytes !== undefined && Buffer.compare(item.key, endBytes) >= 0) continue;
      if (Buffer.compare(item.key, startBytes) < 0) return;
      yield item;
    }
  }

  private open_(): Stores {
    if (this.stores === null) throw new Error('the engine is not open');
    return this.stores;
  }
}

function toRevisionChanges(revision: Revision, stored: StoredEvent[]): RevisionChanges {
  const events = stored.map((event): ChangeEvent => {
    if (event.t === 'p') {
      return {
        type: 'put',
        key: event.k,
        revision,
        entry: {
          key: event.k,
          value: event.d ?? Buffer.alloc(0),
          contentType: event.ct ?? '',
          createRevision: event.c ?? revision,
          revision,
          version: event.v ?? 1,
          expiresAtMs: event.x ? event.x : null,
        },
      };
    }
    return { type: event.t === 'd' ? 'delete' : 'expire', key: event.k, revision };
  });
  return { revision, events };
}

/**
 * The live keys: LMDB's count of the `kv` database (constant time) less the
 * entries past their deadline the sweeper has not removed yet, counted in the
 * expiry index (which holds one entry per record with a deadline, in deadline
 * order) by LMDB natively: as many steps as keys await the sweep, which
 * removes them every EXPIRY_SWEEP_INTERVAL_MS.
 */
function liveKeyCount(stores: Stores, nowMs: number): number {
  // Both from lmdb-js's implicit read transaction, so that they count the same snapshot.
  const records = (stores.kv.getStats() as { entryCount: number }).entryCount;
  const due = stores.expiry.getCount({ end: expiryIndexKey(nextDouble(nowMs), Buffer.alloc(0)) });
  return Math.max(0, records - due);
}

/** The smallest double above `value` (>= 0): every index key with a deadline <= value sorts before it. */
function nextDouble(value: number): number {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeDoubleBE(value, 0);
  bytes.writeBigUInt64BE(bytes.readBigUInt64BE(0) + 1n, 0);
  return bytes.readDoubleBE(0);
}
