import { KvError } from '../../core/errors.js';
import { DEFAULT_ETCD_LIMITS, ETCD_CALL_TIMEOUT_MS, ETCD_COMPACTION_INTERVAL_MS, ETCD_COMPARE_FRAMING_BYTES, ETCD_HISTORY_READ_TIMEOUT_MS, ETCD_READY_PROBE_TIMEOUT_MS, ETCD_TXN_SLACK_BYTES } from '../../core/limits.js';
import { OverloadError } from '../../core/overload.js';
import { NO_WRITE_OBSERVER, type WriteObserver } from '../../core/write-observer.js';
import type { Entry, Revision, RevisionChanges } from '../../core/types.js';
import type { RangeRequest, RangeResult, ReadResult, StorageEngine, StoreStatus, TxnCapacity, TxnRequest, TxnResult } from '../engine.js';
import { ChangeFeed, readHistory } from './change-feed.js';
import { Committer, putOp } from './commit.js';
import { compactHistory, recordedCompactRevision } from './compaction.js';
import { CompareResult, CompareTarget, headerRevision, revisionOf, type TxnResponse } from './etcd-api.js';
import { EtcdClient } from './etcd-client.js';
import { Keyspace } from './keyspace.js';
import { RECORD_HEADER_BYTES_MAX } from './record-layout.js';
import { LeasePool } from './leases.js';
import { OptimisticTxns } from './optimistic-txn.js';
import { liveEntry, Scans } from './scans.js';

export interface EtcdEngineOptions {
  endpoints: string[];
  /** Prefix of every etcd key of this store (several stores can share a cluster). */
  namespace: string;
  historyRetentionRevisions: number;
  now?: () => number;
  /** Deadline of one etcd call (default 3 s). */
  callTimeoutMs?: number;
  /** How often history is compacted (default 60 s). */
  maintenanceIntervalMs?: number;
  /** etcd's --max-txn-ops: a txn may name at most this many distinct keys (one compare each). Default 128. */
  txnKeysMax?: number;
  /** etcd's --max-request-bytes (default 1.5 MiB): bounds what one import txn carries. */
  requestBytesMax?: number;
  /** Writes in flight at once; beyond, 503 (default: no bound). */
  pendingWritesMax?: number;
  onBackgroundError?: (error: unknown) => void;
  /** Told each write Txn's round trip (as a batch of one, with no sync of its own), for /metrics. */
  observer?: WriteObserver;
}

/**
 * The etcd engine: many stateless kvs nodes on one etcd cluster (issue 6,
 * docs/SCALING.md). Revisions, create/mod revisions and versions are etcd's
 * own. Every read is a linearizable etcd read; every write is one etcd Txn
 * whose compares pin what it read (optimistic concurrency, OptimisticTxns),
 * so conditional writes, transactions and counters are exact across nodes.
 * TTLs are leases shared per expiry second (LeasePool); the change feed is
 * one etcd watch (ChangeFeed); scans are Scans; writes go through Committer;
 * history is compacted by compactHistory.
 */
export class EtcdEngine implements StorageEngine {
  readonly name = 'etcd';
  private readonly keyspace: Keyspace;
  private readonly now: () => number;
  private client: EtcdClient | null = null;
  private leases: LeasePool | null = null;
  private feed: ChangeFeed | null = null;
  private readonly listeners = new Set<(changes: RevisionChanges) => void>();
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private pendingWrites = 0;
  private closed = false;
  private fresh = false;
  private readonly committer: Committer;
  private readonly scans: Scans;
  private readonly txns: OptimisticTxns;

  constructor(private readonly options: EtcdEngineOptions) {
    this.keyspace = new Keyspace(options.namespace);
    this.now = options.now ?? Date.now;
    const client = () => this.etcd();
    this.committer = new Committer(client, this.keyspace, options.observer ?? NO_WRITE_OBSERVER);
    this.scans = new Scans(client, this.keyspace, this.now);
    this.txns = new OptimisticTxns({
      client,
      keyspace: this.keyspace,
      now: this.now,
      leases: () => this.leasePool(),
      commit: (request) => this.committer.commit(request),
      markerPut: () => this.committer.markerPut(),
      txnKeysMax: options.txnKeysMax ?? DEFAULT_ETCD_LIMITS.etcdTxnOpsMax,
    });
  }

  /**
   * One etcd Txn: its op count, and its request size less what each op adds
   * beyond what an import counts (the namespace and data prefix of its key in
   * the compare and the put, the record header, compare framing) and slack.
   */
  get txnCapacity(): TxnCapacity {
    const ops = (this.options.txnKeysMax ?? DEFAULT_ETCD_LIMITS.etcdTxnOpsMax) - 1;
    const perOp = 2 * this.keyspace.dataPrefix.length + RECORD_HEADER_BYTES_MAX + ETCD_COMPARE_FRAMING_BYTES;
    return { ops, bytes: (this.options.requestBytesMax ?? DEFAULT_ETCD_LIMITS.etcdRequestBytesMax) - ops * perOp - ETCD_TXN_SLACK_BYTES };
  }

