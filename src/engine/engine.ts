import type { Entry, EntryMeta, Revision, RevisionChanges } from '../core/types.js';

/**
 * The storage contract every engine implements (embedded LMDB, etcd). It is
 * etcd's KV model: a store revision, per-key createRevision/revision/version,
 * ranges over UTF-8 byte order, and transactions of compares and ops that
 * apply atomically at one revision. It is split by role, as etcd's mvcc
 * splits TxnRead from TxnWrite: KvRead, KvWrite, ChangeSource and
 * EngineLifecycle, each with required members only. What only some engines
 * can do is a capability of its own (SyncReader, SnapshotBackup) with a type
 * guard, checked once where the engine is chosen (main.ts, engineCapabilities).
 * test/engine/conformance.ts checks every clause below against every engine.
 *
 * Contracts every implementation honours:
 * - Keys are valid (core/keys.ts) and values within limits: the HTTP layer
 *   checks input at the edge; engines don't re-validate.
 * - An entry whose `expiresAtMs` is at or before `now()` does not exist for any
 *   read, compare or write. Its removal is recorded as an `expire` event.
 * - A promise for a write resolves only once the write is durable (synced to
 *   disk, or committed by the cluster's quorum). It rejects if the write failed,
 *   and then nothing of it applied.
 * - A write that changes nothing (a delete of a missing key, a txn of gets, a
 *   txn whose compares failed, a deleteRange that matches nothing) creates no
 *   revision.
 * - Revisions only grow. They need not be consecutive: on etcd they are the
 *   cluster's, shared with other namespaces and kvs's own bookkeeping.
 * - Reads see every write whose promise resolved before the read began.
 */
export interface StorageEngine extends EngineLifecycle, KvRead, KvWrite, ChangeSource {}

/** Opening, closing and health. */
export interface EngineLifecycle {
  /** `lmdb` or `etcd`, reported by /v1/status. */
  readonly name: string;

  /** Opens the store; must be called once before anything else. */
  open(): Promise<void>;

  /** Waits for in-flight writes to become durable, stops background work and releases the store. Idempotent. */
  close(): Promise<void>;

  /** True while the engine can serve reads and writes (/readyz). */
  isReady(): Promise<boolean>;

  /**
   * True when the store had never been written when open() ran: the seed file
   * is imported only then. An engine whose open() itself writes (etcd: a
   * marker the change feed starts from) counts a store only ever opened as
   * written.
   */
  neverWritten(): boolean;
}

/** Reads. Each is served from one snapshot; none changes the store. */
export interface KvRead {
  /**
   * The live entry under `key` (null if absent or expired), with the store
   * revision of the snapshot it was read from. With `stale`, an engine that
   * keeps a local copy of a store held elsewhere (etcd) may answer from it
   * without confirming it is current, and says how old it may be
   * (`stalenessMs`); others ignore it.
   */
  get(key: string, options?: ReadOptions): Promise<ReadResult>;

  /**
   * Live entries with `start <= key < end`, ascending, or descending when
   * `reverse`. Bounds are byte strings compared with the keys' UTF-8 bytes (a
   * bound such as a prefix's end need not be valid UTF-8). An empty `start`
   * means from the first key; a null `end` means to the last. At most `limit`
   * (>= 1) items; `more` says whether the range holds further live keys.
   * `withValues: false` leaves `value` out. With values and `valueBytesMax`,
   * the page ends (with `more`) once its values reach that many bytes; at
   * least one item is returned. `stale`: as for `get`.
   */
  range(request: RangeRequest): Promise<RangeResult>;

  /** Number of live keys with `start <= key < end`. */
  count(start: Buffer, end: Buffer | null): Promise<number>;

  /** Every live entry with `start <= key < end`, ascending, all from one snapshot (for export): writes made while it is read are not in it. */
  snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry>;

  /**
   * Store revision, the revision history is compacted up to (0: none), and
   * the number of keys: live keys, except that an engine whose expired keys
   * are removed by someone else (etcd: by its leases, about a second after
   * their deadline) also counts those not removed yet.
   */
  status(): Promise<StoreStatus>;
}

/** Writes. Each resolves once durable, at one new revision, or not at all (see the contract above). */
export interface KvWrite {
  /**
   * The most one txn can carry, for engines that bound it (etcd: its request
   * size and op count); a txn beyond may be refused with a KvError, applying
   * nothing. An import larger than this is applied as several txns, in order.
   * Null: any import is one txn.
   */
  readonly txnCapacity: TxnCapacity | null;

  /**
   * Evaluates every compare against one snapshot; when all pass, applies every
   * op atomically at one new revision (none if nothing changed), otherwise
   * applies nothing. An op that cannot apply (add to a non-counter, counter
   * overflow, `get`s reading more than TXN_READ_VALUE_BYTES_MAX) throws a
   * KvError and nothing applies. A key appears at most once among the ops.
   * The semantics of compares and ops are written once, in txn-plan.ts.
   *
   * A put's deadline is `expiresAtMs ?? now + ttlMs` (ttlMs null: none); an
   * add keeps the key's deadline; writing a key whose entry has expired
   * first records its `expire` event, at a revision of its own, and then
   * creates a new incarnation (version 1).
   */
  txn(request: TxnRequest): Promise<TxnResult>;

