import { KvError } from '../../core/errors.js';
import {
  DEFAULT_ETCD_LIMITS,
  ETCD_CALL_TIMEOUT_MS,
  ETCD_COMPACTION_INTERVAL_MS,
  ETCD_COMPARE_FRAMING_BYTES,
  ETCD_HISTORY_READ_TIMEOUT_MS,
  ETCD_READY_PROBE_TIMEOUT_MS,
  ETCD_REPLICA_LOAD_PAGE_BYTES_MAX,
  ETCD_REPLICA_OPEN_WAIT_MS,
  ETCD_REPLICA_WAIT_MS,
  ETCD_REQUEST_FRAMING_BYTES,
  ETCD_STALE_REFRESH_MS,
  ETCD_TXN_SLACK_BYTES,
} from '../../core/limits.js';
import { OverloadError } from '../../core/overload.js';
import { NO_WRITE_OBSERVER, type WriteObserver } from '../../core/write-observer.js';
import type { Entry, Revision, RevisionChanges } from '../../core/types.js';
import type {
  FeedGap,
  FreshReader,
  ReplicaReporter,
  ReplicaStats,
  RangeRequest,
  RangeResult,
  ReadOptions,
  ReadResult,
  StorageEngine,
  StoreStatus,
  TxnCapacity,
  TxnRequest,
  TxnResult,
} from '../engine.js';
import type { LocalCopy, OpenLocalCopy } from '../local-copy.js';
import { ChangeFeed, readHistory } from './change-feed.js';
import { Committer, putOp } from './commit.js';
import { compactHistory, recordedCompactRevision } from './compaction.js';
import { CompareResult, CompareTarget, headerRevision, revisionOf, type ResponseHeader, type TxnResponse } from './etcd-api.js';
import { EtcdClient } from './etcd-client.js';
import { Keyspace } from './keyspace.js';
import { RECORD_HEADER_BYTES_MAX } from './record-layout.js';
import { LeasePool } from './leases.js';
import { OptimisticTxns, type KeysRead } from './optimistic-txn.js';
import type { StoredEntry } from './keyspace.js';
import { liveEntry, Scans } from './scans.js';
import { ReadBarrier } from './read-barrier.js';
import { Replica } from './replica.js';

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
  /**
   * Where the node keeps its replica of the namespace, and how to open it (a
   * local LMDB file, wiped at every start, docs/adr/0011-replica-reads.md:
   * DATA_DIRECTORY/etcd-replica, ReplicaStore.open, from main.ts). Null: no
   * replica, every read is an etcd read (as before issue 16).
   */
  replica: { directory: string; open: OpenLocalCopy } | null;
  /** How long a read waits for the replica to reach the revision its barrier read before reading etcd instead (default 1 s). */
  replicaWaitMs?: number;
  /** Tests: the largest Range response a replica load accepts (default ETCD_REPLICA_LOAD_PAGE_BYTES_MAX; never below one value etcd accepts). */
  replicaLoadPageBytesMax?: number;
  /** How long open() waits for the replica's first load before serving reads from etcd meanwhile (default 5 s). */
  replicaOpenWaitMs?: number;
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
export class EtcdEngine implements StorageEngine, ReplicaReporter, FreshReader {
  readonly name = 'etcd';
  private readonly keyspace: Keyspace;
  private readonly now: () => number;
  private client: EtcdClient | null = null;
  /** The replica's loads' client (channels with a smaller receive bound). */
  private loadClient: EtcdClient | null = null;
  private leases: LeasePool | null = null;
  private feed: ChangeFeed | null = null;
  private readonly listeners = new Set<(changes: RevisionChanges) => void>();
  private readonly gapListeners = new Set<(gap: FeedGap) => void>();
  private replica: Replica | null = null;
  private replicaStore: LocalCopy | null = null;
  private barrier: ReadBarrier | null = null;
  /** The last revision lost to a gap in the feed (etcd compacted it before the feed read it): history is compacted at least up to it. */
  private gapCompactRevision: Revision = 0;
  /** The etcd cluster this node talks to (its id, from the first response), to notice being pointed at another one. */
  private clusterId: string | null = null;
  /** Counts the times etcd's history was found to have gone back: a response to a call sent before the last one is not judged again. */
  private timeline = 0;
  private readonly reads = { fresh: 0, stale: 0, source: 0 };
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private pendingWrites = 0;
  private closed = false;
  private firstOpener = false;
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
      replicaRead: (keys, fresh) => this.replicaRead(keys, fresh),
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
    const client = new EtcdClient({
      endpoints: this.options.endpoints,
      callTimeoutMs: this.options.callTimeoutMs ?? ETCD_CALL_TIMEOUT_MS,
      headerCheck: () => this.headerCheck(),
    });
    this.client = client;
    this.leases = new LeasePool(client, this.now);
    let opened: TxnResponse;
    try {
      // A write of our own: its revision is one the change feed (and history reads) can end on.
      // Its compare tells whether any node had opened this store before: one node alone sees it fresh.
      const marker = putOp(this.keyspace.openMarker, Buffer.alloc(0));
      opened = await this.committer.commit({
        compare: [{ result: CompareResult.equal, target: CompareTarget.create, key: this.keyspace.openMarker, create_revision: 0 }],
        success: [marker],
        failure: [marker],
      });
      this.firstOpener = opened.succeeded;
    } catch (error) {
      client.close();
      this.client = null;
      throw new Error(`etcd at ${this.options.endpoints.join(', ')} did not accept a write: ${(error as Error).message}`, { cause: error });
    }
    if (this.options.replica !== null) {
      try {
        this.replicaStore = await this.options.replica.open(this.options.replica.directory);
      } catch (error) {
        client.close();
        this.client = null;
        throw error;
      }
      // Loads read on channels of their own, whose receive bound is what bounds a load page's memory (ETCD_REPLICA_LOAD_PAGE_BYTES_MAX);
      // one value of the largest etcd accepts must still fit.
      const valueBytesMax = (this.options.requestBytesMax ?? DEFAULT_ETCD_LIMITS.etcdRequestBytesMax) + ETCD_REQUEST_FRAMING_BYTES;
      const loadClient = new EtcdClient({
        endpoints: this.options.endpoints,
        callTimeoutMs: this.options.callTimeoutMs ?? ETCD_CALL_TIMEOUT_MS,
        messageBytesMax: Math.max(this.options.replicaLoadPageBytesMax ?? ETCD_REPLICA_LOAD_PAGE_BYTES_MAX, valueBytesMax),
        headerCheck: () => this.headerCheck(),
      });
      this.loadClient = loadClient;
      const replica = new Replica({
        store: this.replicaStore,
        keyspace: this.keyspace,
        client: () => (this.closed ? this.etcd() : loadClient),
        now: this.now,
        onError: (error) => this.options.onBackgroundError?.(error),
      });
      this.replica = replica;
      this.barrier = new ReadBarrier({
        target: replica,
        waitMs: this.options.replicaWaitMs ?? ETCD_REPLICA_WAIT_MS,
        now: this.now,
        // Linearizable: etcd's leader confirms with a quorum that it is still the leader before answering.
        quorumRevision: async () => headerRevision(await this.etcd().read(this.etcd().methods.range, { key: this.keyspace.openMarker, count_only: true })),
      });
    }
    const feed = new ChangeFeed({
      client,
      keyspace: this.keyspace,
      after: headerRevision(opened),
      publish: (changes) => {
        for (const listener of this.listeners) listener(changes);
      },
      advance: (batch) => this.replica?.advance(batch),
      onGap: (compactRevision) => this.onGap(compactRevision),
      onError: (error) => this.options.onBackgroundError?.(error),
      onHeader: (header) => this.checkHeader(header, 0, this.timeline),
    });
    this.feed = feed;
    feed.start();
    if (this.replica !== null) {
      this.replica.reload();
      await this.replicaLoaded(this.options.replicaOpenWaitMs ?? ETCD_REPLICA_OPEN_WAIT_MS);
    }
    this.maintenanceTimer = setInterval(
      () => void this.compact().catch((error) => this.options.onBackgroundError?.(error)),
      this.options.maintenanceIntervalMs ?? ETCD_COMPACTION_INTERVAL_MS,
    );
    this.maintenanceTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    this.feed?.close();
    this.replica?.close();
    this.client?.close();
    this.loadClient?.close();
    await this.replicaStore?.close();
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
    return this.firstOpener;
  }

  /** The last revision the change feed (an etcd watch, behind writes) reported: see ChangeSource.changeFeedRevision. */
  changeFeedRevision(): Revision {
    return this.feed?.revision ?? 0;
  }

  /**
   * From the replica after a barrier (linearizable), from the replica alone
   * with `stale` (saying how old it may be), or, while the replica cannot
   * answer (loading, lagging), a linearizable etcd Range.
   */
  async get(key: string, options?: ReadOptions): Promise<ReadResult> {
    const replica = this.replica;
    if (replica !== null && options?.stale === true && replica.serving) {
      const stalenessMs = this.staleness(replica);
      const read = replica.get(key);
      if (read !== null) {
        this.reads.stale++;
        return { ...read, stalenessMs };
      }
    }
    if (await this.fresh()) {
      const read = replica!.get(key);
      if (read !== null) {
        this.reads.fresh++;
        return read;
      }
    }
    this.reads.source++;
    const response = await this.etcd().read(this.etcd().methods.range, { key: this.keyspace.etcdKey(key) });
    return { entry: liveEntry(this.keyspace, response.kvs[0], this.now()), revision: headerRevision(response) };
  }

  async range(request: RangeRequest): Promise<RangeResult> {
    const replica = this.replica;
    if (replica !== null && request.stale === true && replica.serving) {
      const stalenessMs = this.staleness(replica);
      const page = replica.range(request);
      if (page !== null) {
        this.reads.stale++;
        return { ...page, stalenessMs };
      }
    }
    // A later range of a listing: the replica without a barrier of its own once it holds the walk's revision.
    if (replica !== null && request.stale !== true && request.minRevision !== undefined && replica.serving && replica.revision >= request.minRevision) {
      const page = replica.range(request);
      if (page !== null) {
        this.reads.fresh++;
        return page;
      }
    }
    if (await this.fresh()) {
      const page = replica!.range(request);
      if (page !== null) {
        this.reads.fresh++;
        return page;
      }
    }
    this.reads.source++;
    return this.scans.range(request);
  }

  async count(start: Buffer, end: Buffer | null): Promise<number> {
    if (await this.fresh()) {
      const live = this.replica!.count(start, end);
      if (live !== null) {
        this.reads.fresh++;
        return live;
      }
    }
    this.reads.source++;
    return this.scans.count(start, end);
  }

  async *snapshot(start: Buffer, end: Buffer | null): AsyncIterable<Entry> {
    const local = (await this.fresh()) ? this.replica!.snapshot(start, end) : null;
    this.reads[local === null ? 'source' : 'fresh']++;
    yield* local ?? this.scans.snapshot(start, end);
  }

  get canReadLocally(): boolean {
    return this.replica?.usable ?? false;
  }

  awaitFresh(): Promise<boolean> {
    return this.fresh();
  }

  getLocal(key: string): ReadResult | null {
    const read = this.replica?.get(key) ?? null;
    if (read !== null) this.reads.fresh++;
    return read;
  }

  replicaStats(): ReplicaStats {
    const replica = this.replica;
    return {
      serving: replica?.serving ?? false,
      revision: replica?.revision ?? 0,
      loads: replica?.loads ?? 0,
      barriers: this.barrier?.quorumReads ?? 0,
      freshReads: this.reads.fresh,
      staleReads: this.reads.stale,
      sourceReads: this.reads.source,
    };
  }

  /** A transaction's keys from the replica: after a barrier when `fresh`, as they are otherwise; null when it cannot answer. */
  private async replicaRead(keys: readonly string[], fresh: boolean): Promise<KeysRead | null> {
    const replica = this.replica;
    if (replica === null) return null;
    if (fresh ? !(await this.fresh()) : !replica.serving) return null;
    const revision = replica.revision;
    const stored = new Map<string, StoredEntry | null>();
    for (const key of keys) {
      const entry = replica.stored(key);
      if (entry === undefined) return null;
      stored.set(key, entry);
    }
    this.reads[fresh ? 'fresh' : 'stale']++;
    return { stored, revision, stale: !fresh };
  }

  /** Reads, listings, counts, exports and status that start now may be answered by the replica: true once a shared barrier has passed (ReadBarrier). */
  private async fresh(): Promise<boolean> {
    return this.barrier !== null && (await this.barrier.fresh());
  }

  /** How old a stale answer from the replica may be; a replica not confirmed lately is confirmed in the background. */
  private staleness(replica: Replica): number {
    const stalenessMs = replica.stalenessMs();
    if (stalenessMs > ETCD_STALE_REFRESH_MS) void this.fresh().catch(() => {});
    return Math.round(stalenessMs);
  }

  /** Resolves once the replica serves, or after `timeoutMs` (reads go to etcd meanwhile). */
  private async replicaLoaded(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.replica !== null && !this.replica.serving && !this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** The feed lost revisions up to `compactRevision`: watchers are told, the replica reloads. */
  private onGap(compactRevision: Revision): void {
    this.gapCompactRevision = Math.max(this.gapCompactRevision, compactRevision);
    this.replica?.reload();
    for (const listener of this.gapListeners) listener({ compactRevision });
  }

  /** For each call as it leaves (EtcdClient headerCheck): every read and write kvs makes is linearizable, so its answer's revision is at least any revision observed before it was sent. */
  private headerCheck(): (header: ResponseHeader | null | undefined) => void {
    const floor = Math.max(this.feed?.etcdRevision ?? 0, this.replica?.revision ?? 0);
    const timeline = this.timeline;
    return (header) => this.checkHeader(header, floor, timeline);
  }

  /**
   * Judges an etcd response header against what the node knew when the call
   * left (`floor`: the highest revision the feed or the replica had seen).
   * A lower revision, or another cluster id, means etcd is no longer the one
   * the replica copied: it was restored from a backup (its revision went
   * back) or the node now talks to another cluster. The replica then holds
   * writes etcd no longer has and misses the ones it will make at revisions
   * the feed thinks it has seen; see historyRewound.
   */
  private checkHeader(header: ResponseHeader | null | undefined, floor: Revision, timeline: number): void {
    if (header === null || header === undefined || this.closed || timeline !== this.timeline) return;
    const revision = revisionOf(header.revision);
    const clusterId = String(header.cluster_id);
    if (this.clusterId === null) this.clusterId = clusterId;
    if (clusterId !== this.clusterId) {
      this.historyRewound(revision, `etcd's cluster id changed from ${this.clusterId} to ${clusterId}`);
      this.clusterId = clusterId;
    } else if (revision < floor) {
      this.historyRewound(revision, `etcd answered at revision ${revision}, below revision ${floor} this node had already seen (etcd restored from a backup?)`);
    }
  }

  /**
   * etcd's history is not the one the replica and the feed followed: treated
   * as a gap (onGap) at etcd's revision now. The replica stops serving and
   * reloads (reads go to etcd meanwhile), the feed watches again from
   * `revision`, and watchers are told history_compacted, since what they saw
   * after it may never have happened for etcd now. Not detected: a restored
   * etcd that has already made more revisions than this node saw before the
   * node hears from it (then nothing in a header tells; ADR 0011).
   */
  private historyRewound(revision: Revision, reason: string): void {
    this.timeline++;
    this.options.onBackgroundError?.(new Error(`${reason}; the replica reloads and watchers are told (history_compacted)`));
    this.gapCompactRevision = revision;
    this.feed?.rewind(revision);
    this.replica?.reload();
    for (const listener of this.gapListeners) {
      try {
        listener({ compactRevision: revision });
      } catch (error) {
        this.options.onBackgroundError?.(error);
      }
    }
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
    if (await this.fresh()) {
      const local = this.replica!.status();
      this.reads[local === null ? 'source' : 'fresh']++;
      if (local !== null) return { ...local, compactRevision: Math.max(local.compactRevision, this.gapCompactRevision) };
    }
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
    return { revision: headerRevision(response), compactRevision: Math.max(compactRevision, this.gapCompactRevision), keys };
  }

  async changesSince(after: Revision, upTo: Revision, limit: number, valueBytesMax = Number.POSITIVE_INFINITY): Promise<RevisionChanges[]> {
    if (upTo <= after) return [];
    return readHistory(this.etcd(), this.keyspace, after, upTo, limit, valueBytesMax, ETCD_HISTORY_READ_TIMEOUT_MS);
  }

  onChanges(listener: (changes: RevisionChanges) => void, onGap?: (gap: FeedGap) => void): () => void {
    this.listeners.add(listener);
    if (onGap !== undefined) this.gapListeners.add(onGap);
    return () => {
      this.listeners.delete(listener);
      if (onGap !== undefined) this.gapListeners.delete(onGap);
    };
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