  async open(): Promise<void> {
    if (this.client !== null) throw new Error('the engine is already open');
    const client = new EtcdClient({ endpoints: this.options.endpoints, callTimeoutMs: this.options.callTimeoutMs ?? ETCD_CALL_TIMEOUT_MS });
    this.client = client;
    this.leases = new LeasePool(client, this.now);
    let opened: TxnResponse;
    try {
      // A write of our own: its revision is one the change feed (and history reads) can end on.
      // Its compare tells whether any node had opened this store before: one node alone sees it fresh.
      const marker = putOp(this.keyspace.openMarker, Buffer.alloc(0));
      opened = await this.committer.commit({ compare: [{ result: CompareResult.equal, target: CompareTarget.create, key: this.keyspace.openMarker, create_revision: 0 }], success: [marker], failure: [marker] });
      this.fresh = opened.succeeded;
    } catch (error) {
      client.close();
      this.client = null;
      throw new Error(`etcd at ${this.options.endpoints.join(', ')} did not accept a write: ${(error as Error).message}`, { cause: error });
    }
    const feed = new ChangeFeed({
      client,
      keyspace: this.keyspace,
      after: headerRevision(opened),
      publish: (changes) => {
        for (const listener of this.listeners) listener(changes);
      },
      onError: (error) => this.options.onBackgroundError?.(error),
    });
    this.feed = feed;
    feed.start();
    this.maintenanceTimer = setInterval(() => void this.compact().catch((error) => this.options.onBackgroundError?.(error)), this.options.maintenanceIntervalMs ?? ETCD_COMPACTION_INTERVAL_MS);
    this.maintenanceTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    this.feed?.close();
    this.client?.close();
  }

  async isReady(): Promise<boolean> {
    if (this.client === null || this.closed) return false;
    try {
      // A linearizable read needs the leader and a quorum: exactly what serving needs.
      await this.etcd().read(this.etcd().methods.range, { key: this.keyspace.openMarker, count_only: true }, ETCD_READY_PROBE_TIMEOUT_MS);
      return true;
    } catch {
      return false;
    }
  }

  /** True when no kvs node had opened this namespace before this one did (opening writes a marker: a store only opened counts as written). */
  neverWritten(): boolean {
    return this.fresh;
  }

  /** The last revision the change feed (an etcd watch, behind writes) reported: see ChangeSource.changeFeedRevision. */
  changeFeedRevision(): Revision {
    return this.feed?.revision ?? 0;
  }

  async get(key: string): Promise<ReadResult> {
    const response = await this.etcd().read(this.etcd().methods.range, { key: this.keyspace.etcdKey(key) });
    return { entry: liveEntry(this.keyspace, response.kvs[0], this.now()), revision: headerRevision(response) };
  }

  range(request: RangeRequest): Promise<RangeResult> {
    return this.scans.range(request);
  }

  count(start: Buffer, end: Buffer | null): Promise<number> {
    return this.scans.count(start, end);
  }

  snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry> {
    return this.scans.snapshot(start, end);
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    return this.admitWrite(() => this.txns.run(request));
  }

  deleteRange(start: Buffer, end: Buffer | null): Promise<{ deleted: number; revision: Revision }> {
    return this.admitWrite(async () => {
      const key = this.keyspace.etcdKey(start);
      const rangeEnd = this.keyspace.etcdEnd(end);
      // Only when some key exists: a delete that matches nothing makes no revision (not even the marker's).
      const response = await this.committer.commit({
        compare: [{ result: CompareResult.greater, target: CompareTarget.create, key, range_end: rangeEnd, create_revision: 0 }],
        success: [{ request_delete_range: { key, range_end: rangeEnd } }, this.committer.markerPut()],
        failure: [],
      });
      const deleted = response.succeeded ? revisionOf(response.responses[0]?.response_delete_range?.deleted) : 0;
      return { deleted, revision: headerRevision(response) };
    });
  }

  /** `keys` counts what etcd holds: entries past their deadline too, until their lease removes them (about a second). */
  async status(): Promise<StoreStatus> {
    const response = await this.etcd().read(this.etcd().methods.txn, {
      compare: [],
      success: [
        { request_range: { key: this.keyspace.dataPrefix, range_end: this.keyspace.dataEnd, count_only: true } },
        { request_range: { key: this.keyspace.compactedKey } },
      ],
      failure: [],
    });
    const keys = revisionOf(response.responses[0]?.response_range?.count);
    const compactRevision = recordedCompactRevision(response.responses[1]?.response_range?.kvs[0]?.value);
    return { revision: headerRevision(response), compactRevision, keys };
  }

  async changesSince(after: Revision, upTo: Revision, limit: number, valueBytesMax = Number.POSITIVE_INFINITY): Promise<RevisionChanges[]> {
    if (upTo <= after) return [];
    return readHistory(this.etcd(), this.keyspace, after, upTo, limit, valueBytesMax, ETCD_HISTORY_READ_TIMEOUT_MS);
  }

  onChanges(listener: (changes: RevisionChanges) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  waitingWrites(): number {
    return this.pendingWrites;
  }

  /** Compacts etcd's history to `historyRetentionRevisions` revisions behind the last change (see compactHistory). */
  compact(): Promise<void> {
    return compactHistory({
      client: () => this.etcd(),
      keyspace: this.keyspace,
      commit: (request) => this.committer.commit(request),
      lastChangeRevision: () => this.feed?.lastChangeRevision ?? 0,
      historyRetentionRevisions: this.options.historyRetentionRevisions,
    });
  }

  private async admitWrite<T>(work: () => Promise<T>): Promise<T> {
    const bound = this.options.pendingWritesMax;
    if (bound !== undefined && this.pendingWrites >= bound) {
      throw new OverloadError(`${bound} writes are waiting for etcd, the most this node queues; retry shortly`);
    }
    this.pendingWrites++;
    try {
      return await work();
    } finally {
      this.pendingWrites--;
    }
  }

  private etcd(): EtcdClient {
    if (this.client === null || this.closed) throw new KvError('unavailable', 'the store is closed', { retryAfterSeconds: 1 });
    return this.client;
  }

  private leasePool(): LeasePool {
    if (this.leases === null) throw new Error('the engine is not open');
    return this.leases;
  }
}