  /** Deletes every live key with `start <= key < end` at one revision (none when nothing matched: the revision returned is the current one). */
  deleteRange(start: Buffer, end: Buffer | null): Promise<{ deleted: number; revision: Revision }>;

  /** Writes waiting for a commit now, the number KV_MAX_PENDING_WRITES bounds (/metrics). */
  waitingWrites(): number;
}

/** The record of changes: history, and the live feed. */
export interface ChangeSource {
  /**
   * The recorded changes of revisions `after < r <= upTo`, ascending, at most
   * `limit` revisions, and none past the one whose values bring the total to
   * `valueBytesMax` (at least one is returned, if any), from history (the
   * change log). `upTo` is at most changeFeedRevision(). Empty when no
   * revision in the window changed a key. Throws KvError `history_compacted`
   * (with `compactRevision`, the one status() reports) when revisions after
   * `after` are no longer kept.
   */
  changesSince(after: Revision, upTo: Revision, limit: number, valueBytesMax?: number): Promise<RevisionChanges[]>;

  /**
   * Calls `listener` after each durable write with the changes it made, in
   * revision order, each revision exactly once (whoever wrote it: on etcd,
   * every kvs node's writes). Returns a function that removes the listener.
   *
   * `onGap` hears of changes the feed lost: on etcd, a node cut off from etcd
   * for longer than history is kept resumes past revisions that were
   * compacted meanwhile; listeners then have missed changes they can no
   * longer be told (watchers must be told so, history_compacted). The
   * embedded engine never loses any, and never calls it.
   */
  onChanges(listener: (changes: RevisionChanges) => void, onGap?: (gap: FeedGap) => void): () => void;

  /**
   * The revision the feed is complete up to: onChanges has reported (or, on
   * the embedded engine, is about to report on the next turn) every change
   * up to it, and none after. Watches and history reads start from it. On
   * the embedded engine it is the durable store revision; on etcd the feed
   * is a watch that runs behind writes, and revisions of other namespaces
   * never reach it, so it may be below status().revision.
   */
  changeFeedRevision(): Revision;
}

export interface TxnCapacity {
  ops: number;
  bytes: number;
}

/**
 * A capability some engines have beside StorageEngine (the embedded engine):
 * `get` without waiting, for engines that read from local memory. The HTTP
 * layer serves plain reads through it without a promise per request.
 */
export interface SyncReader {
  /** The same answer as `get`, synchronously. */
  getSync(key: string): ReadResult;
}

/**
 * A capability some engines have beside StorageEngine (the embedded engine):
 * a consistent copy of the whole store taken while it keeps serving. Kept out
 * of StorageEngine so that engines without a local store (etcd) are not given
 * a member to refuse.
 */
export interface SnapshotBackup {
  /**
   * Copies one snapshot of the store into a new file on the store's own
   * filesystem and resolves once every revision in it is durable in the store.
   * The caller reads the file, then calls `discard()`.
   */
  backup(): Promise<BackupFile>;
}

export interface BackupFile {
  path: string;
  /** The store revision the copy holds, read from the copy itself. */
  revision: Revision;
  bytes: number;
  /** Removes the file. Idempotent. */
  discard(): Promise<void>;
}

/**
 * A capability some engines have beside StorageEngine (etcd): a local
 * replica of a store held elsewhere, which reads are answered from after a
 * freshness barrier (docs/adr/0011-replica-reads.md). Only reported, in /metrics.
 */
export interface ReplicaReporter {
  replicaStats(): ReplicaStats;
}

export interface ReplicaStats {
  /** The replica is loaded and answers reads. */
  serving: boolean;
  /** The etcd revision it has applied. */
  revision: Revision;
  /** Loads completed since start (the first, and one after each loss of history). */
  loads: number;
  /** Quorum reads made for barriers: each serves every read that waited for it. */
  barriers: number;
  /** Reads (gets, ranges, counts, exports, status, transactions' reads) answered from the replica after a barrier. */
  freshReads: number;
  /** `?stale` reads (and transactions' first reads) answered from the replica without one. */
  staleReads: number;
  /** Reads answered by etcd because the replica could not answer (loading, lagging). */
  sourceReads: number;
}

/**
 * A capability some engines have beside StorageEngine (etcd, with its
 * replica): plain reads answered from local memory once a shared barrier has
 * passed (docs/adr/0011-replica-reads.md). The HTTP layer serves plain reads
 * through it without Fastify, as it does through SyncReader.
 */
export interface FreshReader {
  /** False while no read can be answered locally (the replica is loading or lagging): use `get`. */
  readonly canReadLocally: boolean;
  /** Resolves true once a read that began before the call may be answered by `getLocal`; false: use `get`. Rejects as `get` would when the store cannot be reached. */
  awaitFresh(): Promise<boolean>;
  /** `get`'s answer from local memory, or null when it cannot be given now (use `get`). Only after `awaitFresh` resolved true. */
  getLocal(key: string): ReadResult | null;
}

export function canReadFresh(engine: StorageEngine): engine is StorageEngine & FreshReader {
  return typeof (engine as Partial<FreshReader>).awaitFresh === 'function';
}

export function reportsReplica(engine: StorageEngine): engine is StorageEngine & ReplicaReporter {
  return typeof (engine as Partial<ReplicaReporter>).replicaStats === 'function';
}

export function canReadSync(engine: StorageEngine): engine is StorageEngine & SyncReader {
  return typeof (engine as Partial<SyncReader>).getSync === 'function';
}

export function canBackUp(engine: StorageEngine): engine is StorageEngine & SnapshotBackup {
  return typeof (engine as Partial<SnapshotBackup>).backup === 'function';
}

/** What an engine can do beyond StorageEngine: each null when it cannot. */
export interface EngineCapabilities {
  syncReader: SyncReader | null;
  freshReader: FreshReader | null;
  snapshotBackup: SnapshotBackup | null;
}

/** The capabilities of `engine`, checked once, where the engine is chosen (main.ts), and handed to the HTTP layer. */
export function engineCapabilities(engine: StorageEngine): EngineCapabilities {
  return {
    syncReader: canReadSync(engine) ? engine : null,
    freshReader: canReadFresh(engine) ? engine : null,
    snapshotBackup: canBackUp(engine) ? engine : null,
  };
}

/**
 * A break in the change feed: the changes of revisions up to `compactRevision` that it had not reported are lost.
 * A `compactRevision` below revisions already reported means the store's history went back (etcd restored from a
 * backup): those revisions are void, and the feed reports from `compactRevision` on again.
 */
export interface FeedGap {
  compactRevision: Revision;
}

export interface ReadOptions {
  /** Answer from a local copy without confirming it is current (etcd: the node's replica, no barrier); see KvRead.get. */
  stale?: boolean;
}

export interface ReadResult {
  entry: Entry | null;
  revision: Revision;
  /** Set when answered stale from a local copy: the copy held every write acknowledged at least this many milliseconds ago. */
  stalenessMs?: number;
}

export interface RangeRequest {
  start: Buffer;
  end: Buffer | null;
  limit: number;
  reverse: boolean;
  withValues: boolean;
  /** With values, end the page (with `more`) once its values reach this many bytes; at least one item is returned. */
  valueBytesMax?: number;
  /** See ReadOptions.stale. */
  stale?: boolean;
  /**
   * Answer from a snapshot at this revision or later (the later ranges of a
   * listing's walk: listing.ts). An engine with a local copy (etcd's replica)
   * answers from it without a barrier once the copy has reached it, and reads
   * as without it otherwise; engines whose reads are always current ignore it.
   */
  minRevision?: Revision;
}

export type RangeItem = EntryMeta & { value?: Buffer };

export interface RangeResult {
  items: RangeItem[];
  more: boolean;
  revision: Revision;
  /** See ReadResult.stalenessMs. */
  stalenessMs?: number;
}

/**
 * A condition on one key, evaluated before any op applies.
 * - `exists`: the key is present (true) or absent (false).
 * - `revisionIn`: the key's revision is one of `revisions`; 0 stands for "absent".
 * - `revisionNotIn`: the key's revision is none of `revisions` (absent passes unless 0 is listed).
 */
export type Compare =
  | { key: string; kind: 'exists'; expected: boolean }
  | { key: string; kind: 'revisionIn'; revisions: readonly Revision[] }
  | { key: string; kind: 'revisionNotIn'; revisions: readonly Revision[] };

export type TxnOp =
  /**
   * Creates or replaces. `ttlMs` counts from the engine's clock at apply time;
   * null clears any existing TTL. `expiresAtMs`, when given, is an absolute
   * deadline instead (imports keep exported deadlines exactly).
   */
  | { op: 'put'; key: string; value: Buffer; contentType: string; ttlMs: number | null; expiresAtMs?: number }
  | { op: 'delete'; key: string }
  /** Adds `by` to the JSON integer under `key` (absent counts as 0) and stores the result as JSON. */
  | { op: 'add'; key: string; by: number }
  | { op: 'get'; key: string };

export interface TxnRequest {
  compares: readonly Compare[];
  ops: readonly TxnOp[];
}

export type TxnOpResult =
  | { op: 'put'; key: string; entry: EntryMeta; created: boolean }
  | { op: 'delete'; key: string; deleted: boolean }
  | { op: 'add'; key: string; entry: EntryMeta; value: number }
  | { op: 'get'; key: string; entry: Entry | null };

export type TxnResult =
  | { succeeded: true; revision: Revision; results: TxnOpResult[] }
  | {
      succeeded: false;
      revision: Revision;
      /** Indices of the compares that failed. */
      failedCompares: number[];
      /** Revision of each failed compare's key (0 when absent), same order as failedCompares. */
      currentRevisions: Revision[];
    };

export interface StoreStatus {
  revision: Revision;
  /** Bytes the store occupies, when the engine knows (the embedded engine: its databases' pages). */
  dataBytes?: number;
  compactRevision: Revision;
  keys: number;
}
